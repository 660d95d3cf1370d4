// N consecutive kexecs carrying the same memfd: verified every cycle, one
// blackout per cycle.
import type { ScenarioDefinition } from '../scenario.ts';
import { bootFor, liveUpdateAndVerify, requireLiveUpdate } from './common.ts';

export const cycles: ScenarioDefinition<{ cycles: number; size: string; seed: number }> = {
  name: 'cycles',
  description: 'the same memfd carried through N consecutive kexecs (default 5), verified every cycle',
  params: { cycles: 5, size: '32M', seed: 41 },
  async run(ctx) {
    const vm = await bootFor(ctx, {});
    await requireLiveUpdate(ctx, vm);
    const first = await ctx.check('create session and memfd', async () => (await vm.agent.createSession('cycle0')).preserveMemfd({ size: ctx.params.size as `${number}M`, seed: ctx.params.seed, id: 'carried' }));
    let memfd = first;
    for (let c = 0; c < ctx.params.cycles; c++) {
      await liveUpdateAndVerify(ctx, vm, `cycle ${c + 1}`, [memfd], { memfdBytes: memfd.size });
      await ctx.check(`cycle ${c + 1}: re-preserve the restored memfd in a new session`, async () => {
        await (await vm.agent.session(`cycle${c}`)).finish();
        const next = await vm.agent.createSession(`cycle${c + 1}`);
        await vm.agent.call('memfd-preserve', { session: next.name, id: memfd.id, token: memfd.token });
        memfd = { ...memfd, session: next.name };
        vm.agent.preserved.splice(0, vm.agent.preserved.length, memfd);
      });
    }
  },
};
