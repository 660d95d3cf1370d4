// The running-VM scenario's figures (prints them; exits 1 when a sample did
// not pass): n runs of `luo-harness run` with vm-survives alone, each a
// process from the shell, medians and samples of its wall time, the VM-seen
// downtime and where it goes (the VMM's save, the harness's own checks while
// the VM is stopped, the kexec, the restart), the nested QEMU's start and
// the tiny guest's passes per second. Under TCG the nested VM is TCG in TCG.
//
// Usage: node --import tsx scripts/bench-vm.ts [n=3] [to=]   (to: luo-7.3 for A -> B)
import { execa } from 'execa';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from '../harness/report/stats.ts';
import type { RunResult } from '../harness/report/result.ts';

const n = Number(process.argv[2] ?? 3);
const to = process.argv[3];
const cli = fileURLToPath(new URL('../bin/luo-harness.js', import.meta.url));
const scratch = await mkdtemp(join(tmpdir(), 'bench-vm-'));
const suite = join(scratch, 'vm.json');
await writeFile(suite, JSON.stringify({ scenarios: [{ name: 'vm-survives', ...(to ? { to } : {}) }] }));

const samples: Record<string, number[]> = {};
const add = (k: string, v: number | undefined) => v !== undefined && (samples[k] ??= []).push(v);
let failed = 0;
for (let i = 0; i < n; i++) {
  process.stderr.write(`[bench-vm] sample ${i + 1}/${n}\n`);
  const out = join(scratch, `run-${i}`);
  const t0 = performance.now();
  const r = await execa('node', [cli, 'run', '--suite', suite, '--out', out], { reject: false, stderr: 'inherit' });
  const wall = performance.now() - t0;
  const s = (JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as RunResult).scenarios[0]!;
  if (r.exitCode !== 0 || s.status !== 'pass') {
    failed++;
    process.stderr.write(`[bench-vm] sample ${i + 1} did not pass: ${s.status} ${s.reason ?? ''}\n`);
    continue;
  }
  const it = s.iterations[0]!;
  add('wall (s)', wall / 1000);
  add('scenario (s)', s.durationMs / 1000);
  add('blackout (ms)', it.blackout?.totalMs);
  for (const k of ['vmDowntimeMs', 'vmSaveMs', 'vmHarnessChecksMs', 'vmRestartMs', 'vmQemuStartMs', 'vmStateBytes']) add(k, it.metrics?.[k]);
  const perPass = it.metrics?.vmMsPerPass;
  add('passes per second', perPass ? 1000 / perPass : undefined);
}
const line = (s: string) => process.stdout.write(s + '\n');
line(`vm-survives on luo-7.2${to ? ` -> ${to}` : ' (same kernel)'}, TCG, n=${n} (${n - failed} passed), median [samples]`);
for (const [k, xs] of Object.entries(samples)) line(`  ${k.padEnd(22)} ${median(xs).toFixed(k.includes('(s)') ? 1 : 0).padStart(9)}  [${xs.map((x) => x.toFixed(k.includes('(s)') ? 1 : 0)).join(' ')}]`);
await rm(scratch, { recursive: true, force: true });
if (failed) process.exitCode = 1;
