// A kernel whose config claims the memfd handler but whose handler refuses
// large files (our own series, tests/fixtures/series/memfd-luo-thread.mbox):
// the harness must fail the run with a sentence that says so, never call it
// unsupported.
import test from 'ava';
import { execa } from 'execa';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../harness/paths.ts';
import type { RunResult } from '../../harness/report/result.ts';

const work = mkdtempSync(join(tmpdir(), 'e2e-planted-'));
const cli = join(repoRoot, 'bin', 'luo-harness.js');
export const PLANTED = join(repoRoot, 'tests', 'fixtures', 'kernels', 'memfd-bugs.json');

test.serial('a refused 64 MiB memfd on a kernel with CONFIG_LIVEUPDATE_MEMFD=y fails the run (exit 1), saying so', async (t) => {
  const out = join(work, 'refused');
  const r = await execa('node', [cli, 'run', '--suite', 'smoke', '--scenarios', 'memfd-basic', '--kernel', PLANTED, '--out', out], { reject: false });
  t.is(r.exitCode, 1, r.stdout + r.stderr);
  const result = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as RunResult;
  const s = result.scenarios[0]!;
  t.is(s.status, 'fail');
  t.regex(s.reason!, /the kernel's config has CONFIG_LIVEUPDATE_MEMFD=y but LIVEUPDATE_SESSION_PRESERVE_FD refused a 64 MiB memfd \('vm0-m1'\) with ENOENT \(2\): the memfd handler should take it/);
  t.deepEqual(s.capabilities?.map((c) => [c.name, c.status]), [['memfd', 'fail']]);
  t.regex(r.stdout, /1 of 1 scenario\(s\) failed: memfd-basic/);
});

test.serial('below the refused size the same kernel preserves: a 16 MiB memfd-basic passes', async (t) => {
  const suite = join(work, 'small.json');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(suite, JSON.stringify({ scenarios: [{ name: 'memfd-basic', params: { size: '16M' } }] }));
  const r = await execa('node', [cli, 'run', '--suite', suite, '--kernel', PLANTED, '--out', join(work, 'small')], { reject: false });
  t.is(r.exitCode, 0, r.stdout + r.stderr);
});
