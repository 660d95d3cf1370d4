// TAP 14 output of a run: one test point per scenario, its checks as an
// indented subtest, a YAML block with the reason and blackout figures.
import { blackoutSamples, type RunResult, type ScenarioResult, type Status } from './result.ts';
import { median } from './stats.ts';

/** Description text cannot hold `#` (starts a directive) or a newline. */
const clean = (s: string) => s.replace(/\\/g, '\\\\').replace(/#/g, '\\#').replace(/[\r\n]+/g, ' ');

function point(n: number, status: Status, name: string, reason?: string): string {
  const ok = status === 'fail' || status === 'error' ? 'not ok' : 'ok';
  let line = `${ok} ${n} - ${clean(name)}`;
  if (status === 'skip' || status === 'unsupported') line += ` # SKIP ${status === 'unsupported' ? 'unsupported: ' : ''}${clean(reason ?? 'no reason given')}`;
  return line;
}

/** A YAML scalar that survives any content. */
const yamlString = (s: string) => JSON.stringify(s);

function scenarioLines(n: number, s: ScenarioResult): string[] {
  const out: string[] = [];
  if (s.checks.length) {
    out.push(`    # Subtest: ${clean(s.name)}`, `    1..${s.checks.length}`);
    s.checks.forEach((c, i) => {
      out.push('    ' + point(i + 1, c.status, c.name, c.message));
      if (c.message && (c.status === 'fail' || c.status === 'error')) out.push('      ---', `      message: ${yamlString(c.message)}`, '      ...');
    });
  }
  out.push(point(n, s.status, s.name, s.reason));
  const yaml: string[] = [];
  if (s.status === 'fail' || s.status === 'error') {
    yaml.push(`severity: ${s.status}`);
    if (s.reason) yaml.push(`message: ${yamlString(s.reason)}`);
  }
  const totals = blackoutSamples(s);
  if (totals.length) yaml.push(`blackout_median_ms: ${median(totals)}`, `blackout_samples_ms: [${totals.join(', ')}]`);
  yaml.push(`duration_ms: ${s.durationMs}`);
  if (s.artifacts.length) yaml.push('console_logs:', ...s.artifacts.map((a) => `  - ${yamlString(a.path)}`));
  out.push('  ---', ...yaml.map((l) => '  ' + l), '  ...');
  return out;
}

export function toTap(result: RunResult): string {
  const lines = ['TAP version 14', `1..${result.scenarios.length}`, `# luo-harness run ${result.runId} (${result.accelerator})`];
  result.scenarios.forEach((s, i) => lines.push(...scenarioLines(i + 1, s)));
  return lines.join('\n') + '\n';
}
