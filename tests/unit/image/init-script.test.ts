// images/init: lint it, and run it on the host with stub commands to see the
// markers it prints and what it mounts for a given kernel command line.
import test from 'ava';
import { execa } from 'execa';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const init = fileURLToPath(new URL('../../../images/init', import.meta.url));
const MARKER = /LUO-HARNESS-MARK ([a-z0-9-]+)((?: [A-Za-z0-9_.-]+=\S*)*)/;

// Commands init runs that would change the host: shell functions replace
// them (functions win over busybox applets and PATH in every sh), and the
// script runs in throwaway namespaces besides, so nothing can leak out.
const STUBBED = ['mount', 'ip', 'hostname', 'dropbear', 'mkdir'];
const sandbox = ['--user', '--map-root-user', '--mount', '--net', '--uts', '--ipc', '--pid', '--fork', '--kill-child'];
// Without namespaces init must not run at all: those tests are skipped, visibly, saying why.
const canSandbox = (await execa('unshare', [...sandbox, 'true'], { reject: false })).exitCode === 0;
if (!canSandbox) console.warn('init-script: `unshare` cannot create user/mount/net namespaces here, and init must not run unsandboxed: its run tests are skipped');
const sandboxed = canSandbox ? test : test.skip;

test('images/init parses with busybox sh -n', async (t) => {
  const r = await execa('busybox', ['sh', '-n', init], { reject: false });
  t.is(r.exitCode, 0, r.stderr);
});

/** Run init with stubs until `until` appears on its console (or 10 s pass), then kill its process group. */
async function runInit(t: { teardown: (fn: () => Promise<void>) => void }, cmdline: string, listening: boolean, until: RegExp, kernelNet = false) {
  const dir = await mkdtemp(join(tmpdir(), 'luo-init-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const proc = join(dir, 'proc');
  await mkdir(join(proc, 'net'), { recursive: true });
  await writeFile(join(proc, 'cmdline'), cmdline + '\n');
  const tcp = '  sl  local_address rem_address   st\n';
  await writeFile(join(proc, 'net', 'tcp'), tcp + (listening ? '   0: 00000000:0016 00000000:0000 0A 00000000:00000000\n' : ''));
  // The kernel's own ip= configuration shows as a default route on eth0.
  if (kernelNet) await writeFile(join(proc, 'net', 'route'), 'Iface\tDestination\tGateway\neth0\t00000000\t0202000A\neth0\t0002000A\t00000000\n');
  const calls = join(dir, 'calls');
  const stubs = STUBBED.map((c) => `${c}() { echo "${c} $*" >> "$CALLS"; }`).join('\n');
  const console = join(dir, 'console');
  await writeFile(console, '');
  const child = execa('unshare', [...sandbox, 'busybox', 'sh', '-c', `${stubs}\n. "$INIT"`], {
    env: { LUO_INIT_PROC: proc, LUO_INIT_CONSOLE: console, CALLS: calls, INIT: init },
    reject: false,
    stdio: 'ignore',
    detached: true, // its own process group, so nothing it started outlives the test
  });
  const deadline = Date.now() + 10_000;
  let text = '';
  while (Date.now() < deadline) {
    text = await readFile(console, 'utf8');
    if (until.test(text)) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
  await child;
  const markers = text.split('\n').map((l) => MARKER.exec(l)).filter((m) => m !== null).map((m) => ({ name: m[1]!, args: m[2]!.trim() }));
  return { markers, calls: (await readFile(calls, 'utf8').catch(() => '')).split('\n').filter(Boolean) };
}

sandboxed('init prints init boot=<n> from the command line, mounts 9p shares read-only, then sshd-ready', async (t) => {
  const { markers, calls } = await runInit(
    t,
    'console=ttyS0,115200 luo_harness.boot=3 luo_harness.share=results:/mnt/results liveupdate=on',
    true,
    /sshd-ready/,
  );
  t.deepEqual(markers, [
    { name: 'init', args: 'boot=3' },
    { name: 'share-mounted', args: 'tag=results path=/mnt/results' },
    { name: 'sshd-ready', args: 'port=22' },
  ]);
  t.true(calls.includes('mount -t 9p -o trans=virtio,version=9p2000.L,ro results /mnt/results'));
  t.true(calls.includes('mount -a'), 'the pseudo filesystems in one process, from /etc/fstab');
  t.true(calls.includes('ip addr add 10.0.2.15/24 dev eth0'));
  t.true(calls.includes('ip route add default via 10.0.2.2'));
  t.true(calls.some((c) => c.startsWith('dropbear ') && c.includes('-r /etc/dropbear/dropbear_ed25519_host_key')));
  // sshd comes up first (after networking), then the rest.
  const at = (prefix: string) => calls.findIndex((c) => c.startsWith(prefix));
  t.true(at('ip addr') < at('dropbear'));
  t.true(at('dropbear') < at('mount -t 9p'));
});

sandboxed('init runs no network command when the kernel configured eth0 itself (ip=)', async (t) => {
  const { markers, calls } = await runInit(t, 'console=ttyS0 ip=10.0.2.15::10.0.2.2:255.255.255.0:luo-guest:eth0:off', true, /sshd-ready/, true);
  t.is(markers.at(-1)?.name, 'sshd-ready');
  t.deepEqual(calls.filter((c) => c.startsWith('ip ')), []);
  t.true(calls.some((c) => c.startsWith('dropbear ')));
  // Without the kernel's route, init configures eth0 even if ip= is on the line (a kernel without IP_PNP ignores it).
  const fallback = await runInit(t, 'console=ttyS0 ip=10.0.2.15::10.0.2.2:255.255.255.0:luo-guest:eth0:off', true, /sshd-ready/);
  t.true(fallback.calls.includes('ip addr add 10.0.2.15/24 dev eth0'));
});

sandboxed('init: boot defaults to 0, and a garbled value is not passed on', async (t) => {
  const plain = await runInit(t, 'console=ttyS0', true, /sshd-ready/);
  t.deepEqual(plain.markers[0], { name: 'init', args: 'boot=0' });
  const garbled = await runInit(t, 'luo_harness.boot=1;reboot', true, /sshd-ready/);
  t.deepEqual(garbled.markers[0], { name: 'init', args: 'boot=0' });
});

sandboxed('init reports sshd-not-listening instead of a false sshd-ready', async (t) => {
  const { markers } = await runInit(t, 'console=ttyS0', false, /init-failed/);
  t.deepEqual(markers.map((m) => m.name), ['init', 'init-failed']);
  t.is(markers[1]!.args, 'reason=sshd-not-listening');
});
