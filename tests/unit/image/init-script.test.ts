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
async function runInit(t: { teardown: (fn: () => Promise<void>) => void }, cmdline: string, listening: boolean, until: RegExp, kernelNet = false, opts: { route?: string; bootId?: string; listenHex?: string; failMount?: string } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'luo-init-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const proc = join(dir, 'proc');
  await mkdir(join(proc, 'net'), { recursive: true });
  await mkdir(join(proc, 'sys', 'kernel', 'random'), { recursive: true });
  await writeFile(join(proc, 'cmdline'), cmdline + '\n');
  if (opts.bootId) await writeFile(join(proc, 'sys', 'kernel', 'random', 'boot_id'), opts.bootId + '\n');
  const tcp = '  sl  local_address rem_address   st\n';
  await writeFile(join(proc, 'net', 'tcp'), tcp + (listening ? `   0: 00000000:${opts.listenHex ?? '0016'} 00000000:0000 0A 00000000:00000000\n` : ''));
  // The kernel's own ip= configuration shows as a default route on eth0.
  if (kernelNet) await writeFile(join(proc, 'net', 'route'), 'Iface\tDestination\tGateway\neth0\t00000000\t0202000A\neth0\t0002000A\t00000000\n');
  if (opts.route) await writeFile(join(proc, 'net', 'route'), opts.route);
  // Never the host's own /etc/machine-id, whatever the sandbox allows.
  const machineId = join(dir, 'machine-id');
  const calls = join(dir, 'calls');
  // A 9p mount of the tag `failMount` fails, as a share QEMU does not export would.
  const fails = opts.failMount ? ` case "$*" in *" ${opts.failMount} "*) return 32 ;; esac;` : '';
  const stubs = STUBBED.map((c) => `${c}() { echo "${c} $*" >> "$CALLS";${c === 'mount' ? fails : ''} }`).join('\n');
  const console = join(dir, 'console');
  await writeFile(console, '');
  const child = execa('unshare', [...sandbox, 'busybox', 'sh', '-c', `${stubs}\n. "$INIT"`], {
    env: { LUO_INIT_PROC: proc, LUO_INIT_CONSOLE: console, LUO_INIT_MACHINE_ID: machineId, CALLS: calls, INIT: init },
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
  return { markers, calls: (await readFile(calls, 'utf8').catch(() => '')).split('\n').filter(Boolean), machineId: await readFile(machineId, 'utf8').catch(() => undefined) };
}

sandboxed('init prints init boot=<n> from the command line, mounts 9p shares read-only, then sshd-ready', async (t) => {
  const { markers, calls } = await runInit(
    t,
    'console=ttyS0,115200 luo_harness.boot=3 luo_harness.share=results:/mnt/results liveupdate=on',
    true,
    /guest-ready/,
  );
  t.deepEqual(markers, [
    { name: 'init', args: 'boot=3' },
    { name: 'share-mounted', args: 'tag=results path=/mnt/results' },
    { name: 'sshd-ready', args: 'port=22' },
    // The readiness contract: last, once everything is in place (no agent on this host: agent=none).
    { name: 'guest-ready', args: 'boot=3 sshd=22 agent=none shares=results unmounted=' },
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
  const { markers, calls } = await runInit(t, 'console=ttyS0 ip=10.0.2.15::10.0.2.2:255.255.255.0:luo-guest:eth0:off', true, /guest-ready/, true);
  t.is(markers.at(-1)?.name, 'guest-ready');
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

sandboxed('init leaves a real host\'s network alone: a default route on any interface, or luo_harness.net=kernel, and never the 10.0.2.x fallback', async (t) => {
  const route = 'Iface\tDestination\tGateway\neno1\t00000000\t0100A8C0\n';
  const other = await runInit(t, 'console=ttyS1 ip=192.168.0.7::192.168.0.1:255.255.255.0:lab:eno1:off', true, /sshd-ready/, false, { route });
  t.deepEqual(other.calls.filter((c) => c.startsWith('ip ')), [], 'a default route on eno1 is the kernel\'s network too');
  const missing = await runInit(t, 'console=ttyS1 luo_harness.net=kernel', true, /sshd-ready/);
  t.deepEqual(missing.calls.filter((c) => c.startsWith('ip ')), [], 'luo_harness.net=kernel: no fallback even without a route');
  t.true(missing.markers.some((m) => m.name === 'net-missing' && m.args === 'reason=no-default-route'));
});

sandboxed('init gives the machine an id from its boot id when it has none, and sshd the port of luo_harness.sshd_port', async (t) => {
  const r = await runInit(t, 'console=ttyS0 luo_harness.sshd_port=2222', true, /guest-ready/, false, { bootId: '0c5e6a2b-1d1f-4a7e-9b3c-5d2e8f9a0b1c', listenHex: '08AE' });
  t.is(r.machineId, '0c5e6a2b1d1f4a7e9b3c5d2e8f9a0b1c\n');
  t.true(r.calls.some((c) => c.startsWith('dropbear ') && c.includes('-p 2222')), r.calls.join('\n'));
  t.deepEqual(r.markers.find((m) => m.name === 'sshd-ready'), { name: 'sshd-ready', args: 'port=2222' });
  t.deepEqual(r.markers.at(-1), { name: 'guest-ready', args: 'boot=0 sshd=2222 agent=none shares= unmounted=' });
  const none = await runInit(t, 'console=ttyS0', true, /sshd-ready/);
  t.is(none.machineId, undefined, 'no boot id to read: nothing written');
});

sandboxed('init: a share that fails is named in guest-ready, and luo_harness.share_delay_ms mounts the shares late', async (t) => {
  const failing = await runInit(t, 'console=ttyS0 luo_harness.share=kexec:/mnt/kexec luo_harness.share=bad:/opt/bad', true, /guest-ready/, false, { failMount: 'bad' });
  t.deepEqual(failing.markers.at(-1), { name: 'guest-ready', args: 'boot=0 sshd=22 agent=none shares=kexec unmounted=bad' });
  t.true(failing.markers.some((m) => m.name === 'share-failed' && m.args === 'tag=bad path=/opt/bad'));
  const started = Date.now();
  const late = await runInit(t, 'console=ttyS0 luo_harness.share=kexec:/mnt/kexec luo_harness.share_delay_ms=700', true, /guest-ready/);
  t.true(Date.now() - started >= 700, 'the shares waited for the delay');
  t.deepEqual(late.markers.map((m) => m.name), ['init', 'share-mounted', 'sshd-ready', 'guest-ready']);
  const garbled = await runInit(t, 'console=ttyS0 luo_harness.share_delay_ms=1;reboot', true, /guest-ready/);
  t.is(garbled.markers.at(-1)?.name, 'guest-ready');
});
