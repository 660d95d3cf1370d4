// The remote target against the QEMU target on the same kernel (prints
// figures; asserts nothing): memfd-basic (64 MiB) with n live updates on one
// machine, once through `luo-harness run` on QEMU and once through
// `luo-harness run --target` on a QEMU machine standing in for a lab host
// (harness/target/stand-in.ts: reached over SSH and its serial console on a
// TCP socket, as a real host is). Both are CLI processes started from here;
// the blackout medians come from their results.json, side by side.
//
// Under TCG both sides run the same emulated CPU, so the difference is the
// path, not the hardware: on the remote target every measured kexec starts
// from a kernel that was itself kexec'd (the first hop), where QEMU's first
// one starts from a cold boot.
//
// Usage: node --import tsx scripts/bench-remote.ts [recipe=luo-7.2] [n=5]
import { execa } from 'execa';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveKernelRef } from '../harness/kernel/refs.ts';
import { newRunDir } from '../harness/liveupdate/machine-logs.ts';
import { BLACKOUT_PHASES, type RunResult } from '../harness/report/result.ts';
import { median } from '../harness/report/stats.ts';
import { StandInHost } from '../harness/target/stand-in.ts';

const recipe = process.argv[2] ?? 'luo-7.2';
const n = Number(process.argv[3] ?? 5);
const kernel = await resolveKernelRef(recipe);
const scratch = await mkdtemp(join(tmpdir(), 'bench-remote-'));
const cli = fileURLToPath(new URL('../bin/luo-harness.js', import.meta.url));
const log = (s: string) => process.stderr.write(`[bench] ${s}\n`);
const common = ['--suite', 'smoke', '--scenarios', 'memfd-basic', '--kernel', kernel.manifest.key, '--iterations', String(n)];

/** One `luo-harness run`, its output passed through, its results read back. */
async function run(label: string, extra: string[]): Promise<RunResult> {
  const out = join(scratch, label);
  log(`${label}: luo-harness run ${[...common, ...extra].join(' ')}`);
  const r = await execa('node', [cli, 'run', ...common, '--out', out, ...extra], { reject: false, stdout: 'inherit', stderr: 'inherit', timeout: 1_200_000 });
  if (r.exitCode !== 0) log(`${label}: exit ${r.exitCode}`);
  return JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as RunResult;
}

const qemu = await run('qemu', []);
const host = await StandInHost.boot({ kernel, runDir: newRunDir('bench-stand-in') });
let remote: RunResult;
try {
  remote = await run('remote', [
    '--target', host.url, '--console', host.consoleCommand, '--yes-reboot-the-target',
    '--host-key', host.hostKey, '--identity', host.identityFile, '--power-cycle', host.resetCommand, '--reboot-timeout', '120',
  ]);
} finally {
  await host.stop();
}

/** Per phase and in total: the median over the passing live updates, and how many there were. */
function figures(r: RunResult) {
  const its = r.scenarios.flatMap((s) => s.iterations).filter((i) => i.status === 'pass' && i.blackout);
  const of = (f: (b: NonNullable<(typeof its)[number]['blackout']>) => number) => (its.length ? median(its.map((i) => f(i.blackout!))) : NaN);
  return {
    n: its.length,
    accelerator: r.accelerator,
    total: of((b) => b.totalMs),
    phases: Object.fromEntries(BLACKOUT_PHASES.map((p) => [p, of((b) => b.phases.find((x) => x.name === p)?.ms ?? NaN)])),
    guest: of((b) => b.guestTscMs ?? NaN),
  };
}
const [q, h] = [figures(qemu), figures(remote!)];
const row = (name: string, a: number, b: number) => `${name.padEnd(16)} ${a.toFixed(0).padStart(8)} ${b.toFixed(0).padStart(8)} ${(b - a >= 0 ? '+' : '') + (b - a).toFixed(0).padStart(6)}`;
const lines = [
  `memfd-basic (64 MiB) on ${kernel.manifest.recipe} (${kernel.manifest.release}), blackout medians in ms; QEMU target n=${q.n} (${q.accelerator}), remote target n=${h.n} (${h.accelerator}, ${remote!.target?.hostname ?? '?'})`,
  `${'phase'.padEnd(16)} ${'qemu'.padStart(8)} ${'remote'.padStart(8)} ${'diff'.padStart(7)}`,
  row('total', q.total, h.total),
  ...BLACKOUT_PHASES.map((p) => row(p, q.phases[p]!, h.phases[p]!)),
  row('guest TSC', q.guest, h.guest),
  `results: ${scratch}/qemu, ${scratch}/remote`,
];
process.stdout.write(lines.join('\n') + '\n');
