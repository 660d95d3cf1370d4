// One session, one memfd, kexec into the same kernel, every page verified.
import { defineScenario, type ScenarioContext } from '../scenario.ts';
import { param } from '../params.ts';
import { formatSize } from '../../util/size.ts';
import type { LiveVm } from '../../liveupdate/live-vm.ts';
import { bootFor, expect, requireLiveUpdate, liveUpdateAndVerify } from './common.ts';

/** Token of the heartbeat memfd (the agent's default). */
const HEARTBEAT_TOKEN = 0x4842;

/** The heartbeat resumed in the new kernel; its gap across this kexec, by the guest TSC, in ms. */
async function workloadGap(ctx: ScenarioContext<any>, vm: LiveVm, generation: number): Promise<Record<string, number>> {
  return ctx.check(`the heartbeat resumed after kexec ${generation} and measured its gap`, async () => {
    const [{ heartbeat }, { tsc_khz }] = [await vm.agent.call('heartbeat-report', {}), await vm.agent.status()];
    expect(heartbeat.generation === generation && heartbeat.running, `the heartbeat did not resume (generation ${heartbeat.generation}, expected ${generation}; running ${heartbeat.running})`);
    expect(heartbeat.restore_gap_tsc !== null && !!tsc_khz, 'the heartbeat has no TSC gap across the kexec');
    return { workloadGapMs: Math.round((100 * Number(heartbeat.restore_gap_tsc)) / tsc_khz!) / 100 };
  });
}

export const memfdBasic = defineScenario({
  name: 'memfd-basic',
  description: 'one session with one memfd (64 MiB) survives a kexec into the same kernel, every page verified',
  params: { size: param.size('64M'), seed: param.int(7, { min: 0 }) },
  iterates: true,
  async run(ctx) {
    const vm = await bootFor(ctx, {});
    await requireLiveUpdate(ctx, vm);
    for (let i = 0; i < ctx.iterations; i++) {
      const session = await ctx.check(`iteration ${i}: create session`, () => vm.agent.createSession(`vm${i}`));
      const memfd = await ctx.check(`iteration ${i}: preserve a ${formatSize(ctx.params.size)} memfd`, () =>
        session.preserveMemfd({ size: ctx.params.size, seed: ctx.params.seed + i }),
      { capability: 'memfd' });
      // A heartbeat workload rides along every live update: the gap it sees is the blackout as a program perceives it.
      if (i === 0) await ctx.check('start a heartbeat workload (10 ms period) preserved in the session', () => vm.agent.call('heartbeat-start', { session: session.name, 'interval-us': 10_000, token: HEARTBEAT_TOKEN }));
      else await ctx.check(`iteration ${i}: carry the heartbeat in the new session`, () => vm.agent.call('memfd-preserve', { session: session.name, id: 'heartbeat', token: HEARTBEAT_TOKEN }));
      await liveUpdateAndVerify(ctx, vm, `iteration ${i}`, [memfd], { memfdBytes: memfd.size }, {}, () => workloadGap(ctx, vm, i + 1));
      await ctx.check(`iteration ${i}: finish the session`, async () => {
        await (await vm.agent.session(session.name)).finish();
      });
    }
  },
});
