// metrics.jsonl: the blackout history across runs, one row per live update,
// appended after each run. JSON Lines so an interrupted append loses at most
// one row and readers can skip it.
import { appendFile, open, readFile } from 'node:fs/promises';
import type { BlackoutPhaseName, RunResult } from './result.ts';

export interface MetricsRow {
  time: string;
  runId: string;
  kernel?: string;
  toKernel?: string;
  scenario: string;
  iteration: number;
  status: string;
  accelerator: string;
  /** Scenario parameters such as memfd sizes. */
  params?: Record<string, unknown>;
  totalMs: number;
  phases: Partial<Record<BlackoutPhaseName, number>>;
  guestTscMs?: number;
  /** The downtime a VM running across the live update saw (its last serial byte before the stop -> its first after the resume). */
  vmDowntimeMs?: number;
}

/** One row per iteration that measured a blackout. */
export function metricsRows(result: RunResult): MetricsRow[] {
  const rows: MetricsRow[] = [];
  for (const s of result.scenarios) {
    for (const it of s.iterations) {
      if (!it.blackout) continue;
      const phases: MetricsRow['phases'] = {};
      for (const p of it.blackout.phases) phases[p.name] = p.ms;
      rows.push({
        time: result.finishedAt,
        runId: result.runId,
        ...(s.kernel !== undefined ? { kernel: s.kernel } : {}),
        ...(s.to !== undefined ? { toKernel: s.to } : {}),
        scenario: s.name,
        iteration: it.index,
        status: it.status,
        accelerator: result.accelerator,
        ...(s.params !== undefined ? { params: s.params } : {}),
        totalMs: it.blackout.totalMs,
        phases,
        ...(it.blackout.guestTscMs !== undefined ? { guestTscMs: it.blackout.guestTscMs } : {}),
        ...(it.metrics?.vmDowntimeMs !== undefined ? { vmDowntimeMs: it.metrics.vmDowntimeMs } : {}),
      });
    }
  }
  return rows;
}

export const formatMetricsRows = (rows: readonly MetricsRow[]) => rows.map((r) => JSON.stringify(r) + '\n').join('');

/** Parse the history; a line that is not a valid row (a torn append) is counted and skipped, never fatal. */
export function parseMetricsJsonl(text: string): { rows: MetricsRow[]; skipped: number } {
  const rows: MetricsRow[] = [];
  let skipped = 0;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as MetricsRow;
      if (typeof r.runId === 'string' && typeof r.scenario === 'string' && Number.isFinite(r.totalMs)) rows.push(r);
      else skipped++;
    } catch {
      skipped++;
    }
  }
  return { rows, skipped };
}

export async function appendMetrics(path: string, result: RunResult): Promise<number> {
  const rows = metricsRows(result);
  if (rows.length) await appendFile(path, ((await endsTorn(path)) ? '\n' : '') + formatMetricsRows(rows));
  return rows.length;
}

/** True when an earlier append was cut short mid-line: start on a fresh line so only the torn row is lost. */
async function endsTorn(path: string): Promise<boolean> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
  try {
    const { size } = await fh.stat();
    if (size === 0) return false;
    const buf = Buffer.alloc(1);
    await fh.read(buf, 0, 1, size - 1);
    return buf[0] !== 0x0a;
  } finally {
    await fh.close();
  }
}

/** The history, or an empty one when the file does not exist yet. */
export async function readMetrics(path: string): Promise<{ rows: MetricsRow[]; skipped: number }> {
  try {
    return parseMetricsJsonl(await readFile(path, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { rows: [], skipped: 0 };
    throw e;
  }
}
