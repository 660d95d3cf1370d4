// One session, one memfd, kexec into the same kernel, every page verified.
import type { ScenarioDefinition } from '../scenario.ts';
import { bootFor, requireLiveUpdate, liveUpdateAndVerify } from './common.ts';

export const memfdBasic: ScenarioDefinition<{ size: string; seed: number }> = {
  name: 'memfd-basic',
  description: 'one session with one memfd (64 MiB) survives a kexec into the same kernel, every page verified',
  params: { size: '64M', seed: 7 },
  async run(ctx) {
    const vm = await bootFor(ctx, {});
    await requireLiveUpdate(ctx, vm);
    for (let i = 0; i < ctx.iterations; i++) {
      const session = await ctx.check(`iteration ${i}: create session`, () => vm.agent.createSession(`vm${i}`));
      const memfd = await ctx.check(`iteration ${i}: preserve a ${ctx.params.size} memfd`, () =>
        session.preserveMemfd({ size: ctx.params.size as `${number}M`, seed: ctx.params.seed + i }),
      );
      await liveUpdateAndVerify(ctx, vm, `iteration ${i}`, [memfd], { memfdBytes: memfd.size });
      await ctx.check(`iteration ${i}: finish the session`, async () => {
        await (await vm.agent.session(session.name)).finish();
        vm.agent.preserved.length = 0;
      });
    }
  },
};
