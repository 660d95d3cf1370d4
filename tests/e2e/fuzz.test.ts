// luo-harness fuzz for real: a TCG guest, the in-guest agent's raw verbs,
// real kexecs. On stock luo-7.2 a few programs end with no finding; on the
// planted kernel (our own series, tests/fixtures/kernels/memfd-bugs.json,
// whose patch 4 restores sealed memfds one page short) the fuzzer finds the
// sealed-memfd bug, minimizes it to a handful of operations, and --replay
// reproduces it there and not on the stock kernel.
import test from 'ava';
import { execa } from 'execa';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../harness/paths.ts';
import type { RunResult, ScenarioResult } from '../../harness/report/result.ts';
import { generateProgram } from '../../harness/fuzz/generator.ts';
import { executeProgram } from '../../harness/fuzz/executor.ts';
import { programSeed } from '../../harness/fuzz/rng.ts';
import { readFinding } from '../../harness/fuzz/finding.ts';
import { lateWritesLost, ModelKernel, plantedKernel } from '../unit/fuzz/model-kernel.ts';
import { LATE_WRITES, PLANTED } from '../helpers/planted.ts';

const work = mkdtempSync(join(tmpdir(), 'e2e-fuzz-'));
const cli = join(repoRoot, 'bin', 'luo-harness.js');
const results = (dir: string) => JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as RunResult;
const show = (r: { stdout: string; stderr: string }) => `${r.stdout}\n${r.stderr}`.slice(-6000);

test.serial('on stock luo-7.2 a few programs (each ending in a kexec) give no finding, exit 0', async (t) => {
  const out = join(work, 'stock');
  const started = performance.now();
  const r = await execa('node', [cli, 'fuzz', '--kernel', 'luo-7.2', '--seed', '7', '--programs', '4', '--out', out], { reject: false });
  t.log(`${((performance.now() - started) / 1000).toFixed(1)} s`);
  t.is(r.exitCode, 0, show(r));
  const res = results(out);
  t.deepEqual(res.scenarios.map((s) => [s.name, s.status]), [['fuzz/luo-7.2', 'pass']], show(r));
  const p = res.scenarios[0]!.params!;
  t.is(p.programs, 4);
  t.true((p.kexecs as number) >= 4, `every program ends in a kexec: ${p.kexecs}`);
  t.true((p.pairs as string[]).includes('kexec -> ok'));
  t.true((p.pairs as string[]).length >= 10, `${(p.pairs as string[]).length} pairs`);
  t.regex(r.stderr, /\[fuzz\] .*4 programs, \d+ kexecs, 0 finding\(s\)/, 'the progress line');
  t.regex(readFileSync(join(out, 'junit.xml'), 'utf8'), /failures="0"/);
});

test.serial('on the planted kernel the sealed-memfd bug is found, minimized to a handful of operations, and --replay reproduces it', async (t) => {
  // A seed whose first program meets the planted bugs in a model of that kernel (fast, in-process):
  // the real kernel must then show the same divergence, whatever the generator draws today.
  let seed = 0;
  for (let s = 1; s < 200 && !seed; s++) {
    const p = generateProgram(programSeed(s, 0));
    const sim = await executeProgram(new ModelKernel(plantedKernel), p.ops);
    if (p.ops.length <= 15 && /size differ/.test(sim.divergence?.signature ?? '')) seed = s;
  }
  // Without one there is nothing to run: stop here rather than fuzz with seed 0 and judge that.
  if (!seed) return t.fail('no seed from 1 to 199 meets the sealed-memfd bug in its first program');
  const out = join(work, 'planted');
  const started = performance.now();
  const r = await execa('node', [cli, 'fuzz', '--kernel', PLANTED, '--seed', String(seed), '--programs', '1', '--out', out], { reject: false });
  t.log(`seed ${seed}: found and minimized in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  t.is(r.exitCode, 1, show(r));
  const res = results(out);
  const found = res.scenarios.filter((s) => s.name.startsWith('fuzz/finding-'));
  t.is(found.length, 1, show(r));
  t.like(res.scenarios.find((s) => s.name.startsWith('fuzz/') && !s.name.startsWith('fuzz/finding-')), { status: 'fail' }, 'the campaign row fails beside its confirmed finding');
  const f: ScenarioResult = found[0]!;
  t.is(f.status, 'fail');
  t.regex(f.name, /returns the wrong size/);
  t.regex(f.reason!, /size is \d+ where the model expects \d+/);
  const file = join(out, 'findings', 'finding-1.json');
  const finding = await readFinding(file);
  t.true(finding.reproduced, 'confirmed on a fresh machine');
  const ops = finding.minimized?.ops ?? [];
  t.log(ops.map((o) => JSON.stringify(o)).join('\n'));
  t.true(ops.length >= 3 && ops.length <= 6, `minimized to ${ops.length} operations`);
  t.true(ops.some((o) => o.op === 'memfd' && o.sealed === true), 'a sealed memfd');
  for (const k of ['create', 'preserve', 'kexec']) t.true(ops.some((o) => o.op === k), k);
  t.true(finding.consoleLogs.length >= 2);
  for (const c of finding.consoleLogs) t.true(existsSync(join(out, 'findings', c)), c);
  for (const a of f.artifacts) t.true(existsSync(join(out, a.path)), a.path);
  t.regex(readFileSync(join(out, 'junit.xml'), 'utf8'), /<failure[^>]*>[^<]*size is \d+ where the model expects \d+/);
  t.regex(readFileSync(join(out, 'report.html'), 'utf8'), /finding-1/);

  const again = await execa('node', [cli, 'fuzz', '--replay', file, '--out', join(work, 'replay')], { reject: false });
  t.is(again.exitCode, 1, show(again));
  t.regex(again.stdout, /reproduced: .*size is \d+ where the model expects \d+/);
  const stock = await execa('node', [cli, 'fuzz', '--replay', file, '--kernel', 'luo-7.2', '--out', join(work, 'replay-stock')], { reject: false });
  t.is(stock.exitCode, 0, `the stock kernel keeps the size: ${show(stock)}`);
});

test.serial('on the late-writes kernel a fallocated page written after PRESERVE_FD and lost is found, minimized, and --replay reproduces it there and not on the stock kernel', async (t) => {
  // A short program that meets the lost write in a model of that kernel; the real kernel must then diverge the same way.
  let seed = 0;
  for (let s = 1; s < 400 && !seed; s++) {
    const p = generateProgram(programSeed(s, 0));
    const sim = await executeProgram(new ModelKernel(lateWritesLost()), p.ops);
    if (p.ops.length <= 10 && /mismatched_pages differ/.test(sim.divergence?.signature ?? '')) seed = s;
  }
  if (!seed) return t.fail('no seed from 1 to 399 meets the lost write in its first program');
  const out = join(work, 'late-writes');
  const r = await execa('node', [cli, 'fuzz', '--kernel', LATE_WRITES, '--seed', String(seed), '--programs', '1', '--out', out], { reject: false });
  t.is(r.exitCode, 1, show(r));
  const f = results(out).scenarios.find((s) => s.name.startsWith('fuzz/finding-'));
  t.is(f?.status, 'fail', show(r));
  t.regex(f!.reason!, /mismatched_pages is [1-9]\d* where the model expects 0/);
  const file = join(out, 'findings', 'finding-1.json');
  const finding = await readFinding(file);
  t.true(finding.reproduced, 'confirmed on a fresh machine');
  const ops = finding.minimized?.ops ?? [];
  t.log(ops.map((o) => JSON.stringify(o)).join('\n'));
  t.true(ops.length >= 4 && ops.length <= 6, `minimized to ${ops.length} operations`);
  t.true(ops.some((o) => o.op === 'memfd' && o.fill === 'fallocate'), 'a fallocated memfd');
  const at = (k: string) => ops.findIndex((o) => o.op === k);
  t.true(at('preserve') >= 0 && at('write') > at('preserve') && at('kexec') > at('write'), 'written after PRESERVE_FD, before the kexec');
  const again = await execa('node', [cli, 'fuzz', '--replay', file, '--out', join(work, 'late-replay')], { reject: false });
  t.is(again.exitCode, 1, show(again));
  const stock = await execa('node', [cli, 'fuzz', '--replay', file, '--kernel', 'luo-7.2', '--out', join(work, 'late-replay-stock')], { reject: false });
  t.is(stock.exitCode, 0, `the stock kernel keeps the write: ${show(stock)}`);
});
