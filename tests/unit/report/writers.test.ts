import test from 'ava';
import { writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { compareToBaseline, saveBaseline } from '../../../harness/report/baseline.ts';
import { parseResults, readResultsFile, resultsJson, stableStringify } from '../../../harness/report/json.ts';
import { toJUnitXml } from '../../../harness/report/junit.ts';
import { toMarkdown } from '../../../harness/report/markdown.ts';
import { toTap } from '../../../harness/report/tap.ts';
import { parseKtap, flattenKtap } from '../../../harness/kselftest/ktap.ts';
import { escapeAttr, escapeText } from '../../../harness/report/xml.ts';
import { writeReportFiles, REPORT_FILES } from '../../../harness/report/output.ts';
import { ConfigError } from '../../../harness/errors.ts';
import { run, scenario } from './synthetic.ts';
import { xmlProblems } from './xmlcheck.ts';
import { scratchDir } from '../../helpers/scratch.ts';

test('results.json: sorted keys at every depth, arrays kept, round trip', async (t) => {
  t.is(stableStringify({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: undefined } }, 0), '{"a":{"d":[3,{"y":2,"z":1}]},"b":1}');
  const r = run();
  const text = resultsJson(r);
  t.true(text.endsWith('}\n'));
  const keys = Object.keys(JSON.parse(text));
  t.deepEqual(keys, ['accelerator', 'finishedAt', 'host', 'kernels', 'qemuVersion', 'runId', 'scenarios', 'schema', 'startedAt']);
  // Same content built in another key order gives the same bytes.
  const shuffled = Object.fromEntries(Object.entries(r).reverse()) as typeof r;
  t.is(resultsJson(shuffled), text);
  t.deepEqual(parseResults(text), JSON.parse(text));
  const dir = scratchDir('luo-json-');
  await writeFile(join(dir, 'results.json'), resultsJson(r));
  t.deepEqual(await readResultsFile(join(dir, 'results.json')), JSON.parse(text));
});

test('results.json: wrong schema or status is bad input', (t) => {
  t.throws(() => parseResults('{"schema":2}'), { instanceOf: ConfigError, message: /schema 1/ });
  t.throws(() => parseResults('nope'), { instanceOf: ConfigError });
  const bad = { ...run(), scenarios: [{ ...run().scenarios[0], status: 'passed' }] };
  t.throws(() => parseResults(JSON.stringify(bad)), { instanceOf: ConfigError, message: /unknown status "passed"/ });
});

test('XML escaping: markup, quotes, control characters, lone surrogates', (t) => {
  t.is(escapeText('a < b && c > d'), 'a &lt; b &amp;&amp; c &gt; d');
  t.is(escapeText('\u001b[31mred\u001b[0m\u0000'), '\\x1b[31mred\\x1b[0m\\x00');
  t.is(escapeText('tab\tnl\n'), 'tab\tnl\n');
  t.is(escapeText('x\uD800y'), 'x\\ud800y');
  t.is(escapeText('emoji 😀 stays'), 'emoji 😀 stays');
  t.is(escapeAttr(`"q" 'a'\nline`), '&quot;q&quot; &apos;a&apos;&#10;line');
  t.is(escapeText('\uFFFE'), '\\ufffe');
});

test('JUnit: counts, one testcase per scenario, failure/skipped elements, properties, system-out', (t) => {
  const r = run();
  r.scenarios.push(scenario('vfio-edu', 'error', [], { reason: 'QEMU exited: <signal 9> & "oom"\u0007', checks: [] }));
  const xml = toJUnitXml(r);
  t.deepEqual(xmlProblems(xml), []);
  t.true(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="luo-harness" tests="6" failures="1" errors="1" skipped="1" time="200.500"'));
  t.is((xml.match(/<testcase /g) ?? []).length, 6);
  t.regex(xml, /<testcase name="memfd-1g" classname="luo-harness.luo-7.2-to-luo-7.2" time="[\d.]+">/);
  t.regex(xml, /<failure message="memfd contents differ after kexec at offset 0x3ff000" type="fail">memfd contents differ[^<]*\nFAIL memfd contents survived<\/failure>/);
  t.regex(xml, /<skipped message="unsupported: PRESERVE_FD on an iommufd fails[^"]*"\/>/);
  t.regex(xml, /<error message="QEMU exited: &lt;signal 9&gt; &amp; &quot;oom&quot;\\x07" type="infra">/);
  t.regex(xml, /<property name="blackout.totalMs.median" value="\d+(\.\d+)?"\/>/);
  t.regex(xml, /<property name="iteration.1.blackout.kernelInitMs" value="[\d.]+"\/>/);
  t.regex(xml, /<property name="param.memfdSizeBytes" value="67108864"\/>/);
  t.regex(xml, /<system-out>[^<]*boot-1: consoles\/memfd-basic\/boot-1.log\n/);
  t.regex(xml, /<property name="kernel.luo-7.2" value="7.2.13-luo"\/>/);
});

test('TAP 14 output parses back with our own parser', (t) => {
  const r = run();
  r.scenarios[0]!.name = 'name # with hash';
  const tap = toTap(r);
  t.true(tap.startsWith('TAP version 14\n1..5\n'));
  t.regex(tap, /^not ok 4 - memfd-1g$/m);
  t.regex(tap, /^ok 5 - iommufd-ioas # SKIP unsupported: PRESERVE_FD/m);
  t.regex(tap, /^  blackout_median_ms: [\d.]+$/m);
  const doc = parseKtap(tap);
  t.deepEqual(doc.problems, []);
  t.is(doc.version, 'TAP version 14');
  t.deepEqual(
    doc.results.map((x) => [x.number, x.name, x.status]),
    [
      [1, 'name # with hash', 'pass'],
      [2, 'memfd-64m', 'pass'],
      [3, 'memfd-256m', 'pass'],
      [4, 'memfd-1g', 'fail'],
      [5, 'iommufd-ioas', 'skip'],
    ],
  );
  t.is(doc.results[3]!.subtests!.name, 'memfd-1g');
  t.deepEqual(doc.results[3]!.subtests!.results.map((x) => x.status), ['fail', 'pass']);
  t.regex(doc.results[3]!.yaml!, /severity: fail/);
  t.true(flattenKtap(doc).some((x) => x.path === 'memfd-1g/memfd contents survived' && x.status === 'fail'));
});

test('Markdown: the first line says what broke; a table row per scenario', (t) => {
  const md = toMarkdown(run());
  const lines = md.split('\n');
  t.is(lines[0], '❌ **1 of 5 scenario(s) failed: memfd-1g**');
  t.true(lines.includes('| Scenario | Status | Capabilities | Blackout median | Iterations | Reason |'));
  t.regex(md, /\| memfd-basic \| ✅ pass \| — \| \d+ ms \(n=5\) \| 5 \| {2}\|/);
  t.regex(md, /\| iommufd-ioas \| 🚫 unsupported \| — \| — \| 0 \| PRESERVE_FD on an iommufd fails/);
  const withCaps = run({ scenarios: [{ ...run().scenarios[0]!, name: 'iommufd-vfio', capabilities: [{ name: 'vfio-device', status: 'pass' }, { name: 'iommufd', status: 'unsupported', reason: 'ENOENT' }] }] });
  t.regex(toMarkdown(withCaps), /\| iommufd-vfio \| ✅ pass \| vfio-device ✅ pass, iommufd 🚫 unsupported \|/);
  const ok = run({ scenarios: run().scenarios.filter((s) => s.status === 'pass') });
  t.is(toMarkdown(ok).split('\n')[0], '✅ **3 passed**');
  const slowRun = run({}, 1.25);
  slowRun.scenarios = slowRun.scenarios.filter((s) => s.status === 'pass');
  const cmp = compareToBaseline(saveBaseline(ok), slowRun);
  const slow = toMarkdown(slowRun, cmp);
  t.regex(slow.split('\n')[0]!, /^❌ \*\*\d+ metric regression\(s\): [^*]*memfd-basic\/blackout.totalMs[^*]*\*\*$/);
  t.regex(slow, /- REGRESSION memfd-basic\/blackout.totalMs/);
});

test('writeReportFiles writes every format and appends the history', async (t) => {
  const dir = scratchDir('luo-report-');
  const metricsFile = join(dir, 'metrics.jsonl');
  const paths = await writeReportFiles(join(dir, 'out'), run(), { metricsFile });
  t.deepEqual(Object.keys(paths).sort(), Object.keys(REPORT_FILES).sort());
  t.regex(await readFile(paths.html, 'utf8'), /^<!DOCTYPE html>/);
  t.is((await readFile(metricsFile, 'utf8')).trim().split('\n').length, 18);
});
