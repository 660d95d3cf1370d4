// What `run` and `kselftest` share: a run id, the RunResult envelope (host,
// accelerator, QEMU), and the blackout table printed after a run.
import { availableParallelism, hostname, release } from 'node:os';
import { execa } from 'execa';
import { detectAccelerator } from '../vm/accel.ts';
import { RESULT_SCHEMA, type RunResult, type ScenarioResult } from '../report/result.ts';
import type { KernelArtifact } from '../kernel/artifact.ts';
import { median, quantile } from '../report/stats.ts';
import { formatTable } from './table.ts';

export const newRunId = () => `${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}-${process.pid}`;

/** A kernel's manifest as results.json records it (without the per-file digests). */
export function kernelRecord(a: KernelArtifact): Record<string, unknown> {
  const { files: _files, ...manifest } = a.manifest;
  return { dir: a.dir, ...manifest };
}

export async function runResult(fields: Pick<RunResult, 'runId' | 'startedAt' | 'kernels' | 'scenarios'>): Promise<RunResult> {
  return {
    schema: RESULT_SCHEMA,
    ...fields,
    finishedAt: new Date().toISOString(),
    host: { hostname: hostname(), kernel: release(), cpus: availableParallelism() },
    accelerator: await detectAccelerator('auto').then((a) => a.accel, () => 'unknown'),
    qemuVersion: await execa('qemu-system-x86_64', ['--version']).then((r) => r.stdout.match(/version (\S+)/)?.[1] ?? 'unknown', () => 'absent'),
  };
}

/** Blackout per result: median total and phases over its live updates, p95 of the total. */
export function blackoutTable(results: readonly ScenarioResult[], label = 'scenario', note = ''): string {
  const rows: string[][] = [];
  for (const r of results) {
    const timelines = r.iterations.map((i) => i.blackout).filter((b) => b !== undefined);
    if (!timelines.length) continue;
    const med = (xs: number[]) => median(xs).toFixed(0);
    const phase = (name: string) => med(timelines.map((t) => t.phases.find((p) => p.name === name)?.ms ?? 0));
    const totals = timelines.map((t) => t.totalMs);
    const tsc = timelines.map((t) => t.guestTscMs).filter((x) => x !== undefined);
    rows.push([r.name, String(timelines.length), med(totals), quantile(totals, 0.95).toFixed(0), phase('shutdown'), phase('purgatory'), phase('kernel-boot'), phase('restore'), phase('service'), tsc.length ? med(tsc) : '-']);
  }
  if (!rows.length) return 'no live updates measured';
  return `blackout (ms, median over live updates; host clock${note})\n` + formatTable([label, 'n', 'total', 'p95', 'shutdown', 'purgatory', 'kernel-boot', 'restore', 'service', 'guest TSC'], rows);
}

/** Each capability's verdict, for the scenarios that judged more than one: "VFIO device preserved: pass, iommufd: unsupported (ENOENT)". */
export function capabilityLines(results: readonly ScenarioResult[]): string {
  const lines: string[] = [];
  for (const r of results) {
    const caps = r.capabilities ?? [];
    if (caps.length < 2) continue;
    lines.push(`${r.name}:`);
    for (const c of caps) lines.push(`  ${c.name.padEnd(12)} ${c.status.toUpperCase()}${c.reason ? `  ${c.reason.split('\n')[0]}` : ''}`);
  }
  return lines.length ? `capabilities (each judged on its own checks)\n${lines.join('\n')}` : '';
}
