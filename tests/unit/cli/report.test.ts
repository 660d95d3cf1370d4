import test from 'ava';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { reportCommand } from '../../../harness/cli/report.ts';
import { main } from '../../../harness/cli/main.ts';
import { ConfigError } from '../../../harness/errors.ts';
import { formatMetricsRows, metricsRows } from '../../../harness/report/history.ts';
import { readResultsFile } from '../../../harness/report/json.ts';
import { historyRuns, run, scenario } from '../report/synthetic.ts';
import { capture, scratch, writeResultsDir } from './results-dirs.ts';

// The default history lives in the cache: point it at an empty one so the host's own history never leaks in.
const cache = await scratch('cache');
process.env.LUO_HARNESS_CACHE = cache;

const h2 = (html: string) => [...html.matchAll(/<h2>([^<]+)<\/h2>/g)].map((m) => m[1]);

test('one results directory: report.html lands in it, with the history kept next to the run', async (t) => {
  const dir = await writeResultsDir(join(await scratch('one'), 'results'), run());
  await writeFile(join(dir, 'metrics.jsonl'), formatMetricsRows([...historyRuns(4), run()].flatMap(metricsRows)));
  await writeFile(join(dir, 'report.html'), 'stale');
  const io = capture();
  t.is(await reportCommand([dir], io.out), 0);
  t.deepEqual(io.lines, [join(dir, 'report.html')]);
  const html = await readFile(join(dir, 'report.html'), 'utf8');
  t.true(html.startsWith('<!DOCTYPE html>'));
  t.deepEqual(h2(html), ['Summary', 'Blackout phases', 'Blackout vs preserved size', 'History', 'Scenarios']);
  t.regex(html, /<polyline /, 'the history chart has lines');
  t.regex(html, /<a href="consoles\/memfd-basic\/boot-1.log">/);
  // Readable parameters, and a failed iteration's bar says so.
  t.regex(html, /<code>memfdSizeBytes=67108864 \(64 MiB\)<\/code>/);
  t.regex(html, />4009 ms \(fail\)<\/text>/);
});

test('one results directory without any history: no history section, not an error', async (t) => {
  const dir = await writeResultsDir(await scratch('nohist'), run());
  t.is(await reportCommand([dir], capture().out), 0);
  t.notRegex(await readFile(join(dir, 'report.html'), 'utf8'), /<h2>History<\/h2>/);
});

test('--history picks the file; a missing one is bad input naming it', async (t) => {
  const root = await scratch('hist');
  const dir = await writeResultsDir(join(root, 'r'), run());
  const hist = join(root, 'metrics.jsonl');
  await writeFile(hist, formatMetricsRows(historyRuns(3).flatMap(metricsRows)) + '{"torn": \n');
  t.is(await reportCommand([dir, '--history', hist], capture().out), 0);
  t.regex(await readFile(join(dir, 'report.html'), 'utf8'), /<h2>History<\/h2>/);
  const missing = join(root, 'nope.jsonl');
  await t.throwsAsync(reportCommand([dir, '--history', missing], capture().out), { instanceOf: ConfigError, message: new RegExp(`History file ${missing} does not exist`) });
});

test('--out elsewhere rebases the console log links; --markdown writes the summary', async (t) => {
  const root = await scratch('out');
  const dir = await writeResultsDir(join(root, 'results'), run());
  const out = join(root, 'pages', 'run.html');
  const md = join(root, 'summary.md');
  t.is(await reportCommand([dir, '--out', out, '--markdown', md], capture().out), 0);
  const html = await readFile(out, 'utf8');
  t.regex(html, /<a href="\.\.\/results\/consoles\/memfd-basic\/boot-1.log">/);
  t.true(existsSync(join(root, 'results', 'consoles', 'memfd-basic', 'boot-1.log')));
  const summary = await readFile(md, 'utf8');
  t.regex(summary, /^❌ \*\*1 of 5 scenario\(s\) failed: memfd-1g\*\*/);
  t.notRegex(summary, /Baseline comparison/);
});

test('two results directories: side-by-side comparison, the first is the baseline', async (t) => {
  const root = await scratch('two');
  const prev = await writeResultsDir(join(root, 'prev'), run({ runId: 'run-prev' }));
  const cur = await writeResultsDir(join(root, 'cur'), run({ runId: 'run-cur' }, 1.3));
  const md = join(root, 'summary.md');
  t.is(await reportCommand([prev, cur, '--markdown', md], capture().out), 0, 'rendering is not gating');
  const html = await readFile(join(cur, 'report.html'), 'utf8');
  t.deepEqual(h2(html), ['Summary', 'Blackout phases', 'Blackout vs preserved size', 'Comparison with the previous run', 'Baseline gate', 'Scenarios']);
  t.regex(html, /Previous run <code>run-prev<\/code>.* vs this run <code>run-cur<\/code>/);
  t.regex(html, /memfd-basic<\/td>.*?<td class="num delta-up">\+30\.0%<\/td>/);
  t.regex(html, /<tr title="REGRESSION memfd-basic\/blackout\.totalMs: [^"]*"><td><code>memfd-basic\/blackout\.totalMs<\/code><\/td><td class="regression">REGRESSION <span class="reason">gated<\/span><\/td>/);
  // The previous run's own page is left alone.
  t.notRegex(await readFile(join(prev, 'report.html'), 'utf8'), /Comparison with the previous run/);
  t.regex(await readFile(md, 'utf8'), /\*\*Baseline gate:\*\* GATE: \d+ regression\(s\)/);
});

test('missing or invalid results.json is bad input that names the file', async (t) => {
  const root = await scratch('bad');
  await t.throwsAsync(reportCommand([join(root, 'absent')], capture().out), { instanceOf: ConfigError, message: /Results directory .*absent does not exist/ });
  await t.throwsAsync(reportCommand([root], capture().out), { instanceOf: ConfigError, message: new RegExp(`No results\\.json in .*\\(looked for ${join(root, 'results.json')}\\)`) });
  await writeFile(join(root, 'results.json'), '{"schema": 1, "runId": ');
  await t.throwsAsync(reportCommand([root], capture().out), { instanceOf: ConfigError, message: new RegExp(`${join(root, 'results.json')} is not valid JSON`) });
  await writeFile(join(root, 'results.json'), '{"schema": 7}');
  await t.throwsAsync(reportCommand([root], capture().out), { instanceOf: ConfigError, message: new RegExp(`${join(root, 'results.json')} is not a results file of schema 1`) });
  await t.throwsAsync(reportCommand([root, root, root], capture().out), { instanceOf: ConfigError, message: /one results directory, or two/ });
  await t.throwsAsync(reportCommand([], capture().out), { instanceOf: ConfigError });
  // Through the dispatcher the same mistake is exit code 2.
  t.is(await main(['report', join(root, 'absent')]), 2);
});

test('a results.json path works in place of its directory', async (t) => {
  const dir = await writeResultsDir(await scratch('file'), run());
  t.is(await reportCommand([join(dir, 'results.json')], capture().out), 0);
  t.true(existsSync(join(dir, 'report.html')));
});

test('merge: two shards give their union, logs copied, exit code of the merged verdict', async (t) => {
  const root = await scratch('merge');
  const full = run();
  const a = await writeResultsDir(join(root, 'shard-1'), { ...full, scenarios: full.scenarios.slice(0, 2), finishedAt: '2026-11-25T17:02:00.000Z' });
  const b = await writeResultsDir(join(root, 'shard-2'), { ...full, scenarios: full.scenarios.slice(2), startedAt: '2026-11-25T16:58:00.000Z' });
  const out = join(root, 'merged');
  const io = capture();
  t.is(await reportCommand(['merge', a, b, '--out', out], io.out), 1, 'memfd-1g failed in shard 2');
  t.regex(io.lines.at(-1)!, /1 of 5 scenario\(s\) failed: memfd-1g/);
  const merged = await readResultsFile(join(out, 'results.json'));
  t.deepEqual(merged.scenarios.map((s) => s.name), full.scenarios.map((s) => s.name).sort());
  t.is(merged.startedAt, '2026-11-25T16:58:00.000Z');
  t.is(merged.finishedAt, full.finishedAt);
  for (const f of ['junit.xml', 'report.html', 'summary.md']) t.true(existsSync(join(out, f)), f);
  const junit = await readFile(join(out, 'junit.xml'), 'utf8');
  for (const s of full.scenarios) t.regex(junit, new RegExp(`name="${s.name}"`));
  t.is(await readFile(join(out, 'consoles', 'memfd-1g', 'boot-1.log'), 'utf8'), 'console of memfd-1g boot-1\n');
  t.is(await readFile(join(out, 'consoles', 'memfd-basic', 'boot-2.log'), 'utf8'), 'console of memfd-basic boot-2\n');
});

test('merge: all-pass shards exit 0; overlapping shards and missing --out are bad input', async (t) => {
  const root = await scratch('merge2');
  const pass = (name: string) => run({ scenarios: [scenario(name, 'pass', [1900, 1910, 1920])] });
  const a = await writeResultsDir(join(root, 'a'), pass('one'));
  const b = await writeResultsDir(join(root, 'b'), pass('two'));
  t.is(await reportCommand(['merge', a, b, '--out', join(root, 'm')], capture().out), 0);
  t.is((await readResultsFile(join(root, 'm', 'results.json'))).scenarios.length, 2);
  await t.throwsAsync(reportCommand(['merge', a, a, '--out', join(root, 'm2')], capture().out), { instanceOf: ConfigError, message: /appears in two shard results/ });
  await t.throwsAsync(reportCommand(['merge', a, b], capture().out), { instanceOf: ConfigError, message: /needs --out DIR/ });
  await t.throwsAsync(reportCommand(['merge', a, join(root, 'c'), '--out', join(root, 'm3')], capture().out), { instanceOf: ConfigError, message: /c does not exist/ });
  await t.throwsAsync(reportCommand(['merge', a, b, '--out', a], capture().out), { instanceOf: ConfigError, message: /is one of the shard directories/ });
});
