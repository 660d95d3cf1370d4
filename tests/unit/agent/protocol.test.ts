import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, InfraError, TestFailure, Unsupported } from '../../../harness/errors.ts';
import { AGENT_BIN, AGENT_VERBS, type AgentVerb, agentArgv, parseAgentReply } from '../../../harness/agent/protocol.ts';
import { AgentOpError, AgentProtocolError, harnessErrorFor } from '../../../harness/agent/errors.ts';
import { AgentClient, describeRuns, type RunningKernel } from '../../../harness/agent/client.ts';

// Real stdout of the agent, recorded in QEMU on Linux 7.2 across a kexec.
const fixtures = fileURLToPath(new URL('../../fixtures/agent/', import.meta.url));
const raw = (file: string) => readFileSync(join(fixtures, file), 'utf8');

interface Recorded {
  name: string;
  verb: AgentVerb;
  argv: string[];
  exitCode: number;
  boot: number | null;
  file: string;
}
const recorded = (JSON.parse(raw('recorded.json')) as { runs: Recorded[] }).runs;
const run = (name: string): Recorded => {
  const found = recorded.find((r) => r.name === name);
  if (!found) throw new Error(`no recorded run ${name}`);
  return found;
};
const reply = <V extends AgentVerb>(name: string, verb: V) => parseAgentReply(verb, raw(run(name).file), run(name).exitCode);
const ok = <V extends AgentVerb>(name: string, verb: V) => {
  const r = reply(name, verb);
  if (!r.ok) throw harnessErrorFor(r.error);
  return r.value;
};
/** An AgentClient whose guest answers every call with one recorded reply, on a kernel with these config options. */
const clientAnswering = (name: string, capabilities: RunningKernel['capabilities'], stdout = raw(run(name).file)) =>
  new AgentClient({ request: async () => stdout.trim() }, () => ({ capabilities, label: 'luo-7.2 (7.2.13)' }));
const STOCK = { LIVEUPDATE: true, LIVEUPDATE_MEMFD: true, PCI_LIVEUPDATE: false, VFIO_PCI_LIVEUPDATE: false, IOMMUFD_LIVEUPDATE: false };
const failure = (name: string, verb: AgentVerb): AgentOpError => {
  const r = reply(name, verb);
  if (r.ok) throw new Error(`${name} unexpectedly succeeded`);
  return r.error;
};

test('every recorded reply validates against its verb, and "ok" matches the exit status', (t) => {
  t.true(recorded.length >= 40);
  const seen = new Set<string>();
  for (const r of recorded) {
    t.true(AGENT_VERBS.includes(r.verb), `${r.name}: unknown verb ${r.verb}`);
    const parsed = parseAgentReply(r.verb, raw(r.file), r.exitCode);
    t.is(parsed.ok, r.exitCode === 0, r.name);
    seen.add(r.verb);
  }
  t.deepEqual(
    AGENT_VERBS.filter((v) => !seen.has(v)),
    [],
    'every verb has a recording',
  );
});

test('a memfd preserved across kexec verifies whole: every page, the creation hash', (t) => {
  const created = ok('memfd-create', 'memfd-create');
  const restored = ok('memfd-verify-restored', 'memfd-verify');
  t.is(restored.origin, 'restored');
  t.is(restored.pages, 16384);
  t.is(restored.size, 64 * 1024 * 1024);
  t.is(restored.mismatched_pages, 0);
  t.deepEqual(restored.first_mismatched_pages, []);
  t.is(restored.sha256, created.sha256!);
  t.true(restored.sha256_match);
  t.true(restored.intact);
  t.is(created.seed, 42n);
});

test('a second kexec from the restored kernel hands over a new session', (t) => {
  const verify = ok('memfd-verify-boot2', 'memfd-verify');
  t.is(run('memfd-verify-boot2').boot, 2);
  t.true(verify.intact);
  t.is(verify.sha256, ok('memfd-create-2', 'memfd-create').sha256!);
  t.true(ok('kexec-exec-2', 'kexec-exec').rebooting);
  t.is(ok('status-boot2', 'status').restore.files, 1);
});

test('sealed memfds come back with their seals', (t) => {
  const sealed = ok('memfd-verify-sealed', 'memfd-verify');
  // F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE
  t.is(sealed.seals, 15);
  t.true(sealed.intact);
});

test('u64 clocks survive parsing exactly, past 2^53', (t) => {
  const file = raw(run('status-boot1').file);
  const digits = /"realtime_ns":(\d+)/.exec(file)![1]!;
  t.true(digits.length > 16);
  const status = ok('status-boot1', 'status');
  t.is(status.restore.realtime_ns, BigInt(digits));
  t.is(typeof status.restore.tsc, 'bigint');
  t.true(status.restore.found);
  t.is(status.restore.sessions, 1);
  t.is(status.sessions[0]!.direction, 'incoming');
  t.is(status.boot, 1);
});

test('the heartbeat reports the blackout a workload saw across the kexec', (t) => {
  const before = ok('heartbeat-report-before', 'heartbeat-report').heartbeat;
  const after = ok('heartbeat-report', 'heartbeat-report').heartbeat;
  t.is(before.generation, 0);
  t.is(before.restore_gap_ns, null);
  t.is(after.generation, 1);
  t.truthy(after.restore_gap_ns);
  t.is(after.restore_gap_ns, after.after_restore_realtime_ns! - after.before_freeze_realtime_ns!);
  t.true(after.max_gap_ns >= after.restore_gap_ns!);
});

test('the DMA round trip through edu and the vIOMMU matched', (t) => {
  const dma = ok('edu-dma', 'edu-dma');
  t.is(dma.id, '0x10000ed');
  t.true(dma.verified);
  t.is(dma.dst_matched_before, false);
  t.is(dma.match, true);
  t.is(ok('ioas-map', 'ioas-map').method, 'IOMMU_IOAS_MAP_FILE');
});

test('a failed ioctl keeps its exact op, errno and fds', (t) => {
  const e = failure('fd-preserve-iommufd', 'fd-preserve');
  t.true(e instanceof AgentOpError);
  t.is(e.op, 'LIVEUPDATE_SESSION_PRESERVE_FD');
  t.is(e.errno, 2);
  t.is(e.errnoName, 'ENOENT');
  t.is(e.fd, 8);
  t.is(e.targetFd, 11);
  t.regex(e.message, /LIVEUPDATE_SESSION_PRESERVE_FD failed with ENOENT \(2\) on fd 8/);
});

test('agent failures map to the harness error a user can act on', (t) => {
  t.true(harnessErrorFor(failure('session-create-no-liveupdate', 'session-create')) instanceof Unsupported);
  t.true(harnessErrorFor(failure('connect-no-daemon', 'status')) instanceof InfraError);
  t.true(harnessErrorFor(failure('session-create-missing-name', 'session-create')) instanceof ConfigError);
  const dup = harnessErrorFor(failure('memfd-preserve-dup-token', 'memfd-preserve'));
  t.true(dup instanceof TestFailure);
  t.regex(dup.message, /EEXIST/);
  const attach = harnessErrorFor(failure('vfio-open-after-unaligned-map', 'vfio-open'));
  t.true(attach instanceof TestFailure);
  t.is((attach.cause as AgentOpError).errnoName, 'EADDRINUSE');
});

test('a refused preservation is unsupported only where the config lacks the handler', async (t) => {
  const stock = await t.throwsAsync(clientAnswering('fd-preserve-vfio', STOCK).call('fd-preserve', { session: 'vmm', 'fd-kind': 'vfio', token: 0x3000 }));
  t.true(stock instanceof Unsupported);
  t.regex(stock!.message, /^luo-7\.2 \(7\.2\.13\) has no VFIO device live-update handler \(its config has CONFIG_PCI_LIVEUPDATE=n and CONFIG_VFIO_PCI_LIVEUPDATE=n\): LIVEUPDATE_SESSION_PRESERVE_FD refused the VFIO device \(cdev\) fd with ENOENT \(2\)/);
  t.true(stock!.cause instanceof AgentOpError);
  const claimed = await t.throwsAsync(clientAnswering('fd-preserve-vfio', { ...STOCK, PCI_LIVEUPDATE: true, VFIO_PCI_LIVEUPDATE: true }).call('fd-preserve', { session: 'vmm', 'fd-kind': 'vfio', token: 0x3000 }));
  t.true(claimed instanceof TestFailure);
  t.regex(claimed!.message, /^the kernel's config has CONFIG_PCI_LIVEUPDATE=y and CONFIG_VFIO_PCI_LIVEUPDATE=y but LIVEUPDATE_SESSION_PRESERVE_FD refused/);
  t.true((await t.throwsAsync(clientAnswering('fd-preserve-iommufd', STOCK).call('fd-preserve', { session: 'vmm', 'fd-kind': 'iommufd', token: 0x2000 }))) instanceof Unsupported);
});

test('a memfd refused by a kernel whose config has the memfd handler is a failure that says so', async (t) => {
  const client = clientAnswering('memfd-preserve-hugetlb', STOCK);
  const e = await t.throwsAsync(client.call('memfd-preserve', { session: 'h', id: 'huge', token: 1 }, { kind: 'memfd', what: "a 64 MiB memfd ('vm0-m1')" }));
  t.true(e instanceof TestFailure);
  t.is(e!.message, "the kernel's config has CONFIG_LIVEUPDATE_MEMFD=y but LIVEUPDATE_SESSION_PRESERVE_FD refused a 64 MiB memfd ('vm0-m1') with ENOENT (2): the memfd handler should take it");
  // The same refusal of a hugetlb memfd: no kernel handler takes hugetlbfs files.
  const huge = await t.throwsAsync(client.call('memfd-preserve', { session: 'h', id: 'huge', token: 1 }, { kind: 'memfd-hugetlb', what: 'a 2 MiB memfd' }));
  t.true(huge instanceof Unsupported);
  t.regex(huge!.message, /no hugetlb memfd live-update handler \(no kernel handler for a hugetlb memfd exists\)/);
  // Without the handler in the config, the agent's own state memfd is refused at session-create: said plainly.
  // (What the agent prints when plan_ensure_state cannot preserve its state memfd.)
  const refusedState = JSON.stringify({ ok: false, verb: 'session-create', error: { op: 'LIVEUPDATE_SESSION_PRESERVE_FD', errno: 2, errno_name: 'ENOENT', message: 'preserve the state memfd: No such file or directory', fd: 5, target_fd: 6 } });
  const state = await t.throwsAsync(clientAnswering('session-create', { ...STOCK, LIVEUPDATE_MEMFD: false }, refusedState).call('session-create', { name: 'vm0' }));
  t.true(state instanceof Unsupported);
  t.regex(state!.message, /CONFIG_LIVEUPDATE_MEMFD=n\): LIVEUPDATE_SESSION_PRESERVE_FD refused the agent's state memfd \(it keeps the agent's plan, so no session can be made without it\)/);
});

test('a hugetlb memfd is refused by the stock memfd handler: unsupported, not a failure', async (t) => {
  t.true(ok('memfd-create-hugetlb-reserved', 'memfd-create').hugetlb);
  const e = failure('memfd-preserve-hugetlb', 'memfd-preserve');
  t.is(e.errnoName, 'ENOENT');
  t.is(e.targetFd, 6);
  const viaHandle = await t.throwsAsync(clientAnswering('memfd-preserve-hugetlb', STOCK).call('memfd-preserve', { session: 'h', id: 'huge', token: 1 }, { kind: 'memfd-hugetlb', what: 'x' }));
  t.true(viaHandle instanceof Unsupported);
  t.true(ok('memfd-verify-hugetlb', 'memfd-verify').intact);
});

test('without IOMMU_IOAS_MAP_FILE the agent maps through mmap and the DMA still matches', (t) => {
  t.is(ok('ioas-map-fallback', 'ioas-map').method, 'IOMMU_IOAS_MAP');
  t.true(ok('edu-dma-fallback', 'edu-dma').match!);
});

test('a successful reply comes back typed', (t) => {
  const session: string = ok('session-create', 'session-create').name;
  t.is(session, 'demo');
});

test('output that is not a reply is a protocol error, never a pass', (t) => {
  const good = raw(run('session-create').file);
  const bad = (text: string, exit?: number, verb: AgentVerb = 'session-create') =>
    t.throws(() => parseAgentReply(verb, text, exit), { instanceOf: AgentProtocolError });
  bad('');
  bad('luo-agent: command not found');
  bad(`${good}${good}`);
  bad('{"ok":true,');
  bad('{"verb":"session-create"}');
  bad(good, 1); // exit status contradicts ok
  bad(good, undefined, 'session-close'); // reply for another verb
  t.true(new AgentProtocolError('x') instanceof InfraError);
});

test('a missing or mistyped field is named by its path', (t) => {
  const status = raw(run('status-boot1').file);
  const missing = status.replace(/"tsc":\d+,/, '');
  t.throws(() => parseAgentReply('status', missing), { message: /restore\.tsc is missing/ });
  const mistyped = status.replace('"found":true', '"found":"yes"');
  t.throws(() => parseAgentReply('status', mistyped), { message: /restore\.found is "yes", expected boolean/ });
  const badEnum = status.replace('"direction":"incoming"', '"direction":"sideways"');
  t.throws(() => parseAgentReply('status', badEnum), { message: /sessions\[0\]\.direction/ });
  const badToken = raw(run('heartbeat-start').file).replace('"0x4842"', '"4842"');
  t.throws(() => parseAgentReply('heartbeat-start', badToken), { message: /token is "4842", expected hex/ });
});

test('long digit runs inside strings stay strings; unknown fields pass through', (t) => {
  const text = raw(run('status-boot0').file)
    .replace('luo_harness.boot=0"', 'luo_harness.boot=0 x=123456789012345678901,2"')
    .replace('"pid":', '"future_field":12345678901234567890,"pid":');
  const status = ok('status-boot0', 'status');
  const r = parseAgentReply('status', text, 0);
  if (!r.ok) throw r.error;
  const parsed = r.value as typeof status & { future_field: unknown };
  t.true(parsed.cmdline.endsWith('x=123456789012345678901,2'));
  t.is(parsed.future_field, '12345678901234567890');
});

test('agentArgv spells options as the agent reads them', (t) => {
  t.deepEqual(agentArgv('memfd-create', { name: 'big', size: 64 * 1024 * 1024, seed: 42n, hugetlb: false, seals: true }), [
    AGENT_BIN,
    'memfd-create',
    '--name',
    'big',
    '--size',
    '67108864',
    '--seed',
    '42',
    '--seals',
  ]);
  t.deepEqual(agentArgv('status', {}), [AGENT_BIN, 'status']);
  t.deepEqual(agentArgv('fd-preserve', { session: 'demo', 'fd-kind': 'iommufd', token: '0x2001' }).slice(2), [
    '--session',
    'demo',
    '--fd-kind',
    'iommufd',
    '--token',
    '0x2001',
  ]);
  t.throws(() => agentArgv('kexec-load', { kernel: '/boot/bzImage', cmdline: '--oops' }), { instanceOf: ConfigError });
});

test('the recorded argv of each run is what agentArgv builds', (t) => {
  const create = run('memfd-create');
  t.deepEqual(agentArgv('memfd-create', { name: 'big', size: '64M', seed: 42 }).slice(1), create.argv.slice(1));
  const preserve = run('memfd-preserve');
  t.deepEqual(agentArgv('memfd-preserve', { session: 'demo', id: 'big', token: '0x1001' }).slice(1), preserve.argv.slice(1));
});

test('writes and fallocate() change what a memfd must hold: each reply carries the new expected hash, and verify agrees', (t) => {
  const created = ok('memfd-create-fallocate', 'memfd-create');
  const mmap = ok('memfd-write-mmap', 'memfd-write');
  const write = ok('memfd-write-write', 'memfd-write');
  const punch = ok('memfd-fallocate-punch', 'memfd-fallocate');
  t.is(mmap.via, 'mmap');
  t.is(write.via, 'write');
  t.not(mmap.sha256, created.sha256!, 'written pages change the expected hash');
  t.is(punch.sha256, write.sha256, 'punching a hole that was never written changes nothing');
  t.false(punch.preserved);
  const verify = ok('memfd-verify-written', 'memfd-verify');
  t.true(verify.intact);
  t.is(verify.sha256, write.sha256);
  t.deepEqual(verify.mismatched_runs, []);
  // After PRESERVE_FD the kernel freezes the allocation; past the end is the caller's mistake.
  const frozen = failure('memfd-fallocate-preserved', 'memfd-fallocate');
  t.deepEqual([frozen.op, frozen.errnoName], ['fallocate', 'EPERM']);
  const outside = failure('memfd-write-past-end', 'memfd-write');
  t.deepEqual([outside.op, outside.errnoName], ['argument', 'EINVAL']);
  t.regex(outside.message, /pages 250\.\.260 are not inside memfd 'rec' \(256 pages\)/);
});

test('a verify of an older agent has no mismatched runs: the client falls back to the first pages', (t) => {
  const old = ok('memfd-verify-restored', 'memfd-verify');
  t.is(old.mismatched_runs, undefined);
});

test('mismatched runs in words: where, what the pages went through (the latest region), expected and found', (t) => {
  const layout = [
    { first: 0, pages: 4096, what: 'a hole never written' },
    { first: 1024, pages: 1024, what: 'fallocated before PRESERVE_FD, never written' },
    { first: 1024, pages: 512, what: 'fallocated, first written after PRESERVE_FD by mmap stores, seed 13' },
  ];
  const words = describeRuns(
    [
      { first: 1024, pages: 512, expected: '0x9e3779b97f4a7c15', found: '0x0', zero: true },
      { first: 3000, pages: 1, expected: '0x0', found: '0x1234', zero: false },
    ],
    2,
    layout,
  );
  t.is(words, 'pages 1024-1535 (fallocated, first written after PRESERVE_FD by mmap stores, seed 13) read as zeros, expected 0x9e3779b97f4a7c15...; page 3000 (a hole never written) holds 0x1234, expected 0x0...; and 2 more run(s)');
});

test('the nested VM\'s RAM as its firmware leaves it: one +1 step at the stop, pages off a given layout named with what they hold', (t) => {
  const fit = ok('vm-ram-check-stopped', 'vm-ram-check');
  t.false(fit.given);
  t.is(fit.high, fit.low + 1, 'stopped mid-pass: pages before the stop one pass ahead');
  t.is(fit.low, fit.counter, 'the pages not reached yet hold the pass counter');
  t.is(fit.off_pages, 0);
  t.true(fit.boundary > fit.first && fit.boundary < fit.first + fit.pages);
  const off = ok('vm-ram-check-given-off', 'vm-ram-check');
  t.true(off.given);
  t.is(off.off_pages, fit.first + fit.pages - fit.boundary, 'every page from the boundary on is off a layout that wants them one higher');
  t.deepEqual(off.first_off[0], { page: fit.boundary, found: fit.low, expected: fit.low + 1 });
  t.is(off.sha256, fit.sha256, 'the RAM did not change between the two reads');
  const outside = failure('vm-ram-check-outside', 'vm-ram-check');
  t.deepEqual([outside.op, outside.errnoName], ['argument', 'EINVAL']);
});
