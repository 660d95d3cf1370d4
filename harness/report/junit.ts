// JUnit XML, the format every CI system renders: one testsuite per run, one
// testcase per scenario; blackout figures as properties, console log paths in
// system-out.
import { blackoutSamples, countStatuses, iterationMetrics, type RunResult, type ScenarioResult } from './result.ts';
import { median } from './stats.ts';
import { attrs, escapeText } from './xml.ts';

const seconds = (ms: number) => (ms / 1000).toFixed(3);
const secondsBetween = (a: string, b: string) => {
  const ms = Date.parse(b) - Date.parse(a);
  return Number.isFinite(ms) && ms >= 0 ? seconds(ms) : '0.000';
};
const num = (x: number) => String(Math.round(x * 1000) / 1000);

function property(name: string, value: string | number): string {
  return `<property${attrs({ name, value: String(value) })}/>`;
}

function scenarioProperties(s: ScenarioResult): string[] {
  const props: string[] = [];
  const totals = blackoutSamples(s);
  if (totals.length) props.push(property('blackout.totalMs.median', num(median(totals))));
  if (s.kernel) props.push(property('kernel', s.kernel));
  if (s.to) props.push(property('to', s.to));
  for (const [k, v] of Object.entries(s.params ?? {})) props.push(property(`param.${k}`, typeof v === 'string' ? v : JSON.stringify(v)));
  for (const it of s.iterations) {
    props.push(property(`iteration.${it.index}.status`, it.status));
    for (const [k, v] of Object.entries(iterationMetrics(it))) props.push(property(`iteration.${it.index}.${k}`, num(v)));
  }
  return props;
}

function failureBody(s: ScenarioResult): string {
  const lines: string[] = [];
  if (s.reason) lines.push(s.reason);
  for (const c of s.checks) if (c.status === 'fail' || c.status === 'error') lines.push(`${c.status.toUpperCase()} ${c.name}${c.message ? ': ' + c.message : ''}`);
  return lines.join('\n');
}

function testcase(s: ScenarioResult, classname: string): string {
  const out: string[] = [];
  out.push(`    <testcase${attrs({ name: s.name, classname, time: seconds(s.durationMs) })}>`);
  const props = scenarioProperties(s);
  if (props.length) out.push('      <properties>', ...props.map((p) => '        ' + p), '      </properties>');
  const message = s.reason ?? s.checks.find((c) => c.status === s.status)?.message ?? s.status;
  if (s.status === 'fail') out.push(`      <failure${attrs({ message, type: 'fail' })}>${escapeText(failureBody(s))}</failure>`);
  else if (s.status === 'error') out.push(`      <error${attrs({ message, type: 'infra' })}>${escapeText(failureBody(s))}</error>`);
  else if (s.status === 'skip' || s.status === 'unsupported')
    out.push(`      <skipped${attrs({ message: `${s.status}: ${s.reason ?? 'no reason given'}` })}/>`);
  const outLines = [
    ...s.checks.map((c) => `check ${c.name}: ${c.status}${c.message ? ' — ' + c.message : ''}`),
    ...s.artifacts.map((a) => `${a.name}: ${a.path}`),
  ];
  if (outLines.length) out.push(`      <system-out>${escapeText(outLines.join('\n'))}</system-out>`);
  out.push('    </testcase>');
  return out.join('\n');
}

export function toJUnitXml(result: RunResult): string {
  const c = countStatuses(result.scenarios);
  const totals = {
    tests: result.scenarios.length,
    failures: c.fail,
    errors: c.error,
    skipped: c.skip + c.unsupported,
    time: secondsBetween(result.startedAt, result.finishedAt),
  };
  const runProps = [
    property('runId', result.runId),
    property('accelerator', result.accelerator),
    property('qemuVersion', result.qemuVersion),
    property('host.kernel', result.host.kernel),
    property('host.cpus', result.host.cpus),
    ...Object.keys(result.kernels).sort().map((k) => property(`kernel.${k}`, String(result.kernels[k]?.release ?? ''))),
  ];
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites${attrs({ name: 'luo-harness', ...totals, timestamp: result.startedAt })}>`,
    `  <testsuite${attrs({ name: `luo-harness ${result.runId}`, ...totals, timestamp: result.startedAt, hostname: result.host.hostname })}>`,
    '    <properties>',
    ...runProps.map((p) => '      ' + p),
    '    </properties>',
    ...result.scenarios.map((s) => testcase(s, `luo-harness.${s.kernel ?? 'kernel'}${s.to ? '-to-' + s.to : ''}`)),
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}
