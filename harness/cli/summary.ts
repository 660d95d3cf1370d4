// What `run`, `kselftest` and the other run commands print after a run:
// the summary table, each capability's verdict, the blackout table, the gate.
import { BLACKOUT_PHASES, LATE_CLOCK_TITLE, SPLIT_BY_CLOCK, type BlackoutPhaseName, type RunResult, type ScenarioResult } from '../report/result.ts';
import { median, quantile } from '../report/stats.ts';
import { formatTable, formatTableWithNotes } from './table.ts';

/** Blackout per result: median total and phases over its live updates, p95 of the total. */
export function blackoutTable(results: readonly ScenarioResult[], label = 'scenario', note = ''): string {
  const rows: string[][] = [];
  let lateClocks = 0;
  // The downtime a VM running across the live update saw (vm-survives), where one did.
  const vmSeen = results.some((r) => r.iterations.some((i) => i.metrics?.vmDowntimeMs !== undefined));
  for (const r of results) {
    const timelines = r.iterations.map((i) => i.blackout).filter((b) => b !== undefined);
    if (!timelines.length) continue;
    const med = (xs: number[]) => median(xs).toFixed(0);
    const late = timelines.filter((t) => t.lateClock).length;
    lateClocks += late;
    // A phase split by a late clock is marked: its figure is not what its name says.
    const phase = (name: BlackoutPhaseName) => med(timelines.map((t) => t.phases.find((p) => p.name === name)?.ms ?? 0)) + (late && SPLIT_BY_CLOCK.includes(name) ? '*' : '');
    const totals = timelines.map((t) => t.totalMs);
    const tsc = timelines.map((t) => t.guestTscMs).filter((x) => x !== undefined);
    const vm = r.iterations.map((i) => i.metrics?.vmDowntimeMs).filter((x) => x !== undefined);
    rows.push([r.name, String(timelines.length), med(totals), quantile(totals, 0.95).toFixed(0), ...BLACKOUT_PHASES.map(phase), tsc.length ? med(tsc) : '-', ...(vmSeen ? [vm.length ? med(vm) : '-'] : [])]);
  }
  if (!rows.length) return 'no live updates measured';
  const table = `blackout (ms, median over live updates; host clock${note})\n` + formatTable([label, 'n', 'total', 'p95', ...BLACKOUT_PHASES, 'guest TSC', ...(vmSeen ? ['VM-seen'] : [])], rows);
  return lateClocks ? `${table}\n* ${lateClocks} live update(s): ${LATE_CLOCK_TITLE}` : table;
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

/** One row per result: status, checks passed, time, and the reason (cut with the full text below). */
export function summaryTable(results: readonly ScenarioResult[], label = 'scenario', extra?: { header: string; cell: (r: ScenarioResult) => string }): string {
  return formatTableWithNotes(
    [label, 'status', 'checks', ...(extra ? [extra.header] : []), 'time', 'reason'],
    results.map((r) => ({
      label: r.name,
      note: r.reason ?? '',
      cells: [r.name, r.status.toUpperCase(), `${r.checks.filter((c) => c.status === 'pass').length}/${r.checks.length}`, ...(extra ? [extra.cell(r)] : []), `${(r.durationMs / 1000).toFixed(1)} s`],
    })),
  );
}

/** The gate's notable sentences and its line: regressions, what it could not judge, what grew but is not gated. */
export function gateLines(result: RunResult): string {
  if (!result.gate) return '';
  const { comparison, line } = result.gate;
  const notable = [...comparison.regressions, ...comparison.undecided, ...comparison.verdicts.filter((x) => !x.gated && x.kind === 'regression')];
  return [...notable.map((v) => v.sentence), line].join('\n');
}
