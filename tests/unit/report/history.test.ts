import test from 'ava';
import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { appendMetrics, formatMetricsRows, metricsRows, parseMetricsJsonl, readMetrics } from '../../../harness/report/history.ts';
import { run } from './synthetic.ts';
import { scratchDir } from '../../helpers/scratch.ts';

test('one row per iteration with a blackout, carrying params and every phase', (t) => {
  const rows = metricsRows(run());
  t.is(rows.length, 18);
  const r = rows.find((x) => x.scenario === 'memfd-64m' && x.iteration === 2)!;
  t.is(r.runId, 'run-20261125-1700');
  t.is(r.kernel, 'luo-7.2');
  t.is(r.toKernel, 'luo-7.2');
  t.is(r.accelerator, 'tcg');
  t.deepEqual(r.params, { memfdSizeBytes: 67108864 });
  t.deepEqual(Object.keys(r.phases), ['shutdown', 'kexec-jump', 'kernel-init', 'userspace-init', 'restore', 'service']);
  t.is(typeof r.totalMs, 'number');
  t.is(r.time, '2026-11-25T17:03:20.500Z');
});

test('parse skips torn or foreign lines instead of failing', (t) => {
  const text = formatMetricsRows(metricsRows(run()).slice(0, 2)) + '{"runId":"x","scen' + '\n\n{"foo":1}\n';
  const { rows, skipped } = parseMetricsJsonl(text);
  t.is(rows.length, 2);
  t.is(skipped, 2);
});

test('append and read back; a missing file is an empty history', async (t) => {
  const dir = scratchDir('luo-metrics-');
  const path = join(dir, 'metrics.jsonl');
  t.deepEqual(await readMetrics(path), { rows: [], skipped: 0 });
  t.is(await appendMetrics(path, run()), 18);
  await appendFile(path, '{"torn":');
  t.is(await appendMetrics(path, run({ runId: 'second' })), 18);
  const h = await readMetrics(path);
  // Only the torn line is lost: the next append starts on a fresh line.
  t.is(h.rows.length, 36);
  t.is(h.skipped, 1);
});
