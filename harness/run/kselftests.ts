// Running the kernel's selftests for each pair of kernels (stage 1 on the
// first, stage 2 on the second), into one results directory.
import { ConfigError, type HarnessError } from '../errors.ts';
import type { KernelArtifact } from '../kernel/artifact.ts';
import { runKselftests } from '../kselftest/run.ts';
import { classify, type ScenarioResult } from '../report/result.ts';
import { createProgress } from '../util/progress.ts';
import { labelDowngrade, pairSuffix, type KernelPair } from './matrix.ts';

export interface PairOptions {
  out: string;
  /** A matrix: result names carry their pair, and the tests without stages run once per kernel. */
  matrix?: boolean;
  tests?: readonly string[];
  batch?: boolean;
  strictConfig?: boolean;
}

export async function runKselftestPairs(pairs: readonly KernelPair[], kernels: ReadonlyMap<string, KernelArtifact | HarnessError>, options: PairOptions): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = [];
  for (const pair of pairs) {
    const suffix = options.matrix ? pairSuffix(pair) : '';
    const progress = createProgress(`kselftest${suffix}`);
    progress.phase(pair.from === pair.to ? `on ${pair.from}` : `stage 1 on ${pair.from}, stage 2 on ${pair.to}`);
    const started = performance.now();
    let pairResults: ScenarioResult[];
    try {
      const [from, to] = [pair.from, pair.to].map((ref) => {
        const k = kernels.get(ref)!;
        if (k instanceof Error) throw k;
        return k;
      }) as [KernelArtifact, KernelArtifact];
      pairResults = await runKselftests({
        kernel: from,
        ...(pair.to !== pair.from ? { to } : {}),
        ...(options.tests ? { tests: options.tests } : {}),
        ...(options.batch === false ? { batch: false } : {}),
        ...(options.strictConfig ? { strictConfig: true } : {}),
        direct: pair.from === pair.to,
        resultsDir: options.out,
        nameSuffix: suffix,
        log: (m) => progress.update(m),
      });
      pairResults = pairResults.map((r) => labelDowngrade(r, from.manifest.release, to.manifest.release));
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      // A pair that could not run at all (its kernel did not build, the host failed) still gets a result.
      const { status, reason } = classify(error);
      pairResults = [{ name: `kselftest${suffix}`, status, reason, durationMs: Math.round(performance.now() - started), checks: [], iterations: [], artifacts: [], kernel: pair.from, ...(pair.to !== pair.from ? { to: pair.to } : {}) }];
    }
    const passed = pairResults.filter((r) => r.status === 'pass').length;
    progress.done(`${passed}/${pairResults.length} passed (${((performance.now() - started) / 1000).toFixed(1)} s)`);
    results.push(...pairResults);
  }
  return results;
}
