// Memory as a VMM has it: guest RAM preserved early and written on by the
// running guest until the freeze. One memfd in four quarters: pages written
// before PRESERVE_FD, a fallocated range and a hole never written before it,
// and a range fallocated for write(); after PRESERVE_FD half of each quarter
// is written again (mmap stores, as a guest does, and write()). After the
// kexec every page must hold what was last written, and a lost page is named
// with what it went through and what it held.
import { defineScenario } from '../scenario.ts';
import { param } from '../params.ts';
import { formatSize } from '../../util/size.ts';
import { AgentOpError } from '../../agent/errors.ts';
import { bootFor, liveUpdateAndVerify, requireLiveUpdate } from './common.ts';

const PAGE = 4096;
/** A hugetlb memfd's pages are 2 MiB: its ranges must be whole huge pages. */
const HUGE_PAGE = 2 * 1024 * 1024;

export const memfdLateWrites = defineScenario({
  name: 'memfd-late-writes',
  description: 'guest RAM as a VMM has it: written, fallocated and hole ranges of one memfd, written again after PRESERVE_FD (mmap stores and write()); after the kexec every page holds what was last written',
  params: {
    size: param.size('16M', { min: 8 * HUGE_PAGE }),
    seed: param.int(11, { min: 0 }),
    /** 1: the memfd is hugetlb-backed (only mmap stores: hugetlbfs has no write()). */
    hugetlb: param.int(0, { min: 0, max: 1 }),
  },
  async run(ctx) {
    const huge = ctx.params.hugetlb === 1;
    // Whole huge pages in every half quarter, so the hugetlb variant's ranges are aligned too.
    const size = ctx.params.size - (ctx.params.size % (8 * HUGE_PAGE));
    const vm = await bootFor(ctx, huge ? { cmdline: [`hugepages=${size / HUGE_PAGE + 2}`] } : {});
    await requireLiveUpdate(ctx, vm);
    const q = size / PAGE / 4;
    const half = q / 2;
    const seed = ctx.params.seed;
    const late = huge ? 'mmap' : 'write';

    const session = await ctx.check('create session', () => vm.agent.createSession('vmm'));
    const ram = await ctx.check(`make a ${formatSize(size)}${huge ? ' hugetlb' : ''} memfd as guest RAM: written, fallocated and hole quarters`, async () => {
      const m = await vm.agent.createMemfd({ id: 'guest-ram', size, seed, fill: 'hole', ...(huge ? { hugetlb: true } : {}) });
      m.layout = [{ first: 0, pages: size / PAGE, what: 'a hole never written' }];
      await vm.agent.write(m, { first: 0, pages: q, seed }, 'written before PRESERVE_FD');
      await vm.agent.fallocate(m, { first: q, pages: q }, 'fallocated before PRESERVE_FD, never written');
      await vm.agent.fallocate(m, { first: 3 * q, pages: q }, 'fallocated before PRESERVE_FD, never written');
      return m;
    });
    const preserved = await ctx.check(`preserve the ${huge ? 'hugetlb ' : ''}guest RAM memfd while it is still being written`, () => session.preserveHeld(ram), { capability: huge ? 'memfd-hugetlb' : 'memfd' });

    await ctx.check('write half of every quarter after PRESERVE_FD, as a running guest does', async () => {
      await vm.agent.write(preserved, { first: half, pages: half, seed: seed + 1, via: 'mmap' }, 'written before PRESERVE_FD, written again after it by mmap stores');
      await vm.agent.write(preserved, { first: q, pages: half, seed: seed + 2, via: 'mmap' }, 'fallocated, first written after PRESERVE_FD by mmap stores');
      await vm.agent.write(preserved, { first: 2 * q, pages: half, seed: seed + 3, via: late }, `a hole, first written after PRESERVE_FD by ${late === 'mmap' ? 'mmap stores' : 'write()'}`);
      await vm.agent.write(preserved, { first: 3 * q, pages: half, seed: seed + 4, via: late }, `fallocated, first written after PRESERVE_FD by ${late === 'mmap' ? 'mmap stores' : 'write()'}`);
    }, { capability: huge ? 'memfd-hugetlb' : 'memfd' });

    // A preserved memfd's allocation is frozen until the kexec (shmem_freeze): a punched hole or a fallocate
    // there would change what the next kernel gets behind the handler's back. Each is a check of its own that
    // does not stop the scenario: the verification after the kexec shows what such a change did (the page
    // tried holds data written before and after PRESERVE_FD, so a hole punched there shows).
    for (const punch of [false, true]) {
      const call = punch ? 'fallocate(FALLOC_FL_PUNCH_HOLE)' : 'fallocate(0)';
      const what = punch ? 'punched after PRESERVE_FD (the kernel let it through)' : 'fallocated after PRESERVE_FD (the kernel let it through)';
      const outcome = await vm.agent.fallocate(preserved, { first: half, pages: huge ? HUGE_PAGE / PAGE : 1, punch }, what).then(
        () => 'it succeeded',
        (e: unknown) => {
          const op = e instanceof Error && e.cause instanceof AgentOpError ? e.cause : undefined;
          if (!op) throw e;
          return op.op === 'fallocate' && op.errnoName === 'EPERM' ? undefined : `it failed with ${op.op}: ${op.errnoName}`;
        },
      );
      ctx.record({
        name: `${call} on the preserved memfd is refused with EPERM`,
        status: outcome === undefined ? 'pass' : 'fail',
        capability: huge ? 'memfd-hugetlb' : 'memfd',
        ...(outcome ? { message: `${call} on page ${half} of the preserved memfd 'guest-ram' should fail with EPERM, but ${outcome}: the kernel let its allocation change after PRESERVE_FD` } : {}),
      });
    }

    await liveUpdateAndVerify(ctx, vm, 'live update', [preserved], { memfdBytes: size });
    await ctx.check('finish the session', async () => {
      await (await vm.agent.session(session.name)).finish();
    });
  },
});
