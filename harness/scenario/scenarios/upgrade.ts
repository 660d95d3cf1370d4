// The A -> B path: kexec from one kernel into another (the recipe's
// upgradeTo, a suite's `to`, or --to) with a memfd carried across and
// verified.
import { defineScenario } from '../scenario.ts';
import { param } from '../params.ts';
import { formatSize } from '../../util/size.ts';
import { TestFailure } from '../../errors.ts';
import { bootFor, expect, liveUpdateAndVerify, requireLiveUpdate } from './common.ts';

export const upgrade = defineScenario({
  name: 'upgrade',
  description: 'a memfd survives a kexec from one kernel into another (luo-7.2 -> luo-7.3)',
  params: { size: param.size('64M'), seed: param.int(23, { min: 0 }) },
  needsTarget: true,
  async run(ctx) {
    const target = ctx.to;
    if (!target) throw new TestFailure('upgrade was planned without a kernel to live-update into');
    const vm = await bootFor(ctx, {});
    await requireLiveUpdate(ctx, vm);
    const session = await ctx.check('create session', () => vm.agent.createSession('upgrade'));
    const memfd = await ctx.check(`preserve a ${formatSize(ctx.params.size)} memfd`, () => session.preserveMemfd({ size: ctx.params.size, seed: ctx.params.seed }), { capability: 'memfd' });
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
});
