// Findings on disk: a round trip keeps every field, a file that is not a
// finding (or holds a malformed operation) is bad input with a sentence.
import test from 'ava';
import { join } from 'node:path';
import { ConfigError } from '../../../harness/errors.ts';
import { FINDING_SCHEMA, findingTitle, parseFinding, readFinding, renderFinding, replayProgram, writeFinding, type Finding } from '../../../harness/fuzz/finding.ts';
import { campaignResults, replayResults } from '../../../harness/fuzz/results.ts';
import { overallVerdict } from '../../../harness/report/result.ts';
import type { Divergence } from '../../../harness/fuzz/executor.ts';
import { scratchDir } from '../../helpers/scratch.ts';

const divergence: Divergence = {
  kind: 'mismatch',
  phase: 'audit',
  opIndex: 3,
  call: { verb: 'raw-retrieve', options: { handle: 'audit-s0', token: '0x4', id: 'audit-m0' }, label: 'audit:raw-retrieve' },
  expected: [{ ok: true, fields: { size: 4096, seals: 15 } }],
  observed: { ok: true, fields: { size: 0, seals: 15, fd: 6 } },
  why: 'luo_retrieve_file: memfd_luo_retrieve: a memfd of the preserved size with the preserved seals',
  summary: 'raw-retrieve succeeded, but size is 0 where the model expects 4096',
  signature: 'raw-retrieve: size differ',
  entities: ['n:s1', 't:0x4'],
};
const finding: Finding = {
  schema: FINDING_SCHEMA,
  id: 2,
  title: findingTitle(divergence),
  kernel: { ref: 'tests/fixtures/kernels/memfd-bugs.json', recipe: 'luo-7.2-memfd-bugs', release: '7.2.13', key: 'bd24c4793beb51ef4ce4643f' },
  seed: 1,
  programIndex: 1,
  programSeed: 59228078692046,
  program: [
    { op: 'create', h: 'h1', name: 'n2'.padEnd(63, 'x') },
    { op: 'memfd', id: 'm3', size: 32768, seed: 850574632, sealed: true },
    { op: 'verify', id: 'm3' },
    { op: 'preserve-other', h: 'h1', token: '0x1', kind: 'liveupdate' },
    { op: 'preserve', h: 'h1', token: '0x4', memfd: 'm3' },
    { op: 'kexec' },
  ],
  divergence,
  reproduced: true,
  minimized: {
    ops: [{ op: 'create', h: 'h1', name: 's1' }, { op: 'memfd', id: 'm3', size: 4096, seed: 850574632, sealed: true }, { op: 'preserve', h: 'h1', token: '0x4', memfd: 'm3' }, { op: 'kexec' }],
    runs: 10,
    ms: 31_400,
    divergence,
    complete: true,
  },
  consoleLogs: ['finding-2-program-console-boot0.log', 'finding-2-minimized-console-boot1.log'],
  occurrences: 3,
  foundAtMs: 42_000,
};

test('a finding survives a round trip through its file', async (t) => {
  const path = join(scratchDir('finding-'), 'finding-2.json');
  await writeFinding(path, finding);
  t.deepEqual(await readFinding(path), finding);
  t.deepEqual(replayProgram(finding), finding.minimized!.ops);
  t.is(finding.title, 'raw-retrieve returns the wrong size');
});

test('what is not a finding, or holds a malformed operation, is bad input that says what is wrong', async (t) => {
  t.throws(() => parseFinding('{', 'f.json'), { instanceOf: ConfigError, message: /f.json is not JSON/ });
  t.throws(() => parseFinding('{"schema":"other"}', 'f.json'), { instanceOf: ConfigError, message: /not a luo-harness fuzz finding/ });
  const bad = { ...finding, program: [{ op: 'preserve', h: 'h1', token: 4, memfd: 'm3' }] };
  t.throws(() => parseFinding(JSON.stringify(bad), 'f.json'), { instanceOf: ConfigError, message: /program\[0\]: "token" must be a token/ });
  const unknown = { ...finding, program: [{ op: 'reboot' }] };
  t.throws(() => parseFinding(JSON.stringify(unknown), 'f.json'), { instanceOf: ConfigError, message: /unknown operation "reboot"/ });
  await t.throwsAsync(readFinding('/nonexistent/finding.json'), { instanceOf: ConfigError, message: /Cannot read the finding file/ });
});

test('the rendering shows the divergence, the rule and the minimized program', (t) => {
  const text = renderFinding(finding);
  t.regex(text, /size is 0 where the model expects 4096/);
  t.regex(text, /the model expected this because: luo_retrieve_file/);
  t.regex(text, /minimized to 4 of 6 operations in 10 runs:\n\s+1\. create h1 "s1"\n\s+2\. memfd m3 4K seed=850574632 sealed\n\s+3\. preserve h1 0x4 m3\n\s+4\. kexec/);
});

test('in the result model a confirmed finding is a failed result (exit 1), an unconfirmed one an error (exit 3), none a pass (exit 0)', (t) => {
  const stats = { programs: 12, kexecs: 20, calls: 400, boots: 2, findingRuns: 11, infraRetries: [], elapsedMs: 60_000, pairs: ['kexec -> ok'] };
  const results = campaignResults({ stats, findings: [finding], stoppedBy: 'budget' }, 'luo-7.2-memfd-bugs', 1);
  // The campaign's own row fails beside a confirmed finding, naming it.
  t.deepEqual(results.map((r) => [r.name, r.status]), [['fuzz/luo-7.2-memfd-bugs', 'fail'], ['fuzz/finding-2: raw-retrieve returns the wrong size', 'fail']]);
  t.is(results[0]!.reason, '1 finding(s) confirmed on a fresh machine: finding-2: raw-retrieve returns the wrong size');
  t.like(results[0]!.checks.find((c) => c.name.startsWith('no divergence')), { status: 'fail', message: 'finding-2: raw-retrieve returns the wrong size' });
  t.deepEqual(results[1]!.artifacts.map((a) => a.path), ['findings/finding-2.json', 'findings/finding-2-program-console-boot0.log', 'findings/finding-2-minimized-console-boot1.log']);
  t.is(overallVerdict({ scenarios: results }).exitCode, 1);
  const unconfirmed = campaignResults({ stats, findings: [{ ...finding, reproduced: false }], stoppedBy: 'budget' }, 'luo-7.2', 1);
  t.is(overallVerdict({ scenarios: unconfirmed }).exitCode, 3);
  t.is(unconfirmed[0]!.status, 'pass', 'a divergence that did not come back is the error row, not the campaign');
  const clean = campaignResults({ stats, findings: [], stoppedBy: 'budget' }, 'luo-7.2', 1);
  t.is(overallVerdict({ scenarios: clean }).exitCode, 0);
  t.deepEqual(clean.map((r) => r.status), ['pass']);
  const infra = campaignResults({ stats, findings: [], stoppedBy: 'infra', infraError: 'QEMU exited' }, 'luo-7.2', 1);
  t.is(overallVerdict({ scenarios: infra }).exitCode, 3);
});

test('a replay that reproduces fails (exit 1); one that runs clean passes', (t) => {
  const run = { steps: [], kexecs: 1, calls: 9, pairs: new Set<string>(), ms: 5000 };
  const again = replayResults({ finding, ops: finding.minimized!.ops, run: { ...run, divergence }, reproduced: true, consoleLogs: [] });
  t.is(overallVerdict({ scenarios: again }).exitCode, 1);
  const clean = replayResults({ finding, ops: finding.minimized!.ops, run, reproduced: false, consoleLogs: [] });
  t.is(overallVerdict({ scenarios: clean }).exitCode, 0);
});
