// JUnit XML, the format every CI system renders: one testsuite per run, one
// testcase per scenario; blackout figures as properties, console log paths in
// system-out.
import { fileRows, patchLine, sidesLine } from './coverage-text.ts';
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
  for (const c of s.capabilities ?? []) props.push(property(`capability.${c.name}`, c.status));
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
    ...(s.capabilities ?? []).map((c) => `capability ${c.name}: ${c.status}${c.reason ? ' — ' + c.reason : ''}`),
    ...s.checks.map((c) => `check ${c.name}: ${c.status}${c.message ? ' — ' + c.message : ''}`),
    ...s.artifacts.map((a) => `${a.name}: ${a.path}`),
  ];
  if (outLines.length) out.push(`      <system-out>${escapeText(outLines.join('\n'))}</system-out>`);
  out.push('    </testcase>');
  return out.join('\n');
}

/** One testcase per gated metric: a regression fails it, not enough evidence skips it (fails it with --strict). */
/**
 * `--coverage`: one test case per kernel (its files' counts and how each boot
 * was counted) and one per patch (its added lines run and not run), as
 * output a CI shows a reviewer; coverage is information, never a failure.
 */
function coverageSuite(result: RunResult): { xml: string[]; tests: number } {
  if (!result.coverage) return { xml: [], tests: 0 };
  const cases = result.coverage.kernels.flatMap((k) => {
    const table = k.error ? `no coverage: ${k.error}` : fileRows(k).map((r) => r.join('  ')).join('\n');
    const kernelCase = [`    <testcase${attrs({ name: `${k.recipe} (${k.release})`, classname: 'luo-harness.coverage', time: '0.000' })}>`, `      <system-out>${escapeText(`${table}\ncounted: ${sidesLine(k)}`)}</system-out>`, '    </testcase>'].join('\n');
    const patchCases = k.patches.map((p) => [`    <testcase${attrs({ name: p.patch, classname: `luo-harness.coverage.${k.recipe}`, time: '0.000' })}>`, `      <system-out>${escapeText(patchLine(p))}</system-out>`, '    </testcase>'].join('\n'));
    return [kernelCase, ...patchCases];
  });
  return {
    xml: [`  <testsuite${attrs({ name: 'luo-harness coverage', tests: cases.length, failures: 0, errors: 0, skipped: 0, time: '0.000', timestamp: result.finishedAt, hostname: result.host.hostname })}>`, ...cases, '  </testsuite>'],
    tests: cases.length,
  };
}

function gateSuite(result: RunResult): { xml: string[]; tests: number; failures: number; skipped: number } {
  const gate = result.gate;
  if (!gate) return { xml: [], tests: 0, failures: 0, skipped: 0 };
  const gated = gate.comparison.verdicts.filter((v) => v.gated);
  let failures = 0;
  let skipped = 0;
  const cases = gated.map((v) => {
    const head = `    <testcase${attrs({ name: v.key, classname: 'luo-harness.gate', time: '0.000' })}>`;
    let body = '';
    if (v.kind === 'regression' || (gate.strict && v.kind === 'insufficient-evidence')) {
      failures++;
      body = `      <failure${attrs({ message: v.sentence, type: v.kind })}>${escapeText(v.sentence)}</failure>`;
    } else if (v.kind === 'insufficient-evidence' || v.kind === 'missing-current' || v.kind === 'missing-baseline') {
      skipped++;
      body = `      <skipped${attrs({ message: v.sentence })}/>`;
    } else body = `      <system-out>${escapeText(v.sentence)}</system-out>`;
    return [head, body, '    </testcase>'].join('\n');
  });
  const totals = { tests: gated.length, failures, errors: 0, skipped, time: '0.000' };
  return {
    xml: [
      `  <testsuite${attrs({ name: 'luo-harness gate', ...totals, timestamp: result.finishedAt, hostname: result.host.hostname })}>`,
      '    <properties>',
      '      ' + property('baseline', gate.baseline),
      '      ' + property('strict', String(gate.strict)),
      '      ' + property('gate', gate.line),
      '    </properties>',
      ...cases,
      '  </testsuite>',
    ],
    tests: gated.length,
    failures,
    skipped,
  };
}

export function toJUnitXml(result: RunResult): string {
  const c = countStatuses(result.scenarios);
  const suite = {
    tests: result.scenarios.length,
    failures: c.fail,
    errors: c.error,
    skipped: c.skip + c.unsupported,
    time: secondsBetween(result.startedAt, result.finishedAt),
  };
  const gate = gateSuite(result);
  const coverage = coverageSuite(result);
  const totals = { ...suite, tests: suite.tests + gate.tests + coverage.tests, failures: suite.failures + gate.failures, skipped: suite.skipped + gate.skipped };
  const runProps = [
    property('runId', result.runId),
    property('accelerator', result.accelerator),
    property('qemuVersion', result.qemuVersion),
    property('host.kernel', result.host.kernel),
    property('host.cpus', result.host.cpus),
    ...(result.target
      ? [property('target.address', result.target.address), property('target.cpu', result.target.cpu), property('target.cpus', result.target.cpus), property('target.memoryMiB', result.target.memoryMiB), property('target.kernelBefore', result.target.kernelBefore), ...(result.target.platformEvidence ? [property('target.platformEvidence', result.target.platformEvidence)] : [])]
      : []),
    ...Object.keys(result.kernels).sort().map((k) => property(`kernel.${k}`, String(result.kernels[k]?.release ?? ''))),
  ];
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites${attrs({ name: 'luo-harness', ...totals, timestamp: result.startedAt })}>`,
    `  <testsuite${attrs({ name: `luo-harness ${result.runId}`, ...suite, timestamp: result.startedAt, hostname: result.host.hostname })}>`,
    '    <properties>',
    ...runProps.map((p) => '      ' + p),
    '    </properties>',
    ...result.scenarios.map((s) => testcase(s, `luo-harness.${s.kernel ?? 'kernel'}${s.to ? '-to-' + s.to : ''}`)),
    '  </testsuite>',
    ...gate.xml,
    ...coverage.xml,
    '</testsuites>',
    '',
  ].join('\n');
}
