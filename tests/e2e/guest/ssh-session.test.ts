// The guest image and the SSH layer against a real kernel in QEMU: boot,
// connect with the per-run keys, exec, upload, kexec into the same kernel
// with the same per-run initrd, reconnect. QEMU is started directly here (the
// machine layer is tested on its own); every QEMU this file starts is killed
// by its pid.
//
// Boots the luo-7.2 recipe's bzImage (built into the cache on first use), or
// the bzImage LUO_E2E_KERNEL points at.
import test from 'ava';
import { execa, type ResultPromise } from 'execa';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildGuestImage } from '../../../harness/image/build.ts';
import { prepareRunInitrd } from '../../../harness/image/run-initrd.ts';
import { GuestConnectionLost } from '../../../harness/guest/errors.ts';
import { waitForSsh } from '../../../harness/guest/session.ts';
import { buildKernel } from '../../../harness/kernel/pipeline.ts';
import { artifactPath } from '../../../harness/kernel/artifact.ts';

const kernel = process.env.LUO_E2E_KERNEL ?? artifactPath(await buildKernel('luo-7.2', { quiet: true }), 'bzImage');
const MARKER = /LUO-HARNESS-MARK ([a-z0-9-]+)((?: [A-Za-z0-9_.-]+=\S*)*)/;
const BASE_CMDLINE = 'console=ttyS0,115200 panic=-1 liveupdate=on';

test('boot the image, exec and upload over SSH, kexec and reconnect', async (t) => {
  const work = await mkdtemp(join(tmpdir(), 'luo-e2e-guest-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));

  const tBuild = performance.now();
  const image = await buildGuestImage({ cacheDir: join(work, 'cache') });
  const coldMs = performance.now() - tBuild;
  const tWarm = performance.now();
  const warm = await buildGuestImage({ cacheDir: join(work, 'cache') });
  const warmMs = performance.now() - tWarm;
  t.true(warm.cached);
  t.log(`image ${image.key}: cold build ${coldMs.toFixed(0)} ms, warm ${warmMs.toFixed(0)} ms, ${image.manifest.initramfs.bytes} bytes`);
  const { initrd, keys } = await prepareRunInitrd(image, join(work, 'run'));

  const port = await freePort();
  const vm = startQemu(kernel, initrd, port);
  t.teardown(() => vm.kill());

  const ready0 = vm.waitForMarker('sshd-ready', 1, 60_000);
  await using session = await waitForSsh({ port, keys, consoleReady: ready0, deadlineMs: 90_000 });
  const first = await session.exec('uname -r');
  const firstExecMs = performance.now() - (await ready0);
  t.log(`sshd-ready -> first exec done: ${firstExecMs.toFixed(0)} ms (connect attempts ${session.lastConnect?.attempts})`);
  t.regex(first.stdout.trim(), /^\d+\.\d+/);
  t.deepEqual(vm.markers('init').map((m) => m.args), ['boot=0']);

  // Upload a file and check it on the guest side.
  const blob = Buffer.alloc(1024 * 1024 + 3);
  for (let i = 0; i < blob.length; i++) blob[i] = (i * 2654435761) >>> 24;
  await session.upload(blob, '/tmp/up/blob.bin', { mode: 0o640 });
  const sum = await session.exec('sha256sum /tmp/up/blob.bin; stat -c %a /tmp/up/blob.bin');
  t.is(sum.stdout.split(/\s+/)[0], createHash('sha256').update(blob).digest('hex'));
  t.is(sum.stdout.trim().split('\n')[1], '640');

  // A failing command carries its status and stderr.
  const failed = await session.run('echo oops >&2; exit 3');
  t.is(failed.exitCode, 3);
  t.is(failed.stderr, 'oops\n');

  // kexec into the same kernel with the same per-run initrd (keys included).
  await session.upload(kernel, '/tmp/bzImage', { mode: 0o644 });
  await session.upload(initrd, '/tmp/initrd', { mode: 0o600 });
  await session.exec(`kexec -s -l /tmp/bzImage --initrd=/tmp/initrd --append='${BASE_CMDLINE} luo_harness.boot=1'`, { timeoutMs: 120_000 });
  const ready1 = vm.waitForMarker('sshd-ready', 2, 60_000);
  const tKexec = performance.now();
  await t.throwsAsync(session.exec('kexec -e', { timeoutMs: 30_000 }), { instanceOf: GuestConnectionLost });
  const closed = await session.closed;
  t.log(`old connection seen dead ${(performance.now() - tKexec).toFixed(0)} ms after kexec -e (${closed.error?.message ?? 'closed'})`);

  await session.reconnect({ consoleReady: ready1, deadlineMs: 90_000 });
  const again = await session.exec('cat /proc/cmdline');
  t.log(`kexec -e -> first exec on the new kernel: ${(performance.now() - tKexec).toFixed(0)} ms; sshd-ready -> exec ${(performance.now() - (await ready1)).toFixed(0)} ms`);
  t.regex(again.stdout, /luo_harness\.boot=1/);
  t.deepEqual(vm.markers('init').map((m) => m.args), ['boot=0', 'boot=1']);
  await session.stop();
  await session.stop(); // idempotent
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** QEMU as the reference command line, with a console that records markers with host times. */
function startQemu(bzImage: string, initrd: string, port: number) {
  const child: ResultPromise = execa(
    'qemu-system-x86_64',
    ['-machine', 'q35', '-accel', 'tcg', '-m', '1024', '-nographic', '-no-reboot', '-kernel', bzImage, '-initrd', initrd,
      '-append', BASE_CMDLINE, '-netdev', `user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:${port}-:22`, '-device', 'virtio-net-pci,netdev=n0'],
    { reject: false, stdin: 'ignore', all: true, buffer: false },
  );
  const seen: { name: string; args: string; at: number }[] = [];
  const waiters = new Set<() => void>();
  let text = '';
  let exited = false;
  child.all!.setEncoding('utf8');
  child.all!.on('data', (chunk: string) => {
    text += chunk;
    let nl: number;
    while ((nl = text.indexOf('\n')) >= 0) {
      const line = text.slice(0, nl);
      text = text.slice(nl + 1);
      const m = MARKER.exec(line);
      if (m) seen.push({ name: m[1]!, args: m[2]!.trim(), at: performance.now() });
    }
    for (const w of waiters) w();
  });
  void child.then(() => {
    exited = true;
    for (const w of waiters) w();
  });
  return {
    markers: (name: string) => seen.filter((m) => m.name === name),
    /** Resolves with the host time the nth `name` marker arrived; rejects if QEMU exits first or time runs out. */
    waitForMarker(name: string, nth: number, deadlineMs: number): Promise<number> {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hits = seen.filter((m) => m.name === name);
          if (hits.length >= nth) done(() => resolve(hits[nth - 1]!.at));
          else if (exited) done(() => reject(new Error(`QEMU exited before marker ${name} #${nth}`)));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`no marker ${name} #${nth} within ${deadlineMs} ms`))), deadlineMs);
        const done = (fn: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          fn();
        };
        waiters.add(check);
        check();
      });
    },
    async kill() {
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
      await child;
    },
  };
}
