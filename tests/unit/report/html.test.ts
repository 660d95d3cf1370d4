import test from 'ava';
import { compareToBaseline, saveBaseline } from '../../../harness/report/baseline.ts';
import { metricsRows } from '../../../harness/report/history.ts';
import { renderHtml } from '../../../harness/report/html.ts';
import { niceTicks, stackedBarChart, xyChart } from '../../../harness/report/svg.ts';
import { historyRuns, run, scenario } from './synthetic.ts';
import { xmlProblems } from './xmlcheck.ts';

function fullReport(): string {
  const result = run();
  result.scenarios.push(scenario('evil <script>alert(1)</script>', 'error', [], { reason: 'QEMU said "bye" & \u001b[31mdied', checks: [] }));
  const past = historyRuns(6);
  return renderHtml({
    result,
    history: past.flatMap(metricsRows),
    previous: past.at(-1)!,
    comparison: compareToBaseline(saveBaseline(past.slice(0, 3)), result),
  });
}

test('report.html is self-contained and well formed', (t) => {
  const html = fullReport();
  t.true(html.startsWith('<!DOCTYPE html>'));
  t.deepEqual(xmlProblems(html), []);
  t.notRegex(html, /<script/i);
  t.notRegex(html, /(src|href)="(https?:)?\/\//);
  t.notRegex(html, /<link /);
  t.regex(html, /<style>[^<]+<\/style>/);
  t.regex(html, /evil &lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  t.regex(html, /QEMU said "bye" &amp; \\x1b\[31mdied/);
  t.regex(html, /id="s-evil-script-alert-1-script-"/);
});

test('report.html has every section, with charts', (t) => {
  const html = fullReport();
  const h2 = [...html.matchAll(/<h2>([^<]+)<\/h2>/g)].map((m) => m[1]);
  t.deepEqual(h2, ['Summary', 'Blackout phases', 'Blackout vs preserved size', 'History', 'Comparison with the previous run', 'Baseline gate', 'Scenarios']);
  t.is((html.match(/<svg /g) ?? []).length, 4);
  // Summary: one row per scenario with a status badge.
  const summary = html.slice(html.indexOf('<h2>Summary</h2>'), html.indexOf('<h2>Blackout phases</h2>'));
  t.is((summary.match(/<tr><td><a href="#s-/g) ?? []).length, 6);
  t.regex(summary, /<span class="badge" style="background:#cf222e">fail<\/span>/);
  // Stacked bars: 18 iterations x 5 phases, a legend with every phase, an axis in ms.
  const phases = html.slice(html.indexOf('<h2>Blackout phases</h2>'), html.indexOf('<h2>Blackout vs'));
  t.is((phases.match(/<rect [^>]*height="18"/g) ?? []).length, 108);
  for (const p of ['shutdown', 'kexec-jump', 'kernel-init', 'userspace-init', 'restore', 'service']) t.regex(phases, new RegExp(`<text[^>]*>${p}</text>`));
  t.regex(phases, />blackout \(ms\)<\/text>/);
  // Size chart: labelled axes; points at 64, 256, 1024 MiB.
  t.regex(html, />preserved size \(MiB\)<\/text>/);
  t.regex(html, />total blackout \(ms\)<\/text>/);
  // History: one polyline per scenario with history.
  const hist = html.slice(html.indexOf('<h2>History</h2>'), html.indexOf('<h2>Comparison'));
  t.is((hist.match(/<polyline /g) ?? []).length, 4);
  // Console logs are relative links.
  t.regex(html, /<a href="consoles\/memfd-basic\/boot-1.log">boot-1<\/a>/);
  t.regex(html, /REGRESSION|OK memfd-basic/);
});

test('report.html degrades gracefully without blackouts or history', (t) => {
  const bare = run({ scenarios: [scenario('only-skip', 'skip', [], { reason: 'not selected', checks: [] })] });
  const html = renderHtml({ result: bare, history: [] });
  t.deepEqual(xmlProblems(html), []);
  t.regex(html, /No iteration measured a blackout/);
  t.regex(html, /Not enough history yet/);
  t.regex(html, /No live update recorded a preserved size/);
  t.regex(html, /Nothing passed: 1 (skipped|unsupported) /);
});

test('niceTicks and chart primitives', (t) => {
  t.deepEqual(niceTicks(0, 2345, 5), [0, 500, 1000, 1500, 2000, 2500]);
  t.deepEqual(niceTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  t.deepEqual(niceTicks(3, 3, 2), [3, 3.5, 4]);
  const bars = stackedBarChart([{ label: 'a', segments: [{ name: 'x', value: 10 }, { name: 'y', value: 5 }] }], { title: 't', unit: 'ms', series: ['x', 'y'] });
  t.deepEqual(xmlProblems(bars), []);
  t.is((bars.match(/<rect [^>]*height="18"/g) ?? []).length, 2);
  const xy = xyChart([{ name: 's', points: [{ x: 1, y: 2 }, { x: 2, y: 3 }] }], { title: 't', xLabel: 'x', yLabel: 'y', lines: true });
  t.deepEqual(xmlProblems(xy), []);
  t.is((xy.match(/<circle /g) ?? []).length, 2);
});
