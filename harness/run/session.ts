// What `run`, `kselftest` (and `fuzz`, `bisect`) share: a run id and results
// directory, the sweep of machines a killed run left behind, the RunResult
// envelope, the files every run writes, and the verdict with its exit code.
import { copyFile, mkdir } from 'node:fs/promises';
import { availableParallelism, hostname, release } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { cacheLayout } from '../paths.ts';
import type { KernelArtifact } from '../kernel/artifact.ts';
import { detectAccelerator } from '../vm/accel.ts';
import { sweepStaleMachines } from '../vm/sweep.ts';
import { writeReportFiles } from '../report/output.ts';
import { buildCoverageReport } from '../coverage/report.ts';
import { overallVerdict, RESULT_SCHEMA, type GateRecord, type OverallVerdict, type RunResult, type ScenarioResult, type TargetInfo } from '../report/result.ts';

export const newRunId = () => `${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}-${process.pid}`;

/** A kernel's manifest as results.json records it (without the per-file digests). */
export function kernelRecord(a: KernelArtifact): Record<string, unknown> {
  const { files: _files, ...manifest } = a.manifest;
  return { dir: a.dir, ...manifest };
}

export interface RunSession {
  runId: string;
  /** The results directory. */
  out: string;
  startedAt: string;
  say: (message: string) => void;
}

/** A new run: its id, its results directory (created), and no stale machine left from a killed one. */
export async function openRunSession(outFlag: string | undefined): Promise<RunSession> {
  const runId = newRunId();
  const out = resolve(outFlag ?? join('results', runId));
  await mkdir(out, { recursive: true });
  await sweepStaleMachines(cacheLayout().runs);
  return { runId, out, startedAt: new Date().toISOString(), say: (m) => process.stderr.write(m + '\n') };
}

export interface FinishedRun {
  result: RunResult;
  verdict: OverallVerdict;
}

/** The run's result: written as every report file (and a JUnit copy), appended to the history, judged. */
export async function finishRunSession(
  session: RunSession,
  scenarios: ScenarioResult[],
  kernels: Iterable<KernelArtifact>,
  options: { junit?: string; gate?: (result: RunResult) => GateRecord; target?: TargetInfo } = {},
): Promise<FinishedRun> {
  const record: RunResult['kernels'] = {};
  const kernelList = [...kernels];
  for (const k of kernelList) record[k.manifest.recipe] ??= kernelRecord(k);
  const result: RunResult = {
    schema: RESULT_SCHEMA,
    runId: session.runId,
    startedAt: session.startedAt,
    kernels: record,
    scenarios,
    finishedAt: new Date().toISOString(),
    host: { hostname: hostname(), kernel: release(), cpus: availableParallelism() },
    // A remote target: what it says it runs on (its CPU flags, the kernel's hypervisor line, DMI), never assumed.
    accelerator: options.target ? (options.target.platform ?? 'unknown') : await detectAccelerator('auto').then((a) => a.accel, () => 'unknown'),
    ...(options.target ? { target: options.target } : {}),
    qemuVersion: await execa('qemu-system-x86_64', ['--version']).then((r) => r.stdout.match(/version (\S+)/)?.[1] ?? 'unknown', () => 'absent'),
  };
  // A coverage kernel's counters, every boot's, made into one tracefile and HTML report per kernel.
  const coverage = [...kernelList].some((k) => k.manifest.coverage) ? await buildCoverageReport(session.out, session.say) : undefined;
  if (coverage) result.coverage = coverage;
  if (options.gate) result.gate = options.gate(result);
  // Instrumented kernels run slower: their timings never enter the downtime history.
  const files = await writeReportFiles(session.out, result, coverage ? {} : { metricsFile: cacheLayout().metrics });
  if (options.junit) await copyFile(files.junit, options.junit);
  return { result, verdict: overallVerdict(result) };
}
