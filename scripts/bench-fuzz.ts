// The fuzzer's honesty benchmark (prints figures; asserts nothing): a budget
// of `luo-harness fuzz` on each kernel, as a process started from the shell,
// and what it reached: programs run, kexecs, findings, distinct (operation,
// outcome) pairs, cold boots, host failures re-run. On a stock kernel every
// finding is a false one (or a real bug: read it); on the planted kernel
// (tests/fixtures/kernels/memfd-bugs.json) it prints the time to find and
// minimize each finding and the minimized program's length.
//
// Usage: node --import tsx scripts/bench-fuzz.ts [budget=10m] [kernel...=luo-7.2 luo-7.3] [--seed N]
import { execa } from 'execa';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunResult } from '../harness/report/result.ts';
import { readFinding } from '../harness/fuzz/finding.ts';

const args = process.argv.slice(2);
const seedAt = args.indexOf('--seed');
const seed = seedAt >= 0 ? args.splice(seedAt, 2)[1]! : String(Date.now() % 2 ** 31);
const budget = args[0] ?? '10m';
const kernels = args.length > 1 ? args.slice(1) : ['luo-7.2', 'luo-7.3'];
const cli = fileURLToPath(new URL('../bin/luo-harness.js', import.meta.url));
const scratch = await mkdtemp(join(tmpdir(), 'bench-fuzz-'));
const log = (s: string) => process.stderr.write(`[bench] ${s}\n`);

const rows: string[][] = [];
for (const kernel of kernels) {
  const out = join(scratch, kernel.replace(/[^A-Za-z0-9.-]+/g, '_'));
  log(`${kernel}: fuzz --budget ${budget} --seed ${seed} (results in ${out})`);
  const t0 = performance.now();
  const r = await execa('node', [cli, 'fuzz', '--kernel', kernel, '--budget', budget, '--seed', seed, '--out', out], { reject: false, stderr: 'inherit' });
  const wallS = (performance.now() - t0) / 1000;
  const result = JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as RunResult;
  const summary = result.scenarios.find((s) => s.name.startsWith('fuzz/') && !s.name.startsWith('fuzz/finding-'))!;
  const p = summary.params as { programs: number; kexecs: number; calls: number; boots: number; findings: number; pairs: string[]; infraRetries: string[] };
  rows.push([kernel, String(r.exitCode), String(p.programs), String(p.kexecs), String(p.calls), String(p.pairs.length), String(p.findings), String(p.boots), String(p.infraRetries.length), wallS.toFixed(0)]);
  for (const f of result.scenarios.filter((s) => s.name.startsWith('fuzz/finding-'))) {
    const file = f.artifacts.find((a) => a.path.endsWith('.json'))!;
    const finding = await readFinding(join(out, file.path));
    const m = finding.minimized;
    log(`${kernel}: ${f.name} [${f.status}] found after ${(finding.foundAtMs / 1000).toFixed(0)} s` +
      (m ? `, minimized from ${finding.program.length} to ${m.ops.length} operations in ${m.runs} runs, ${(m.ms / 1000).toFixed(0)} s` : ', not minimized') + `; seen ${finding.occurrences}x`);
  }
  log(`${kernel}: pairs reached: ${p.pairs.join('; ')}`);
}
const header = ['kernel', 'exit', 'programs', 'kexecs', 'calls', 'pairs', 'findings', 'boots', 'host re-runs', 'wall s'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
process.stdout.write(`fuzz --budget ${budget} --seed ${seed}\n${line(header)}\n${line(widths.map((w) => '-'.repeat(w)))}\n${rows.map(line).join('\n')}\n`);
