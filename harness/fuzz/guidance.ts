// Coverage as the fuzzer's guide. A coverage kernel counts how often each
// arc between basic blocks ran (gcov's arc counters: the edges of the
// control-flow graph); the edges a campaign has seen taken are its
// coverage, and a program that takes one nobody took before goes into the
// corpus, whose programs are carried on differently (generator.ts,
// mutateProgram). Read after every program: the counters of each kernel
// that kexec'd during it (captured at machine_kexec, coverage/capture.ts)
// and the running kernel's from debugfs.
import { coverageKernel, readCapturedUnits, readLiveUnits } from '../coverage/capture.ts';
import type { GcovUnit } from '../coverage/gcov-data.ts';
import type { LiveVm } from '../liveupdate/live-vm.ts';

/** GCC's arc counters are counter kind 0. */
const ARCS = 0;

/** The edges a unit's counters say were taken: "file:function ident:arc". */
export function edgesOf(source: string, unit: GcovUnit): string[] {
  const out: string[] = [];
  for (const fn of unit.functions) {
    const arcs = fn.counters.find((c) => c.kind === ARCS);
    arcs?.values.forEach((v, i) => v > 0n && out.push(`${source}:${fn.ident}:${i}`));
  }
  return out;
}

/** The edges a campaign has seen taken; `add` says how many of these are new. */
export class EdgeSet {
  readonly #seen = new Set<string>();

  add(edges: Iterable<string>): number {
    let fresh = 0;
    for (const e of edges) {
      if (this.#seen.has(e)) continue;
      this.#seen.add(e);
      fresh++;
    }
    return fresh;
  }

  get size(): number {
    return this.#seen.size;
  }
}

export class CoverageGuide {
  readonly edges = new EdgeSet();

  /**
   * The edges of the boots a program ran through (`fromBoot` up to the one
   * running now) added to the campaign's; returns how many were new. A boot
   * whose counters could not be read adds nothing (its capture says why).
   */
  async afterProgram(vm: LiveVm, fromBoot: number): Promise<number> {
    if (!vm.coverage) return 0;
    let fresh = 0;
    for (let boot = fromBoot; boot < vm.bootIndex; boot++) {
      for (const { source, unit } of await readCapturedUnits(vm.coverage.dir, boot)) fresh += this.edges.add(edgesOf(source, unit));
    }
    const { index } = await coverageKernel(vm.kernel.dir);
    const live = await readLiveUnits(vm.stdout, index).catch(() => []);
    for (const { source, unit } of live) fresh += this.edges.add(edgesOf(source, unit));
    return fresh;
  }
}
