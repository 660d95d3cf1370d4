// The SSH layer against an in-process ssh2 server (no QEMU): exec, upload, download,
// host key pinning, waiting with retries, death detection and reconnect.
import test from 'ava';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { InfraError, TestFailure } from '../../../harness/errors.ts';
import { GuestAuthError } from '../../../harness/guest/connect.ts';
import { GuestCommandError, GuestConnectionLost, GuestTimeout } from '../../../harness/guest/errors.ts';
import { GuestSession, waitForSsh } from '../../../harness/guest/session.ts';
import { fakeKeys, startForwarder, startSshd } from './fake-guest.ts';

type Ctx = { teardown: (fn: () => unknown) => void };

async function guest(t: Ctx) {
  const keys = fakeKeys();
  const sshd = await startSshd(keys);
  const fwd = await startForwarder();
  fwd.setBackend(sshd.port);
  t.teardown(() => Promise.all([sshd.close(), fwd.close()]));
  return { keys, sshd, fwd };
}

async function tempDir(t: Ctx) {
  const dir = await mkdtemp(join(tmpdir(), 'luo-guest-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('exec returns output and status; a non-zero status is a GuestCommandError (a TestFailure); run() does not throw', async (t) => {
  const { keys, fwd } = await guest(t);
  await using s = await waitForSsh({ port: fwd.port, keys, deadlineMs: 5000 });
  const ok = await s.exec('echo out; echo err >&2');
  t.like(ok, { exitCode: 0, stdout: 'out\n', stderr: 'err\n' });

  const err = await t.throwsAsync(s.exec('echo partial; echo "no such thing" >&2; exit 7'), { instanceOf: GuestCommandError });
  t.true(err instanceof TestFailure);
  t.is(err!.exitCode, 7);
  t.is(err!.command, 'echo partial; echo "no such thing" >&2; exit 7');
  t.is(err!.stderr, 'no such thing\n');
  t.regex(err!.detail ?? '', /no such thing/);

  t.like(await s.run('exit 3'), { exitCode: 3 });
  t.like(await s.exec('cat', { stdin: 'fed through stdin' }), { stdout: 'fed through stdin' });
});

test('upload streams a Buffer, a file and a stream into place with the mode, and checks the size', async (t) => {
  const { keys, fwd } = await guest(t);
  const dir = await tempDir(t);
  await using s = await waitForSsh({ port: fwd.port, keys, deadlineMs: 5000 });

  const data = Buffer.alloc(3 * 1024 * 1024 + 5);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
  t.deepEqual(await s.upload(data, join(dir, 'new/sub/a.bin'), { mode: 0o600 }), { bytes: data.length });
  t.true((await readFile(join(dir, 'new/sub/a.bin'))).equals(data));
  t.is((await stat(join(dir, 'new/sub/a.bin'))).mode & 0o777, 0o600);

  const local = join(dir, 'local.txt');
  await writeFile(local, "it's a file\n");
  await s.upload(local, join(dir, "dest with 'quotes'.txt"));
  t.is(await readFile(join(dir, "dest with 'quotes'.txt"), 'utf8'), "it's a file\n");
  t.is((await stat(join(dir, "dest with 'quotes'.txt"))).mode & 0o777, 0o644);

  await s.upload(Readable.from([Buffer.from('a'), Buffer.from('b')]), join(dir, 'stream.txt'), { mode: 0o755 });
  t.is(await readFile(join(dir, 'stream.txt'), 'utf8'), 'ab');

  // A failing upload (the target is a directory that cannot be replaced) says so.
  await t.throwsAsync(s.upload(data, dir), { instanceOf: GuestCommandError });
});

test('download streams a guest file out byte for byte (binary, any size); a missing file says so', async (t) => {
  const { keys, fwd } = await guest(t);
  const dir = await tempDir(t);
  await using s = await waitForSsh({ port: fwd.port, keys, deadlineMs: 5000 });
  const data = Buffer.alloc(2 * 1024 * 1024 + 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 131 + 7) & 0xff;
  await writeFile(join(dir, "the guest's file"), data);
  t.deepEqual(await s.download(join(dir, "the guest's file"), join(dir, 'copy')), { bytes: data.length });
  t.true((await readFile(join(dir, 'copy'))).equals(data));
  await t.throwsAsync(s.download(join(dir, 'absent'), join(dir, 'copy2')), { instanceOf: GuestCommandError });
});

test('a command past its time limit fails with GuestTimeout, and the session stays usable', async (t) => {
  const { keys, fwd } = await guest(t);
  await using s = await waitForSsh({ port: fwd.port, keys, deadlineMs: 5000 });
  const started = performance.now();
  await t.throwsAsync(s.exec('sleep 5', { timeoutMs: 200 }), { instanceOf: GuestTimeout, message: /sleep 5.*200 ms/ });
  t.true(performance.now() - started < 1500);
  t.like(await s.exec('echo still here'), { stdout: 'still here\n' });
});

test('a host key other than the pinned one is refused at once, without retries', async (t) => {
  const { keys, fwd } = await guest(t);
  const other = fakeKeys();
  const started = performance.now();
  await t.throwsAsync(waitForSsh({ port: fwd.port, keys: { ...keys, hostPublicKey: other.hostPublicKey }, deadlineMs: 10_000 }), {
    instanceOf: GuestAuthError,
    message: /host key other than this run's/,
  });
  t.true(performance.now() - started < 3000);
});

test('a remote host pinned by several keys (known_hosts) is accepted by any of them; a refusal names where the pin came from', async (t) => {
  const { keys, fwd } = await guest(t);
  const other = fakeKeys();
  await using s = await waitForSsh({ port: fwd.port, keys: { ...keys, hostPublicKey: [other.hostPublicKey, keys.hostPublicKey], hostKeySource: '~/.ssh/known_hosts' }, deadlineMs: 5000 });
  t.like(await s.exec('echo ok'), { stdout: 'ok\n' });
  await t.throwsAsync(waitForSsh({ port: fwd.port, keys: { ...keys, hostPublicKey: [other.hostPublicKey], hostKeySource: '~/.ssh/known_hosts' }, deadlineMs: 5000 }), {
    instanceOf: GuestAuthError,
    message: /other than the one pinned by ~\/\.ssh\/known_hosts; check that this is the machine you mean/,
  });
});

test('a client key the guest does not know is refused at once', async (t) => {
  const { keys, fwd } = await guest(t);
  const other = fakeKeys();
  await t.throwsAsync(waitForSsh({ port: fwd.port, keys: { ...keys, clientPrivateKey: other.clientPrivateKey }, deadlineMs: 10_000 }), {
    instanceOf: GuestAuthError,
    message: /rejected this run's client key/,
  });
});

test('waitForSsh waits for consoleReady, then retries until sshd answers', async (t) => {
  const keys = fakeKeys();
  const fwd = await startForwarder(); // the port accepts and drops, as QEMU's does before sshd runs
  t.teardown(() => fwd.close());
  let sshd: Awaited<ReturnType<typeof startSshd>> | undefined;
  t.teardown(() => sshd?.close());
  let consoleSaidReady = 0;
  const consoleReady = new Promise<void>((resolve) => setTimeout(() => ((consoleSaidReady = performance.now()), resolve()), 100));
  setTimeout(async () => {
    sshd = await startSshd(keys);
    fwd.setBackend(sshd.port);
  }, 400);
  const started = performance.now();
  await using s = await waitForSsh({ port: fwd.port, keys, consoleReady, deadlineMs: 5000 });
  const done = performance.now();
  t.true(consoleSaidReady > 0 && consoleSaidReady <= done);
  t.true(s.lastConnect!.attempts > 1, `attempts: ${s.lastConnect!.attempts}`);
  // Backoff is capped at 500 ms: sshd came up at ~400 ms, so no long sleeps.
  t.true(done - started < 1500, `took ${Math.round(done - started)} ms`);
  t.like(await s.exec('echo hi'), { stdout: 'hi\n' });
});

test('waitForSsh fails at once when consoleReady rejects (e.g. QEMU died)', async (t) => {
  const keys = fakeKeys();
  const died = new InfraError('QEMU exited with status 1 before sshd-ready');
  const started = performance.now();
  const err = await t.throwsAsync(waitForSsh({ port: 1, keys, consoleReady: Promise.reject(died), deadlineMs: 10_000 }));
  t.is(err, died);
  t.true(performance.now() - started < 500);
});

test('waitForSsh gives up at its deadline with an InfraError that keeps the last cause', async (t) => {
  const keys = fakeKeys();
  const fwd = await startForwarder(); // accepts and drops: nothing ever answers
  t.teardown(() => fwd.close());
  const started = performance.now();
  const err = await t.throwsAsync(waitForSsh({ port: fwd.port, keys, deadlineMs: 600 }), { instanceOf: InfraError, message: /within 600 ms/ });
  const took = performance.now() - started;
  t.true(took >= 550 && took < 1500, `took ${Math.round(took)} ms`);
  t.truthy(err!.cause);

  const never = new Promise<void>(() => {});
  await t.throwsAsync(waitForSsh({ port: fwd.port, keys, consoleReady: never, deadlineMs: 200 }), { instanceOf: InfraError, message: /sshd-ready/ });
});

test('a guest that goes silent (kexec) is seen dead within about 1.5 s; reconnect restores the session', async (t) => {
  const { keys, fwd } = await guest(t);
  const s = await waitForSsh({ port: fwd.port, keys, deadlineMs: 5000 });
  const inFlight = s.exec('sleep 30');
  const frozeAt = performance.now();
  fwd.freeze();
  await t.throwsAsync(inFlight, { instanceOf: GuestConnectionLost });
  const closed = await s.closed;
  const seenAfter = performance.now() - frozeAt;
  t.true(seenAfter >= 1000 && seenAfter < 3000, `seen after ${Math.round(seenAfter)} ms`);
  t.regex(closed.error?.message ?? '', /Keepalive/);
  t.false(s.connected);
  await t.throwsAsync(s.exec('true'), { instanceOf: InfraError, message: /not connected.*reconnect/ });

  // The "new kernel" brings up a fresh sshd with the same keys behind the same port.
  const sshd2 = await startSshd(keys);
  t.teardown(() => sshd2.close());
  fwd.setBackend(sshd2.port);
  await s.reconnect({ consoleReady: Promise.resolve(), deadlineMs: 5000 });
  t.true(s.connected);
  t.like(await s.exec('echo back'), { stdout: 'back\n' });
  await s.stop();
});

test('stop() is idempotent, closes the connection, and later use fails clearly', async (t) => {
  const { keys, fwd } = await guest(t);
  const s = await waitForSsh({ port: fwd.port, keys, deadlineMs: 5000 });
  const closed = s.closed;
  await s.stop();
  await s.stop();
  await s[Symbol.asyncDispose]();
  t.truthy(await closed);
  await t.throwsAsync(s.exec('true'), { instanceOf: InfraError, message: /stopped/ });
  await t.throwsAsync(s.reconnect({ deadlineMs: 1000 }), { instanceOf: InfraError, message: /stopped/ });
  const fresh = new GuestSession({ port: fwd.port, keys });
  t.false(fresh.connected);
  await fresh.stop();
});
