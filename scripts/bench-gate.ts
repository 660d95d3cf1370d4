// Benchmark of the baseline gate itself (prints figures; asserts nothing).
// A baseline of the unchanged kernel, then N gate runs of the unchanged
// kernel (each a false regression if it fails) and N runs with a slowdown
// planted in the guest: the agent waits +30 % of the baseline's median total
// blackout before it restores (luo_agent.restore_delay_ms), so the delay is
// real and measured like any other. Every run is `luo-harness run --suite
// smoke --scenarios memfd-basic --baseline`, as a CI job would call it.
// Usage: node --import tsx scripts/bench-gate.ts [N=10] [--slowdown 30%]
import { execa } from 'execa';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../harness/paths.ts';
import { median } from '../harness/report/stats.ts';
import type { RunResult } from '../harness/report/result.ts';

const n = Number(process.argv[2] ?? 10);
const slowdownArg = process.argv.indexOf('--slowdown');
const slowdown = slowdownArg > 0 ? Number(process.argv[slowdownArg + 1]!.replace('%', '')) / 100 : 0.3;
const cli = join(repoRoot, 'bin', 'luo-harness.js');
const work = await mkdtemp(join(tmpdir(), 'bench-gate-'));
const say = (m: string) => process.stderr.write(m + '\n');
const started = performance.now();

async function run(out: string, args: string[]): Promise<{ exitCode: number; result: RunResult; gateLine: string }> {
  const r = await execa('node', [cli, 'run', '--suite', 'smoke', '--scenarios', 'memfd-basic', '--out', out, ...args], { reject: false, stderr: ['pipe', 'inherit'] });
  const result = JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as RunResult;
  return { exitCode: r.exitCode ?? -1, result, gateLine: r.stdout.split('\n').find((l) => l.startsWith('GATE:')) ?? '' };
}
const totals = (r: RunResult) => r.scenarios.flatMap((s) => s.iterations.map((i) => i.blackout?.totalMs).filter((x): x is number => x !== undefined));

say(`baseline: memfd-basic, 5 live updates, unchanged kernel`);
const base = await run(join(work, 'base'), ['--iterations', '5']);
if (base.exitCode !== 0) throw new Error(`the baseline run failed (exit ${base.exitCode})`);
const baseline = join(work, 'baseline.json');
await execa('node', [cli, 'baseline', 'save', join(work, 'base'), '--out', baseline]);
const baseMedian = median(totals(base.result));
const delayMs = Math.round(slowdown * baseMedian);
say(`baseline median total blackout ${baseMedian.toFixed(0)} ms; planted slowdown +${(slowdown * 100).toFixed(0)} % = ${delayMs} ms`);

const rows: { kind: string; i: number; exit: number; median: number; line: string }[] = [];
for (const [kind, extra] of [['unchanged', []], ['slowed', ['--cmdline', `luo_agent.restore_delay_ms=${delayMs}`]]] as const) {
  for (let i = 0; i < n; i++) {
    const r = await run(join(work, `${kind}-${i}`), ['--baseline', baseline, ...extra]);
    rows.push({ kind, i, exit: r.exitCode, median: median(totals(r.result)), line: r.gateLine });
    say(`${kind} ${i + 1}/${n}: exit ${r.exitCode}, median ${median(totals(r.result)).toFixed(0)} ms: ${r.gateLine.slice(0, 110)}`);
  }
}

const unchanged = rows.filter((r) => r.kind === 'unchanged');
const slowed = rows.filter((r) => r.kind === 'slowed');
const falsePositives = unchanged.filter((r) => r.exit === 1).length;
const detected = slowed.filter((r) => r.exit === 1).length;
const wallS = (performance.now() - started) / 1000;
console.log(`gate benchmark: memfd-basic 64 MiB, 5 live updates a side, baseline median ${baseMedian.toFixed(0)} ms, slowdown +${delayMs} ms (+${(slowdown * 100).toFixed(0)} %)`);
console.log(`unchanged kernel: ${falsePositives} of ${n} false regressions (medians ${unchanged.map((r) => r.median.toFixed(0)).join(', ')} ms; exits ${unchanged.map((r) => r.exit).join(' ')})`);
console.log(`planted slowdown: ${detected} of ${n} caught (medians ${slowed.map((r) => r.median.toFixed(0)).join(', ')} ms; exits ${slowed.map((r) => r.exit).join(' ')})`);
console.log(`wall time: ${wallS.toFixed(0)} s for ${1 + 2 * n} runs (${(wallS / (1 + 2 * n)).toFixed(1)} s per gate run)`);
console.log(`results under ${work}`);
