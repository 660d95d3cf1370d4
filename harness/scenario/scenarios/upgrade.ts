// The A -> B path: kexec from one kernel into another (7.2 -> 7.3 by
// default) with a memfd carried across and verified.
import type { ScenarioDefinition } from '../scenario.ts';
import { bootFor, expect, liveUpdateAndVerify, requireLiveUpdate } from './common.ts';
import { resolveKernel } from '../../liveupdate/live-vm.ts';

export const upgrade: ScenarioDefinition<{ size: string; seed: number }> = {
  name: 'upgrade',
  description: 'a memfd survives a kexec from one kernel into another (luo-7.2 -> luo-7.3)',
  params: { size: '64M', seed: 23 },
  async run(ctx) {
    const target = await resolveKernel(ctx.to ?? 'luo-7.3');
    const vm = await bootFor(ctx, {});
    await requireLiveUpdate(ctx, vm);
    const session = await ctx.check('create session', () => vm.agent.createSession('upgrade'));
    const memfd = await ctx.check(`preserve a ${ctx.params.size} memfd`, () => session.preserveMemfd({ size: ctx.params.size as `${number}M`, seed: ctx.params.seed }));
    const from = vm.kernel.manifest.release;
    await liveUpdateAndVerify(ctx, vm, `${from} -> ${target.manifest.release}`, [memfd], { memfdBytes: memfd.size }, { to: target });
    await ctx.check(`the guest runs ${target.manifest.release} now`, async () => {
      const release = (await vm.exec('uname -r')).stdout.trim();
      expect(release === target.manifest.release, `uname -r says ${release}, expected ${target.manifest.release}`);
    });
    await ctx.check('the session finishes on the new kernel', async () => {
      await (await vm.agent.session('upgrade')).finish();
    });
  },
};
