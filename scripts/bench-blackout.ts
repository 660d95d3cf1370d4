// Where one live update's time goes (prints figures; exits 1 when a sample did
// not pass): n runs of `luo-harness run` with memfd-basic on a 4 KiB memfd,
// each a process from the shell, and per span the median [samples] of
//   - the process: wall from spawn to exit, and the harness's own part of it
//     (wall minus the scenario: node's start, planning, reports);
//   - the waterfall: the cold boot's spans, the kexec load, the blackout phases;
//   - the kernel's own clock: printk time of "Run /init" on the cold boot and
//     after the kexec (the same kernel both times), and their ratio, left out
//     for a sample where either boot's clock started late (its PIT
//     calibration failed, as it can on a busy host; it is then said);
// To compare two trees (before and after a change, same machine, same hour),
// point `cli` at the other tree's bin/luo-harness.js.
//
// Usage: node --import tsx scripts/bench-blackout.ts [recipe=luo-7.3] [n=5] [cli=bin/luo-harness.js]
import { execa } from 'execa';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildKernel } from '../harness/kernel/pipeline.ts';
import { artifactPath } from '../harness/kernel/artifact.ts';
import { printkMs } from '../harness/liveupdate/timeline.ts';
import { median } from '../harness/report/stats.ts';
import type { RunResult } from '../harness/report/result.ts';

const recipe = process.argv[2] ?? 'luo-7.3';
const n = Number(process.argv[3] ?? 5);
const cli = process.argv[4] ? resolve(process.argv[4]) : fileURLToPath(new URL('../bin/luo-harness.js', import.meta.url));
const kernel = await buildKernel(recipe, { quiet: true });
const scratch = await mkdtemp(join(tmpdir(), 'bench-blackout-'));
const suite = join(scratch, 'memfd-4k.json');
await writeFile(suite, JSON.stringify({ description: 'bench: memfd-basic with a 4 KiB memfd', kernel: kernel.manifest.key, scenarios: [{ name: 'memfd-basic', params: { size: '4K' } }] }));

const samples: Record<string, number>[] = [];
const failed: string[] = [];
const lateClock: string[] = [];
for (let i = 0; i < n; i++) {
  process.stderr.write(`[bench] sample ${i + 1}/${n}\n`);
  const out = join(scratch, `run-${i}`);
  const t0 = performance.now();
  const r = await execa('node', [cli, 'run', '--suite', suite, '--out', out], { reject: false, all: true, timeout: 300_000 });
  const wall = performance.now() - t0;
  if (r.exitCode !== 0) {
    failed.push(`sample ${i + 1}: exit ${r.exitCode}: ${(r.all ?? '').trim().split('\n').slice(-3).join(' | ')}`);
    continue;
  }
  const result = JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as RunResult;
  const s = result.scenarios[0]!;
  const sample: Record<string, number> = { 'wall (spawn to exit)': wall, "harness's own (wall - scenario)": wall - s.durationMs };
  for (const w of s.waterfall ?? []) if (w.kind !== 'agent' && w.kind !== 'verify') sample[w.name] ??= w.ms;
  const blackout = s.iterations[0]?.blackout;
  if (blackout) sample['blackout total'] = blackout.totalMs;
  const runInit = async (boot: number) => {
    const log = await readFile(join(out, 'memfd-basic', `vm0-console-boot${boot}.log`), 'utf8');
    // A boot whose PIT calibration failed started its clock late: its printk times are not from setup_arch.
    if (log.includes('tsc: Unable to calibrate against PIT')) lateClock.push(`sample ${i + 1} boot ${boot}`);
    const line = log.split('\n').find((l) => l.includes('Run /init as init process'));
    return line ? printkMs(line.replace(/^\s*\S+\s+(b\d+\s+)?/, '')) : undefined;
  };
  const lateBefore = lateClock.length;
  const [cold, after] = [await runInit(0), await runInit(1)];
  if (cold !== undefined && after !== undefined && lateClock.length === lateBefore) {
    sample['printk Run /init, cold boot'] = cold;
    sample['printk Run /init, after the kexec'] = after;
    sample['after the kexec / cold (%)'] = (after / cold) * 100;
  }
  samples.push(sample);
}

const line = (s: string) => process.stdout.write(s + '\n');
line(`one live update of memfd-basic (4 KiB) on ${recipe} (${kernel.manifest.release}, ${kernel.manifest.key}), ${cli}, n=${samples.length} of ${n}: median [samples], ms`);
line(`bzImage: ${(await stat(artifactPath(kernel, 'bzImage'))).size} bytes (a segment kexec_file_load digests, with the initrd)`);
for (const name of new Set(samples.flatMap((s) => Object.keys(s)))) {
  const xs = samples.map((s) => s[name]).filter((x): x is number => x !== undefined);
  line(`  ${name.padEnd(40)} ${median(xs).toFixed(0).padStart(7)}  [${xs.map((x) => x.toFixed(0)).join(' ')}]`);
}
if (lateClock.length) line(`printk figures left out where a boot's PIT calibration failed (its clock started late): ${lateClock.join(', ')}`);
await rm(scratch, { recursive: true, force: true });
for (const f of failed) process.stderr.write(`bench-blackout: ${f}\n`);
if (failed.length > 0) process.exitCode = 1;
