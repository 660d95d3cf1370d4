// report.html: one self-contained page (inline CSS and SVG, no script, no
// network) that a CI artifact viewer or a browser on a laptop opens as is.
import { fileRows, patchLine, sidesLine } from './coverage-text.ts';
import { gateLine, type Comparison, type MetricVerdict } from './baseline.ts';
import type { MetricsRow } from './history.ts';
import { BLACKOUT_PHASES, LATE_CLOCK_TITLE, SPLIT_BY_CLOCK, blackoutSamples, overallVerdict, targetLine, type KernelCoverage, type RunResult, type ScenarioResult, type Status, type WaterfallSpan } from './result.ts';
import { median, p95 } from './stats.ts';
import { pairedBarChart, stackedBarChart, waterfallChart, xyChart, type Series, type StackedRow } from './svg.ts';
import { escapeAttr, escapeText } from './xml.ts';

export interface HtmlReportInput {
  result: RunResult;
  /** Rows of metrics.jsonl for the history chart. */
  history?: readonly MetricsRow[];
  /** An earlier run to compare side by side. */
  previous?: RunResult;
  /** The baseline gate's verdicts. */
  comparison?: Comparison;
  title?: string;
}

const STATUS_COLOR: Record<Status, string> = { pass: '#1a7f37', fail: '#cf222e', error: '#9a6700', skip: '#57606a', unsupported: '#6e40c9' };
const h = escapeText;
const ms = (x: number | undefined) => (x === undefined ? '—' : `${x.toFixed(x >= 100 ? 0 : 1)} ms`);

const CSS = `
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f6f8fa; color: #1f2933; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 1080px; margin: 0 auto; padding: 28px 24px 60px; }
h1 { font-size: 26px; margin: 0 0 4px; letter-spacing: -0.01em; }
h2 { font-size: 19px; margin: 36px 0 12px; padding-bottom: 6px; border-bottom: 1px solid #d0d7de; }
h3 { font-size: 16px; margin: 0 0 8px; }
.meta { color: #52606d; font-size: 13px; margin: 0 0 18px; }
.meta code { background: #eaeef2; padding: 1px 5px; border-radius: 4px; }
.banner { padding: 14px 18px; border-radius: 8px; font-weight: 600; font-size: 17px; color: #fff; margin: 12px 0 8px; }
.card { background: #fff; border: 1px solid #d0d7de; border-radius: 8px; padding: 16px 18px; margin: 14px 0; }
table { border-collapse: collapse; width: 100%; font-size: 14px; background: #fff; }
th, td { text-align: left; padding: 7px 10px; border-bottom: 1px solid #eaeef2; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; color: #424a53; font-size: 13px; }
td:first-child { white-space: nowrap; }
details summary { cursor: pointer; color: #424a53; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.badge { display: inline-block; min-width: 78px; text-align: center; padding: 1px 8px; border-radius: 999px; color: #fff; font-size: 12px; font-weight: 600; text-transform: uppercase; letter-spacing: 0.03em; }
.reason { color: #52606d; font-size: 13px; }
.caps { margin-bottom: 4px; }
.caps span { margin-right: 10px; white-space: nowrap; }
.note { color: #57606a; font-style: italic; }
ul.checks { list-style: none; padding: 0; margin: 6px 0 12px; }
ul.checks li { padding: 2px 0; font-size: 14px; }
.mark { display: inline-block; width: 1.2em; font-weight: 700; }
a { color: #0969da; }
.regression { color: #cf222e; font-weight: 600; }
.improvement { color: #1a7f37; }
.delta-up { color: #cf222e; } .delta-down { color: #1a7f37; }
svg { display: block; margin: 6px 0; }
details { margin-top: 10px; }
.scroll { overflow-x: auto; }
table.gate { font-size: 12.5px; }
table.gate td:nth-child(2) { white-space: nowrap; }
table.gate th, table.gate td { padding: 5px 6px; }
table.gate code { font-size: 12px; }
.card > :last-child { margin-bottom: 0; }
footer { margin-top: 40px; color: #8c959f; font-size: 12px; }
`;

/** A fragment id that is valid HTML whatever the scenario is called. */
const anchor = (name: string) => 's-' + name.replace(/[^A-Za-z0-9_-]+/g, '-');

const badge = (s: Status) => `<span class="badge" style="background:${STATUS_COLOR[s]}">${s}</span>`;

function verdictBanner(result: RunResult): string {
  const v = overallVerdict(result);
  const color = v.exitCode === 0 ? STATUS_COLOR.pass : v.exitCode === 1 ? STATUS_COLOR.fail : v.exitCode === 4 ? STATUS_COLOR.skip : STATUS_COLOR.error;
  return `<div class="banner" style="background:${color}">${h(v.headline)} <span style="font-weight:400;opacity:.85">(exit code ${v.exitCode})</span></div>`;
}

/** Each capability's own verdict, when a scenario judged more than one. */
function capabilityBadges(s: ScenarioResult): string {
  const caps = s.capabilities ?? [];
  if (caps.length < 2) return '';
  return `<div class="caps">${caps.map((c) => `<span title="${escapeAttr(c.reason ?? c.status)}">${h(c.name)} ${badge(c.status)}</span>`).join(' ')}</div>`;
}

function summaryTable(result: RunResult): string {
  const rows = result.scenarios.map((s) => {
    const t = blackoutSamples(s);
    const kern = s.kernel ? h(s.kernel + (s.to && s.to !== s.kernel ? ` → ${s.to}` : '')) : '';
    return (
      `<tr><td><a href="#${anchor(s.name)}">${h(s.name)}</a><div class="reason">${kern}</div></td><td>${badge(s.status)}</td>` +
      `<td class="num">${s.iterations.length}</td><td class="num">${t.length ? ms(median(t)) : '—'}</td>` +
      `<td class="num">${t.length ? ms(p95(t)) : '—'}</td><td class="num">${(s.durationMs / 1000).toFixed(1)} s</td>` +
      `<td class="reason">${capabilityBadges(s)}${h(s.reason ?? '')}</td></tr>`
    );
  });
  return (
    '<table><thead><tr><th>Scenario</th><th>Status</th><th class="num">Iterations</th><th class="num">Blackout median</th>' +
    `<th class="num">Blackout p95</th><th class="num">Duration</th><th>Reason</th></tr></thead><tbody>${rows.join('')}</tbody></table>`
  );
}

function phaseChart(result: RunResult): string {
  const rows: StackedRow[] = [];
  for (const s of result.scenarios) {
    for (const it of s.iterations) {
      if (!it.blackout) continue;
      rows.push({
        label: `${s.name} #${it.index}`,
        segments: BLACKOUT_PHASES.map((p) => ({ name: p, value: it.blackout!.phases.find((x) => x.name === p)?.ms ?? 0 })),
        // A failed iteration's timing is not comparable: say so next to its bar.
        note: ms(it.blackout.totalMs) + (it.status === 'pass' ? '' : ` (${it.status})`),
      });
    }
  }
  if (!rows.length) return '<p class="note">No iteration measured a blackout.</p>';
  return stackedBarChart(rows, { title: 'Blackout phases per iteration', unit: 'blackout (ms)', series: [...BLACKOUT_PHASES] });
}

/** The preserved size of a scenario, from its parameters: the first numeric one whose name says size or bytes. */
function sizeOf(s: ScenarioResult): { bytes: number } | undefined {
  for (const [k, v] of Object.entries(s.params ?? {})) {
    if (typeof v === 'number' && /size|bytes/i.test(k)) return { bytes: /mib/i.test(k) ? v * 1048576 : v };
  }
  return undefined;
}

function sizeChart(result: RunResult): string {
  const groups = new Map<string, Series>();
  for (const s of result.scenarios) {
    const size = sizeOf(s);
    const key = s.kernel ? s.kernel + (s.to && s.to !== s.kernel ? ` → ${s.to}` : '') : 'blackout';
    const g = groups.get(key) ?? { name: key, points: [] };
    for (const it of s.iterations) {
      // An iteration's own `memfdBytes` metric wins: sizes can vary within a scenario.
      const bytes = it.metrics?.memfdBytes ?? size?.bytes;
      if (it.status === 'pass' && it.blackout && bytes !== undefined) {
        g.points.push({ x: bytes / 1048576, y: it.blackout.totalMs, label: `${s.name} #${it.index}: ${ms(it.blackout.totalMs)}` });
      }
    }
    groups.set(key, g);
  }
  const series = [...groups.values()].filter((g) => g.points.length);
  if (!series.length) return '<p class="note">No live update recorded a preserved size (a <code>memfdBytes</code> iteration metric, or a numeric <code>params</code> entry named *size* or *bytes*).</p>';
  // A line through the median at each size shows the trend over the scatter of iterations.
  const trend: Series[] = series.map((g) => {
    const bySize = new Map<number, number[]>();
    for (const p of g.points) bySize.set(p.x, [...(bySize.get(p.x) ?? []), p.y]);
    return { name: `${g.name} (median)`, points: [...bySize].map(([x, ys]) => ({ x, y: median(ys) })) };
  });
  const colors = ['#0072B2', '#E69F00', '#009E73', '#D55E00', '#CC79A7'];
  const all: Series[] = [
    ...series.map((g, i) => ({ ...g, color: colors[i % colors.length]!, lines: false })),
    ...trend.map((g, i) => ({
      ...g,
      color: colors[i % colors.length]!,
      lines: true,
      dots: false,
    })),
  ];
  return xyChart(all, { title: 'Blackout vs preserved size', xLabel: 'preserved size (MiB)', yLabel: 'total blackout (ms)' });
}

function historyChart(history: readonly MetricsRow[]): string {
  // One point per (run, scenario): the median total of that run's iterations.
  const byKey = new Map<string, { time: number; scenario: string; values: number[] }>();
  for (const r of history) {
    if (r.status !== 'pass') continue;
    const key = `${r.runId}\u0000${r.scenario}`;
    const e = byKey.get(key) ?? { time: Date.parse(r.time), scenario: r.scenario, values: [] };
    e.values.push(r.totalMs);
    byKey.set(key, e);
  }
  const series = new Map<string, Series>();
  for (const e of byKey.values()) {
    if (!Number.isFinite(e.time)) continue;
    const s = series.get(e.scenario) ?? { name: e.scenario, points: [] };
    s.points.push({ x: e.time, y: median(e.values), label: `${e.scenario} ${new Date(e.time).toISOString().slice(0, 16).replace('T', ' ')}: ${ms(median(e.values))}` });
    series.set(e.scenario, s);
  }
  const list = [...series.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  if (!list.length || list.every((s) => s.points.length < 2)) return '<p class="note">Not enough history yet: the chart needs at least two runs in metrics.jsonl.</p>';
  const times = list.flatMap((s) => s.points.map((p) => p.x));
  const [t0, t1] = [Math.min(...times), Math.max(...times)];
  const ticks = Array.from({ length: 6 }, (_, i) => t0 + ((t1 - t0) * i) / 5);
  const span = t1 - t0;
  const fmt = (v: number) => {
    const iso = new Date(v).toISOString();
    return span > 2 * 86400000 ? iso.slice(5, 10) : iso.slice(5, 16).replace('T', ' ');
  };
  return xyChart(list, { title: 'Total blackout over runs', xLabel: 'run time (UTC)', yLabel: 'median blackout (ms)', lines: true, xTicks: ticks, xFormat: fmt });
}

function comparisonSection(result: RunResult, previous: RunResult): string {
  const names = [...new Set([...previous.scenarios.map((s) => s.name), ...result.scenarios.map((s) => s.name)])].sort();
  const find = (r: RunResult, n: string) => r.scenarios.find((s) => s.name === n);
  const med = (s?: ScenarioResult) => {
    const t = s ? blackoutSamples(s) : [];
    return t.length ? median(t) : undefined;
  };
  const rows = names.map((n) => {
    const a = find(previous, n);
    const b = find(result, n);
    const ma = med(a);
    const mb = med(b);
    const delta = ma !== undefined && mb !== undefined && ma > 0 ? (mb - ma) / ma : undefined;
    const cls = delta === undefined ? '' : delta > 0 ? 'delta-up' : 'delta-down';
    return {
      chart: { label: n, ...(ma !== undefined ? { a: ma } : {}), ...(mb !== undefined ? { b: mb } : {}) },
      html:
        `<tr><td>${h(n)}</td><td>${a ? badge(a.status) : '—'}</td><td>${b ? badge(b.status) : '—'}</td>` +
        `<td class="num">${ms(ma)}</td><td class="num">${ms(mb)}</td>` +
        `<td class="num ${cls}">${delta === undefined ? '—' : (delta >= 0 ? '+' : '') + (delta * 100).toFixed(1) + '%'}</td></tr>`,
    };
  });
  const chartRows = rows.map((r) => r.chart).filter((r) => r.a !== undefined || r.b !== undefined);
  return (
    `<p class="meta">Previous run <code>${h(previous.runId)}</code> (${h(previous.startedAt)}) vs this run <code>${h(result.runId)}</code>.</p>` +
    '<table><thead><tr><th>Scenario</th><th>Previous</th><th>This run</th><th class="num">Previous median</th><th class="num">This median</th><th class="num">Change</th></tr></thead>' +
    `<tbody>${rows.map((r) => r.html).join('')}</tbody></table>` +
    (chartRows.length
      ? pairedBarChart(chartRows, { title: 'Median blackout: previous vs this run', unit: 'median blackout (ms)', aName: `previous (${previous.runId})`, bName: `this run (${result.runId})` })
      : '')
  );
}

const VERDICT_LABEL: Record<MetricVerdict['kind'], string> = {
  regression: 'REGRESSION',
  improvement: 'improvement',
  unchanged: 'ok',
  'insufficient-evidence': 'not enough evidence',
  'missing-baseline': 'new',
  'missing-current': 'missing',
};

/** One row per metric; the gate's full sentence is the row's tooltip, the cells hold its figures. */
function verdictRows(list: readonly MetricVerdict[]): string {
  const num = (x: number | undefined, key: string) => (x === undefined ? '—' : /Ms$/.test(key) ? ms(x) : String(Number(x.toPrecision(4))));
  const rows = list.map((v) => {
    const cls = v.kind === 'regression' && v.gated ? 'regression' : v.kind === 'improvement' ? 'improvement' : '';
    const rel = v.relativeDiff;
    const change = rel === undefined || !Number.isFinite(rel) ? '—' : (rel >= 0 ? '+' : '') + (rel * 100).toFixed(1) + '%';
    const ci = v.ci ? `[${num(v.ci.low, v.key)}, ${num(v.ci.high, v.key)}]`.replace(/ ms,/, ',') : '—';
    return (
      `<tr title="${escapeAttr(v.sentence)}"><td><code>${h(v.key)}</code></td><td class="${cls}">${VERDICT_LABEL[v.kind]}${v.gated ? ' <span class="reason">gated</span>' : ''}</td>` +
      `<td class="num">${num(v.baseline?.median, v.key)}${v.baseline ? ` <span class="reason">n=${v.baseline.n}</span>` : ''}</td>` +
      `<td class="num">${num(v.current?.median, v.key)}${v.current ? ` <span class="reason">n=${v.current.n}</span>` : ''}</td>` +
      `<td class="num ${cls}">${change}</td><td class="num">${(v.threshold.relative * 100).toFixed(0)}%${v.margin !== undefined ? ` <span class="reason">margin ${num(v.margin, v.key)}</span>` : ''}</td>` +
      `<td class="num">${ci}</td><td class="num">${v.p === undefined ? '—' : v.p.toPrecision(2)}</td></tr>`
    );
  });
  return (
    '<div class="scroll"><table class="gate"><thead><tr><th>Metric</th><th>Verdict</th><th class="num">Baseline median</th><th class="num">Current median</th><th class="num">Change</th>' +
    `<th class="num">Threshold</th><th class="num">CI of the difference</th><th class="num">p</th></tr></thead><tbody>${rows.join('')}</tbody></table></div>`
  );
}

function baselineSection(c: Comparison): string {
  const rank: Record<string, number> = { regression: 0, 'insufficient-evidence': 1, 'missing-current': 2, improvement: 3, 'missing-baseline': 4, unchanged: 5 };
  const sorted = [...c.verdicts].sort((a, b) => Number(b.gated) - Number(a.gated) || rank[a.kind]! - rank[b.kind]! || (a.key < b.key ? -1 : 1));
  const notable = sorted.filter((v) => v.kind !== 'unchanged');
  const quiet = sorted.filter((v) => v.kind === 'unchanged');
  return (
    `<p><strong>${h(gateLine(c))}</strong> <span class="reason">Hover a row for the gate's full sentence; see docs/baseline.md for how it decides.</span></p>` +
    (notable.length ? verdictRows(notable) : '') +
    (quiet.length ? `<details><summary>${quiet.length} metric(s) unchanged</summary>${verdictRows(quiet)}</details>` : '')
  );
}

/** `memfdSizeBytes=67108864 (64 MiB)`: byte counts are unreadable raw. */
function paramText(key: string, value: unknown): string {
  const raw = `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`;
  if (typeof value !== 'number' || !/bytes/i.test(key) || value < 1024) return raw;
  const [unit, div] = value >= 2 ** 30 ? ['GiB', 2 ** 30] : value >= 2 ** 20 ? ['MiB', 2 ** 20] : ['KiB', 1024];
  return `${raw} (${Number((value / div).toFixed(1))} ${unit})`;
}

/** The kinds of a waterfall's spans, in legend order. */
const WATERFALL_KINDS: WaterfallSpan['kind'][] = ['harness', 'machine', 'boot', 'ssh', 'agent', 'blackout', 'verify'];

function scenarioDetail(s: ScenarioResult): string {
  const mark: Record<Status, string> = { pass: '✓', fail: '✗', error: '!', skip: '–', unsupported: '∅' };
  const checks = s.checks.length
    ? `<ul class="checks">${s.checks
        .map((c) => `<li><span class="mark" style="color:${STATUS_COLOR[c.status]}">${mark[c.status]}</span>${h(c.name)}${c.message ? ` <span class="reason">— ${h(c.message)}</span>` : ''}</li>`)
        .join('')}</ul>`
    : '';
  // A VM that ran across the live update (vm-survives) saw a downtime of its own.
  const vmSeen = s.iterations.some((it) => it.metrics?.vmDowntimeMs !== undefined);
  const its = s.iterations.length
    ? '<table><thead><tr><th>#</th><th>Status</th>' +
      BLACKOUT_PHASES.map((p) => `<th class="num">${p}</th>`).join('') +
      '<th class="num">Total</th><th class="num">Guest TSC</th>' +
      (vmSeen ? '<th class="num" title="the running VM\'s last serial byte before its stop to its first after the resume">VM-seen downtime</th>' : '') +
      '</tr></thead><tbody>' +
      s.iterations
        .map((it) => {
          const ph = (p: string) => it.blackout?.phases.find((x) => x.name === p)?.ms;
          return (
            `<tr><td>${it.index}</td><td>${badge(it.status)}</td>` +
            BLACKOUT_PHASES.map((p) => `<td class="num">${ms(ph(p))}${it.blackout?.lateClock && SPLIT_BY_CLOCK.includes(p) ? `<abbr title="${escapeAttr(LATE_CLOCK_TITLE)}">*</abbr>` : ''}</td>`).join('') +
            `<td class="num"><strong>${ms(it.blackout?.totalMs)}</strong></td><td class="num">${ms(it.blackout?.guestTscMs)}</td>` +
            (vmSeen ? `<td class="num"><strong>${ms(it.metrics?.vmDowntimeMs)}</strong></td>` : '') +
            '</tr>'
          );
        })
        .join('') +
      '</tbody></table>'
    : '';
  const logs = s.artifacts.length ? `<p class="meta">Console logs: ${s.artifacts.map((a) => `<a href="${escapeAttr(a.path)}">${h(a.name)}</a>`).join(' · ')}</p>` : '';
  const params = s.params && Object.keys(s.params).length
    ? `<p class="meta">Parameters: ${Object.entries(s.params).map(([k, v]) => `<code>${h(paramText(k, v))}</code>`).join(' ')}</p>`
    : '';
  const caps = s.capabilities?.length
    ? `<table><thead><tr><th>Capability</th><th>Verdict</th><th>Why</th></tr></thead><tbody>${s.capabilities
        .map((c) => `<tr><td>${h(c.name)}</td><td>${badge(c.status)}</td><td class="reason">${h(c.reason ?? '')}</td></tr>`)
        .join('')}</tbody></table>`
    : '';
  const spans = s.waterfall ?? [];
  const waterfall = spans.length
    ? `<details><summary>Waterfall: where ${((s.durationMs) / 1000).toFixed(1)} s went (${spans.length} spans)</summary>${waterfallChart(
        spans.map((w) => ({ label: w.name, kind: w.kind, startMs: w.startMs, ms: w.ms })),
        { title: `${s.name}: waterfall`, kinds: WATERFALL_KINDS },
      )}</details>`
    : '';
  return (
    `<div class="card" id="${anchor(s.name)}"><h3>${h(s.name)} ${badge(s.status)}</h3>` +
    (s.reason ? `<p class="reason">${h(s.reason)}</p>` : '') +
    caps +
    waterfall +
    params +
    checks +
    its +
    logs +
    '</div>'
  );
}

/** A kernel's coverage: a link to genhtml's report, the files' table, how each boot was counted, per patch its lines. */
function coverageCard(k: KernelCoverage): string {
  const link = k.html ? ` · <a href="${h(k.html)}">line by line (genhtml)</a>` : '';
  const table = k.error
    ? `<p>No coverage: ${h(k.error)}</p>`
    : `<table><thead><tr><th>File</th><th>Lines</th><th>Functions</th></tr></thead><tbody>${fileRows(k).map((r) => `<tr>${r.map((c) => `<td>${h(c)}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
  const patches = k.patches.length ? `<ul>${k.patches.map((p) => `<li>${h(patchLine(p))}</li>`).join('')}</ul>` : '';
  return `<div class="card"><p><strong>${h(k.recipe)}</strong> ${h(k.release)}${k.tracefile ? ` · <code>${h(k.tracefile)}</code>` : ''}${link}</p>${table}<p class="meta">Counted: ${h(sidesLine(k))}</p>${patches}</div>`;
}

export function renderHtml(input: HtmlReportInput): string {
  const { result } = input;
  const title = input.title ?? `luo-harness report — ${result.runId}`;
  const kernels = Object.entries(result.kernels)
    .map(([name, m]) => `<code>${h(name)}</code>${typeof m.release === 'string' ? ' ' + h(m.release) : ''}`)
    .join(', ');
  const sections = [
    `<h1>${h(title)}</h1>`,
    `<p class="meta">Run <code>${h(result.runId)}</code> · ${h(result.startedAt)} → ${h(result.finishedAt)} · host ${h(result.host.hostname)} (${h(result.host.kernel)}, ${result.host.cpus} CPUs) · ${h(result.accelerator)}${result.target ? '' : ` · QEMU ${h(result.qemuVersion)}`}${kernels ? ' · kernels ' + kernels : ''}${result.target ? ` · target ${h(targetLine(result.target))}` : ''}</p>`,
    verdictBanner(input.comparison && !result.gate ? { ...result, gate: { baseline: 'previous run', strict: false, line: gateLine(input.comparison), comparison: input.comparison } } : result),
    '<h2>Summary</h2>',
    summaryTable(result),
    '<h2>Blackout phases</h2>',
    ...(result.coverage ? ['<p class="meta">Coverage kernels: gcov slows every instrumented function and the counters are read with the machine stopped at machine_kexec (inside kexec-jump), so these timings are not blackout figures.</p>'] : []),
    `<div class="card">${phaseChart(result)}</div>`,
    '<h2>Blackout vs preserved size</h2>',
    `<div class="card">${sizeChart(result)}</div>`,
  ];
  if (result.coverage) sections.push('<h2>Coverage</h2>', ...result.coverage.kernels.map(coverageCard));
  if (input.history) sections.push('<h2>History</h2>', `<div class="card">${historyChart(input.history)}</div>`);
  if (input.previous) sections.push('<h2>Comparison with the previous run</h2>', `<div class="card">${comparisonSection(result, input.previous)}</div>`);
  const comparison = input.comparison ?? result.gate?.comparison;
  if (comparison) sections.push('<h2>Baseline gate</h2>', `<div class="card">${result.gate ? `<p class="meta">Baseline <code>${h(result.gate.baseline)}</code>${result.gate.strict ? ' (--strict)' : ''}</p>` : ''}${baselineSection(comparison)}</div>`);
  sections.push('<h2>Scenarios</h2>', ...result.scenarios.map(scenarioDetail));
  sections.push(`<footer>Generated by luo-harness. Blackout phases: shutdown (freeze → "Starting new kernel"), kexec-jump (→ the new kernel's clock starts: segment copy, purgatory, decompressor), kernel-init (→ "Run /init"), userspace-init (→ the agent starts its restore), restore (→ agent restored), service (→ SSH usable).</footer>`);
  return `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${h(title)}</title><style>${CSS}</style></head><body><main>${sections.join('\n')}</main></body></html>\n`;
}
