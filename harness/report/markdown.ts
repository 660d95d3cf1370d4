// A Markdown summary for a CI job summary or a PR comment: the first line
// says what broke, then one table row per scenario.
import { fileRows, patchLine, sidesLine } from './coverage-text.ts';
import { gateLine, type Comparison } from './baseline.ts';
import { blackoutSamples, overallVerdict, targetLine, type RunResult, type Status } from './result.ts';
import { median } from './stats.ts';

const ICON: Record<Status, string> = { pass: '✅', fail: '❌', error: '⚠️', skip: '⏭️', unsupported: '🚫' };

/** Table cells cannot hold `|` or newlines. */
const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
const ms = (x: number) => `${x.toFixed(x >= 100 ? 0 : 1)} ms`;

/** Per kernel: the files' table, how each boot was counted, and per patch its added lines run and not run. */
function coverageMarkdown(c: NonNullable<RunResult['coverage']>): string[] {
  return c.kernels.flatMap((k) => [
    `**Coverage of ${cell(k.recipe)} (${cell(k.release)})**, every boot added together${k.tracefile ? ` (\`${cell(k.tracefile)}\`)` : ''}:`,
    '',
    ...(k.error ? [`No coverage: ${cell(k.error)}`] : ['| File | Lines | Functions |', '| --- | ---: | ---: |', ...fileRows(k).map((r) => `| ${r.map(cell).join(' | ')} |`)]),
    '',
    `Counted: ${cell(sidesLine(k))}`,
    ...(k.patches.length ? ['', ...k.patches.map((p) => `- ${cell(patchLine(p))}`)] : []),
    '',
  ]);
}

export function toMarkdown(result: RunResult, given?: Comparison): string {
  const comparison = given ?? result.gate?.comparison;
  const v = overallVerdict(comparison && !result.gate ? { ...result, gate: { strict: false, comparison } } : result);
  const icon = v.exitCode === 0 ? '✅' : v.exitCode === 1 ? '❌' : v.exitCode === 4 ? '⏭️' : '⚠️';
  const lines = [`${icon} **${cell(v.headline)}**`, ''];
  const kernels = Object.keys(result.kernels).sort().join(', ') || 'n/a';
  lines.push(`Run \`${result.runId}\` on ${result.host.hostname} (${result.accelerator}${result.target ? '' : `, QEMU ${result.qemuVersion}`}), kernels: ${kernels}.`, '');
  if (result.target) lines.push(`Target: ${cell(targetLine(result.target))}.`, '');
  // A patch that applied only with fuzz is never silent.
  for (const [name, k] of Object.entries(result.kernels)) {
    for (const f of (k.fuzzed as { patch: string; hunks: string[] }[] | undefined) ?? []) lines.push(`> ⚠️ ${cell(name)}: patch ${cell(f.patch)} applied only with fuzz (${cell(f.hunks.join('; '))})`);
  }
  if (lines.at(-1)!.startsWith('>')) lines.push('');
  lines.push('| Scenario | Status | Capabilities | Blackout median | Iterations | Reason |', '| --- | --- | --- | ---: | ---: | --- |');
  for (const s of result.scenarios) {
    const totals = blackoutSamples(s);
    const vm = s.iterations.map((i) => i.metrics?.vmDowntimeMs).filter((x) => x !== undefined);
    // A VM that ran across the live update: the downtime it saw beside the host's blackout.
    const b = (totals.length ? `${ms(median(totals))} (n=${totals.length})` : '—') + (vm.length ? `; VM-seen ${ms(median(vm))}` : '');
    const caps = (s.capabilities ?? []).map((c) => `${c.name} ${ICON[c.status]} ${c.status}`).join(', ') || '—';
    lines.push(`| ${cell(s.name)} | ${ICON[s.status]} ${s.status} | ${cell(caps)} | ${b} | ${s.iterations.length} | ${cell(s.reason ?? '')} |`);
  }
  if (result.coverage) lines.push('', ...coverageMarkdown(result.coverage));
  if (comparison) {
    const notable = comparison.verdicts.filter((x) => x.kind !== 'unchanged').sort((a, b) => Number(b.gated) - Number(a.gated));
    lines.push('', `**Baseline gate:** ${cell(gateLine(comparison, result.gate?.strict))}`);
    if (notable.length) lines.push('', ...notable.map((x) => `- ${cell(x.sentence)}`));
  }
  return lines.join('\n') + '\n';
}
