// Running a plan's scenarios, one after the other, each on its resolved
// kernels, into one results directory; progress on stderr as it goes.
import { join } from 'node:path';
import type { KernelArtifact } from '../kernel/artifact.ts';
import type { HarnessError } from '../errors.ts';
import { classify, type ScenarioResult } from '../report/result.ts';
import { runScenario } from '../scenario/scenario.ts';
import { createProgress } from '../util/progress.ts';
import { labelDowngrade } from './matrix.ts';
import type { PlannedScenario } from './plan.ts';
import type { TargetLauncher } from '../target/target.ts';

export interface RunPlannedOptions {
  /** The results directory. */
  out: string;
  /** --iterations: live updates per iterating scenario. */
  iterations?: number;
  /** At least this many (the gate's evidence), unless `iterations` says otherwise. */
  minIterations?: number;
  cmdline?: string[];
  /** Where the machines come from (default: QEMU; `run --target`: a remote host). */
  target?: TargetLauncher;
}

/** Each planned scenario's result; one whose kernel did not build did not run, and says why. */
export async function runPlanned(planned: readonly PlannedScenario[], kernels: ReadonlyMap<string, KernelArtifact | HarnessError>, options: RunPlannedOptions): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = [];
  for (const p of planned) {
    const { entry, definition, suffix } = p;
    const name = entry.name + suffix;
    const progress = createProgress(name);
    progress.phase(`running on ${p.kernel}${p.to ? ` -> ${p.to}` : ''}`);
    const kernel = kernels.get(p.kernel)!;
    const to = p.to ? kernels.get(p.to)! : undefined;
    let result: ScenarioResult;
    const unbuilt = [kernel, to].find((k) => k instanceof Error);
    if (unbuilt) {
      result = { name, ...classify(unbuilt), durationMs: 0, checks: [], iterations: [], artifacts: [], kernel: p.kernel, ...(p.to ? { to: p.to } : {}) };
    } else {
      const [k, t] = [kernel as KernelArtifact, to as KernelArtifact | undefined];
      const iterations = options.iterations ?? (options.minIterations && definition.iterates ? Math.max(entry.iterations ?? 1, options.minIterations) : (entry.iterations ?? 1));
      result = await runScenario(definition, {
        kernel: k,
        ...(t ? { to: t } : {}),
        iterations,
        ...(entry.params ? { params: entry.params } : {}),
        ...(options.cmdline?.length ? { cmdline: options.cmdline } : {}),
        ...(options.target ? { target: options.target } : {}),
        dir: join(options.out, name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/_+$/, '')),
        resultsDir: options.out,
        log: (m) => progress.update(m),
      });
      result = { ...result, name };
      if (t) result = labelDowngrade(result, k.manifest.release, t.manifest.release);
    }
    progress.done(`${result.status}${result.reason ? `: ${result.reason.split('\n')[0]}` : ''} (${(result.durationMs / 1000).toFixed(1)} s)`);
    results.push(result);
  }
  return results;
}
