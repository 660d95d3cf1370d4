// The remote target's flags: the URL, the consent, the console, the pinned
// host key (known_hosts or --host-key), the login key, the devices; and the
// check that refuses to reboot the harness's own machine.
import test from 'ava';
import { execa } from 'execa';
import { createHmac } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../../harness/errors.ts';
import { generateEd25519 } from '../../../harness/image/openssh-key.ts';
import { hostKeysFromFlag, knownHostKeys, knownHostsPin, namesHost } from '../../../harness/target/host-keys.ts';
import { refuseSelf } from '../../../harness/target/identity.ts';
import { parseRemoteDevices, remoteOptions, resolveLogin } from '../../../harness/target/remote-options.ts';
import { parseSshUrl } from '../../../harness/target/ssh-url.ts';

const hostKey = generateEd25519('h').public.split(' ').slice(0, 2).join(' ');
const otherKey = generateEd25519('o').public.split(' ').slice(0, 2).join(' ');
const client = generateEd25519('me');
const files: Record<string, string> = { '/home/u/.ssh/id_ed25519': client.private, '/keys/lab.pub': `${hostKey} root@lab\n` };
const io = { read: (p: string) => files[p] ?? (() => { throw new Error(`ENOENT ${p}`); })(), exists: (p: string) => p in files };
const base = { target: 'ssh://root@lab-host', console: 'nc console-server 7001', 'yes-reboot-the-target': true, 'host-key': hostKey };

test('ssh URLs: user, host, port (22 by default), IPv6 in brackets; anything else is refused with the form to write', (t) => {
  t.like(parseSshUrl('ssh://root@lab-host'), { user: 'root', host: 'lab-host', port: 22, label: 'root@lab-host' });
  t.like(parseSshUrl('ssh://root@127.0.0.1:2222'), { host: '127.0.0.1', port: 2222, label: 'root@127.0.0.1:2222' });
  t.like(parseSshUrl('ssh://root@[2001:db8::7]:22/'), { host: '2001:db8::7', port: 22, label: 'root@[2001:db8::7]' });
  for (const bad of ['lab-host', 'root@lab-host', 'ssh://lab-host', 'ssh://root@lab-host:0', 'ssh://root@lab-host:99999', 'ssh://root@lab host', 'http://root@lab-host']) {
    t.throws(() => parseSshUrl(bad), { instanceOf: ConfigError, message: /write it as ssh:\/\/root@lab-host/ }, bad);
  }
});

test('flags: nothing runs without --console and --yes-reboot-the-target; remote-only flags need --target', (t) => {
  t.is(remoteOptions({}, {}, io), undefined, 'no --target: QEMU');
  t.throws(() => remoteOptions({ console: 'nc x 1', devices: 'vfio:0000:3b:00.0' }, {}, io), { instanceOf: ConfigError, message: /--console, --devices only go with --target/ });
  t.throws(() => remoteOptions({ ...base, console: undefined }, {}, io), { instanceOf: ConfigError, message: /needs --console CMD/ });
  t.throws(() => remoteOptions({ ...base, 'yes-reboot-the-target': undefined }, {}, io), { instanceOf: ConfigError, message: /kexecs lab-host into the test kernel.*Pass --yes-reboot-the-target/ });
  t.throws(() => remoteOptions({ ...base, after: 'power-cycle' }, {}, io), { instanceOf: ConfigError, message: /needs --power-cycle CMD/ });
  t.throws(() => remoteOptions({ ...base, after: 'reboot' }, {}, io), { instanceOf: ConfigError, message: /--after must be kexec/ });
  t.throws(() => remoteOptions({ ...base, 'reboot-timeout': '5' }, {}, io), { instanceOf: ConfigError, message: /at least 10/ });
  t.throws(() => remoteOptions({ ...base, 'kernel-console': 'ttyS1 115200' }, {}, io), { instanceOf: ConfigError, message: /--kernel-console/ });
  const o = remoteOptions({ ...base, devices: 'vfio:3b:00.0,vfio:0000:3B:00.1', 'kernel-console': 'console=ttyS1,115200n8', 'power-cycle': 'ipmitool power cycle' }, {}, io, '/home/u')!;
  t.like(o, { console: 'nc console-server 7001', powerCycle: 'ipmitool power cycle', after: 'kexec', kernelConsole: 'ttyS1,115200n8', rebootTimeoutMs: 600_000 });
  t.deepEqual(o.devices, ['0000:3b:00.0', '0000:3b:00.1']);
  t.deepEqual(o.hostKeys, { keys: [hostKey], source: '--host-key' });
  t.is(o.login.source, '/home/u/.ssh/id_ed25519');
});

test('devices are vfio:<BDF>, each once', (t) => {
  t.deepEqual(parseRemoteDevices('vfio:0000:00:10.0'), ['0000:00:10.0']);
  t.throws(() => parseRemoteDevices('edu'), { instanceOf: ConfigError, message: /vfio:<domain:bus:slot.function>/ });
  t.throws(() => parseRemoteDevices('vfio:0000:3b:00.8'), { instanceOf: ConfigError });
  t.throws(() => parseRemoteDevices('vfio:3b:00.0,vfio:0000:3b:00.0'), { instanceOf: ConfigError, message: /twice/ });
});

test('login: --identity, else the ssh-agent, else ~/.ssh/id_*; a public key is not a login', (t) => {
  t.is(resolveLogin('/home/u/.ssh/id_ed25519', { SSH_AUTH_SOCK: '/run/agent' }, io).privateKey, client.private, '--identity wins over the agent');
  t.deepEqual(resolveLogin(undefined, { SSH_AUTH_SOCK: '/run/agent' }, io), { agent: '/run/agent', source: 'ssh-agent' });
  t.throws(() => resolveLogin(undefined, {}, io, '/nowhere'), { instanceOf: ConfigError, message: /--identity FILE, run an ssh-agent/ });
  t.throws(() => resolveLogin('/keys/lab.pub', {}, io), { instanceOf: ConfigError, message: /is a public key; give the private key/ });
});

test('an encrypted login key is refused with the way out: ssh-agent', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'luo-key-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'secret', '-f', join(dir, 'k')]);
  t.throws(() => resolveLogin(join(dir, 'k'), {}), { instanceOf: ConfigError, message: /is encrypted; load it into ssh-agent/ });
});

test('host keys: known_hosts by plain name, [host]:port, pattern or hashed name; revoked keys and other hosts left out', (t) => {
  const salt = Buffer.from('0123456789abcdef0123');
  const hashed = (name: string) => `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
  const text = [
    '# lab',
    `lab-host,198.51.100.7 ${hostKey}`,
    `[lab-host]:2222 ${otherKey}`,
    `*.lab.example,!db.lab.example ${otherKey}`,
    `${hashed('hashed-host')} ${hostKey} comment`,
    `@revoked lab-host ${otherKey}`,
    `@cert-authority *.lab.example ${hostKey}`,
    `lab-host ${otherKey}`,
    'garbage line',
  ].join('\n');
  t.deepEqual(knownHostKeys(text, 'lab-host', 22), [hostKey], 'the revoked key of lab-host is dropped');
  t.deepEqual(knownHostKeys(text, 'lab-host', 2222), [otherKey]);
  t.deepEqual(knownHostKeys(text, 'node1.lab.example', 22), [otherKey]);
  t.deepEqual(knownHostKeys(text, 'db.lab.example', 22), [], 'a negated pattern wins');
  t.deepEqual(knownHostKeys(text, 'hashed-host', 22), [hostKey]);
  t.false(namesHost(hashed('hashed-host'), 'other-host'));
  t.deepEqual(knownHostsPin('lab-host', 22, ['/home/u/.ssh/known_hosts'], () => text), { keys: [hostKey], source: '/home/u/.ssh/known_hosts' });
  t.throws(() => knownHostsPin('new-host', 22, ['/x'], () => text), { instanceOf: ConfigError, message: /No host key is pinned for new-host.*--host-key/ });
  t.deepEqual(hostKeysFromFlag('/keys/lab.pub', 'lab-host', 22, io.read), { keys: [hostKey], source: '--host-key /keys/lab.pub' });
  t.throws(() => hostKeysFromFlag('/nope', 'lab-host', 22, io.read), { instanceOf: ConfigError, message: /neither a key .* nor a readable file/ });
});

test('the identity check refuses the harness\'s own machine: the same boot id, or the same machine id', (t) => {
  const self = { machineId: '3d1219c7c4c5404aaa1f6d2a48adfda4', bootId: '801b18c7-ee3f-4c0a-ae1e-ac1a8877a049' };
  t.notThrows(() => refuseSelf({ machineId: '6f1c2a9e8b7d4c3a9e0f1b2c3d4e5f60', bootId: '2b9d4e61-7a3c-4f0e-8d21-5c6b7a8f9e01' }, self, 'root@lab'));
  t.notThrows(() => refuseSelf({ machineId: undefined, bootId: '2b9d4e61-7a3c-4f0e-8d21-5c6b7a8f9e01' }, self, 'root@lab'), 'no machine id (a host without systemd): the boot id decides');
  t.throws(() => refuseSelf({ machineId: '6f1c2a9e8b7d4c3a9e0f1b2c3d4e5f60', bootId: '801B18C7EE3F4C0AAE1EAC1A8877A049' }, self, 'root@lab'), { instanceOf: ConfigError, message: /root@lab is the machine the harness runs on \(the same boot id/ });
  t.throws(() => refuseSelf({ machineId: self.machineId, bootId: '2b9d4e61-7a3c-4f0e-8d21-5c6b7a8f9e01' }, self, 'root@lab'), { instanceOf: ConfigError, message: /has this machine's machine id/ });
  t.throws(() => refuseSelf({ machineId: 'x', bootId: undefined }, self, 'root@lab'), { instanceOf: ConfigError, message: /did not say its boot id/ });
});
