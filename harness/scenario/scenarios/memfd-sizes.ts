// Blackout against preserved memory: one live update per memfd size, in one
// guest sized for the largest, so the growth with preserved bytes shows.
import { defineScenario } from '../scenario.ts';
import { param } from '../params.ts';
import { compactSize } from '../../util/size.ts';
import { bootFor, liveUpdateAndVerify, requireLiveUpdate } from './common.ts';

export const memfdSizes = defineScenario({
  name: 'memfd-sizes',
  description: 'memfds of 16 MiB, 256 MiB and 1 GiB each survive a kexec; blackout per size',
  params: { sizes: param.sizes(['16M', '256M', '1G']), seed: param.int(11, { min: 0 }) },
  async run(ctx) {
    const largest = Math.max(...ctx.params.sizes);
    // The memfd, the kernel and its KHO scratch areas, and room for both kernels during kexec.
    const memoryMiB = Math.max(1024, Math.ceil((2 * largest) / 2 ** 20) + 768);
    const vm = await bootFor(ctx, { memoryMiB });
    await requireLiveUpdate(ctx, vm);
    for (const [i, bytes] of ctx.params.sizes.entries()) {
      const size = compactSize(bytes);
      const session = await ctx.check(`${size}: create session`, () => vm.agent.createSession(`size${i}`));
      const memfd = await ctx.check(`${size}: preserve the memfd`, () => session.preserveMemfd({ size: bytes, seed: ctx.params.seed + i }), { capability: 'memfd' });
      // The label keeps each size's figures apart in the baseline: like is compared with like.
      await liveUpdateAndVerify(ctx, vm, size, [memfd], { memfdBytes: memfd.size, memfdSizeMiB: memfd.size / 2 ** 20 }, {}, undefined, size);
      await ctx.check(`${size}: finish and close the session`, async () => {
        const s = await vm.agent.session(session.name);
        await s.finish();
        await s.close();
      });
    }
  },
});
