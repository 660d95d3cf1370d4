// N consecutive kexecs carrying the same memfd: verified every cycle, one
// blackout per cycle.
import { defineScenario } from '../scenario.ts';
import { param } from '../params.ts';
import { bootFor, liveUpdateAndVerify, requireLiveUpdate } from './common.ts';

export const cycles = defineScenario({
  name: 'cycles',
  description: 'the same memfd carried through N consecutive kexecs (default 5), verified every cycle',
  params: { cycles: param.int(5, { min: 1, max: 100 }), size: param.size('32M'), seed: param.int(41, { min: 0 }) },
  async run(ctx) {
    const vm = await bootFor(ctx, {});
    await requireLiveUpdate(ctx, vm);
    let memfd = await ctx.check('create session and memfd', async () => (await vm.agent.createSession('cycle0')).preserveMemfd({ size: ctx.params.size, seed: ctx.params.seed, id: 'carried' }), { capability: 'memfd' });
    for (let c = 0; c < ctx.params.cycles; c++) {
      await liveUpdateAndVerify(ctx, vm, `cycle ${c + 1}`, [memfd], { memfdBytes: memfd.size });
      memfd = await ctx.check(`cycle ${c + 1}: re-preserve the restored memfd in a new session`, async () => {
        await (await vm.agent.session(`cycle${c}`)).finish();
        return (await vm.agent.createSession(`cycle${c + 1}`)).preserveAgain(memfd);
      }, { capability: 'memfd' });
    }
  },
});
