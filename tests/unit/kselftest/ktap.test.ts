import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from '../../../harness/paths.ts';
import { flattenKtap, harnessStatus, kselftestExitStatus, ktapChecks, ktapVerdict, parseKtap } from '../../../harness/kselftest/ktap.ts';

const fixture = (name: string) => readFile(join(repoRoot, 'tests/fixtures/kselftest/ktap', name), 'utf8');

test('recorded pass: 15 results, RUN/OK lines attached to their test, totals as trailer', async (t) => {
  const doc = parseKtap(await fixture('liveupdate-pass.tap'));
  t.is(doc.version, 'TAP version 13');
  t.deepEqual(doc.plan, { count: 15 });
  t.is(doc.results.length, 15);
  t.true(doc.results.every((r) => r.status === 'pass'));
  t.deepEqual(doc.problems, []);
  t.is(doc.results[4]!.name, 'liveupdate_device.preserve_memfd');
  t.deepEqual(doc.results[4]!.diagnostics, [' RUN           liveupdate_device.preserve_memfd ...', '           OK  liveupdate_device.preserve_memfd']);
  t.deepEqual(doc.diagnostics, ['PASSED: 15 / 15 tests passed.', 'Totals: pass:15 fail:0 xfail:0 xpass:0 skip:0 error:0']);
  t.deepEqual(ktapVerdict(doc, 0), { status: 'pass', counts: { pass: 15, fail: 0, skip: 0, xfail: 0, xpass: 0, todo: 0, error: 0 } });
});

test('recorded failure (/dev/liveupdate busy): every test fails with its assertion as diagnostic', async (t) => {
  const doc = parseKtap(await fixture('liveupdate-fail-ebusy.tap'));
  t.is(doc.results.length, 15);
  t.true(doc.results.every((r) => r.status === 'fail'));
  t.true(doc.results[0]!.diagnostics.includes('liveupdate.c:67:basic_open_close:Expected self->fd1 (-1) >= 0 (0)'));
  t.true(doc.results[0]!.diagnostics.includes('basic_open_close: Test terminated by assertion'));
  const v = ktapVerdict(doc, 1);
  t.is(v.status, 'fail');
  t.regex(v.reason!, /^15 failed: liveupdate_device.basic_open_close, /);
});

test('recorded skip without /dev/liveupdate: harness exits 0 but every test skipped => skip, with the reason', async (t) => {
  const doc = parseKtap(await fixture('liveupdate-skip-no-device.tap'));
  t.is(doc.results.length, 15);
  t.true(doc.results.every((r) => r.status === 'skip' && r.directive === 'SKIP'));
  t.is(doc.results[0]!.reason, '/dev/liveupdate does not exist.');
  const v = ktapVerdict(doc, 0);
  t.is(v.status, 'skip');
  t.is(v.reason, '/dev/liveupdate does not exist.; /dev/liveupdate does not exist');
});

test('recorded ksft_exit_skip: "1..0 # SKIP" plan, exit 4', async (t) => {
  const doc = parseKtap(await fixture('luo_kexec_simple-skip-no-device.tap'));
  t.deepEqual(doc.plan, { count: 0, skipReason: 'Failed to open /dev/liveupdate. Is the luo module loaded?' });
  t.is(doc.results.length, 0);
  t.deepEqual(doc.problems, []);
  t.deepEqual(ktapVerdict(doc, 4).status, 'skip');
  t.is(ktapVerdict(doc, 4).reason, 'Failed to open /dev/liveupdate. Is the luo module loaded?');
});

test('recorded Bail out! is a failure with its message', async (t) => {
  const doc = parseKtap(await fixture('luo_kexec_simple-bail-out.tap'));
  t.is(doc.bailOut, 'Stage mismatch Requested --stage 2, but system is in stage 1.');
  t.deepEqual(doc.diagnostics, ['(State session kexec_simple_state: MISSING)', 'Totals: pass:0 fail:0 xfail:0 xpass:0 skip:0 error:0']);
  const v = ktapVerdict(doc, 1);
  t.is(v.status, 'fail');
  t.is(v.reason, 'bail out: Stage mismatch Requested --stage 2, but system is in stage 1.');
});

test('recorded truncation (VM powered off mid-run): missing results become errors', async (t) => {
  const doc = parseKtap(await fixture('liveupdate-truncated.log'));
  t.is(doc.results.length, 15);
  t.deepEqual(
    doc.results.slice(0, 3).map((r) => r.status),
    ['pass', 'pass', 'pass'],
  );
  const missing = doc.results.slice(3);
  t.true(missing.every((r) => r.status === 'error' && r.reason === 'truncated: plan promised 15, got 3'));
  t.deepEqual(missing.map((r) => r.number), [4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
  // The kernel's own line (timestamp stripped) and the RUN line of the interrupted test stay visible.
  t.deepEqual(doc.diagnostics, [' RUN           liveupdate_device.create_distinct_sessions ...', 'reboot: Power down']);
  const v = ktapVerdict(doc);
  t.is(v.status, 'error');
  t.is(v.reason, 'truncated: plan promised 15, got 3');
});

test('kselftest runner output: "# "-prefixed programs become subtests', async (t) => {
  const doc = parseKtap(await fixture('runner-nested.tap'));
  t.deepEqual(doc.plan, { count: 3 });
  t.deepEqual(
    doc.results.map((r) => [r.name, r.status]),
    [
      ['selftests: liveupdate: liveupdate', 'pass'],
      ['selftests: liveupdate: luo_kexec_simple', 'skip'],
      ['selftests: liveupdate: luo_multi_session', 'fail'],
    ],
  );
  t.is(doc.results[2]!.reason, 'exit=1');
  const first = doc.results[0]!.subtests!;
  t.is(first.name, 'selftests: liveupdate: liveupdate');
  t.is(first.results.length, 15);
  t.is(doc.results[1]!.subtests!.plan!.skipReason, 'Failed to open /dev/liveupdate. Is the luo module loaded?');
  t.is(doc.results[2]!.subtests!.bailOut, 'Stage mismatch Requested --stage 2, but system is in stage 1.');
  t.deepEqual(doc.results[0]!.diagnostics, ['timeout set to 45', 'selftests: liveupdate: liveupdate']);
  const flat = flattenKtap(doc);
  t.is(flat.length, 18);
  t.is(flat[4]!.path, 'selftests: liveupdate: liveupdate/liveupdate_device.preserve_memfd');
  t.is(ktapVerdict(doc, 1).status, 'fail');
});

test('KTAP 1 with indented subtests, # Subtest headers, XFAIL, TODO and a two-line expectation', async (t) => {
  const doc = parseKtap(await fixture('kunit-nested.ktap'));
  t.is(doc.version, 'KTAP version 1');
  t.deepEqual(doc.problems, []);
  const [memfd, kho] = doc.results;
  t.is(memfd!.status, 'fail');
  t.is(memfd!.subtests!.name, 'memfd_luo');
  t.deepEqual(memfd!.subtests!.results.map((r) => r.status), ['pass', 'fail', 'skip']);
  t.deepEqual(memfd!.subtests!.results[1]!.diagnostics, [
    'preserve_large: EXPECTATION FAILED at mm/memfd_luo_test.c:88',
    'Expected nr_folios == 512, but',
    'nr_folios == 511 (0x1ff)',
  ]);
  t.is(memfd!.subtests!.results[2]!.reason, 'CONFIG_HUGETLBFS is not enabled');
  t.is(kho!.status, 'pass');
  const orders = kho!.subtests!.results[0]!.subtests!;
  t.is(orders.name, 'kho_vmalloc_orders');
  t.deepEqual(orders.results.map((r) => r.status), ['pass', 'pass', 'xfail']);
  t.is(kho!.subtests!.results[1]!.status, 'todo');
  t.deepEqual(doc.diagnostics, ['Totals: pass:4 fail:1 skip:1 total:6']);
  t.is(flattenKtap(doc).find((r) => r.path === 'kho_vmalloc/kho_vmalloc_orders/order-10')!.status, 'xfail');
});

test('directives, escapes and odd lines', (t) => {
  const doc = parseKtap(
    [
      'TAP version 14',
      '1..6',
      'ok 1 - plain',
      'not ok 2 with \\# hash # TODO not yet',
      'ok 3 # SKIP',
      'not ok 4 kselftest message #  errno 16',
      'not ok 5 broken # error setup failed',
      'ok 6 expected # XFAIL known bug',
      'random printk noise',
    ].join('\r\n'),
  );
  t.deepEqual(
    doc.results.map((r) => [r.name, r.status, r.reason]),
    [
      ['plain', 'pass', undefined],
      ['with # hash', 'todo', 'not yet'],
      ['', 'skip', undefined],
      ['kselftest message', 'fail', 'errno 16'],
      ['broken', 'error', 'setup failed'],
      ['expected', 'xfail', 'known bug'],
    ],
  );
  t.deepEqual(doc.diagnostics, ['random printk noise']);
  // fail outranks error.
  t.is(ktapVerdict(doc).status, 'fail');
  t.deepEqual(parseKtap('').problems, ['no TAP output: neither a plan nor any result']);
  t.is(ktapVerdict(parseKtap('')).status, 'error');
  t.deepEqual(parseKtap('1..1\nok 1 a\nok 2 b').problems, ['plan promised 1, got 2']);
  // A subtest cut off before its parent's result line.
  const cut = parseKtap('KTAP version 1\n1..1\n    # Subtest: s\n    1..2\n    ok 1 a\n');
  t.is(cut.results[0]!.status, 'error');
  t.is(cut.results[0]!.subtests!.results[1]!.reason, 'truncated: plan promised 2, got 1');
});

test('exit code mapping and status mapping', (t) => {
  t.deepEqual(kselftestExitStatus(0), { status: 'pass', meaning: 'pass' });
  t.deepEqual(kselftestExitStatus(1), { status: 'fail', meaning: 'fail' });
  t.deepEqual(kselftestExitStatus(4), { status: 'skip', meaning: 'skip' });
  // As the kernel's runner.sh: any exit but 0 and 4 is a failure, xfail and xpass included.
  t.deepEqual(kselftestExitStatus(2), { status: 'fail', meaning: 'xfail' });
  t.deepEqual(kselftestExitStatus(3), { status: 'fail', meaning: 'xpass' });
  t.deepEqual(kselftestExitStatus(139), { status: 'fail', meaning: 'killed by signal 11' });
  t.is(harnessStatus('xfail'), 'pass');
  t.is(harnessStatus('error'), 'error');
  // TAP all green but the program exited 1.
  const green = parseKtap('TAP version 13\n1..1\nok 1 a\n');
  t.is(ktapVerdict(green, 1).status, 'fail');
  t.regex(ktapVerdict(green, 1).reason!, /exit code 1 \(fail\) although no TAP result failed/);
});

test('ktapChecks: one check per leaf with the assertion as message', async (t) => {
  const checks = ktapChecks(parseKtap(await fixture('liveupdate-fail-ebusy.tap')));
  t.is(checks.length, 15);
  t.deepEqual(checks[0], {
    name: 'liveupdate_device.basic_open_close',
    status: 'fail',
    message: 'liveupdate.c:67:basic_open_close:Expected self->fd1 (-1) >= 0 (0) | basic_open_close: Test terminated by assertion',
  });
  const nested = ktapChecks(parseKtap(await fixture('runner-nested.tap')));
  // Programs with subtests contribute their leaves; the others are leaves themselves.
  t.deepEqual(nested.slice(-2), [
    { name: 'selftests: liveupdate: luo_kexec_simple', status: 'skip', message: 'Failed to open /dev/liveupdate. Is the luo module loaded?' },
    {
      name: 'selftests: liveupdate: luo_multi_session',
      status: 'fail',
      message: 'exit=1 | bail out: Stage mismatch Requested --stage 2, but system is in stage 1.',
    },
  ]);
  t.is(nested.length, 17);
  const truncated = ktapChecks(parseKtap(await fixture('liveupdate-truncated.log')));
  t.is(truncated.filter((c) => c.status === 'error').length, 12);
});
