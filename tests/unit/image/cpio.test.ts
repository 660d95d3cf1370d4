import test from 'ava';
import { execa } from 'execa';
import { mkdtemp, readFile, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCpio, writeCpio, type CpioEntry } from '../../../harness/image/cpio.ts';
import { RootfsTree } from '../../../harness/image/rootfs.ts';

const entries: CpioEntry[] = [
  { type: 'dir', path: 'etc', mode: 0o755 },
  { type: 'file', path: 'etc/passwd', mode: 0o644, data: Buffer.from('root:x:0:0:root:/root:/bin/sh\n') },
  { type: 'file', path: 'etc/odd', mode: 0o600, data: Buffer.from('abc') }, // size not a multiple of 4
  { type: 'file', path: 'etc/empty', mode: 0o644, data: Buffer.alloc(0) },
  { type: 'symlink', path: 'etc/link', target: 'passwd' },
  { type: 'dir', path: 'dev', mode: 0o755 },
  { type: 'char', path: 'dev/console', mode: 0o600, major: 5, minor: 1 },
];

test('newc header fields are fixed: magic, sequential inodes, zero uid/gid/mtime', (t) => {
  const archive = writeCpio(entries);
  const head = archive.toString('ascii', 0, 110);
  t.is(head.slice(0, 6), '070701');
  const field = (i: number) => head.slice(6 + i * 8, 14 + i * 8);
  t.is(field(0), '00000001'); // ino
  t.is(field(1), (0o040755).toString(16).padStart(8, '0')); // mode: dir 0755
  t.is(field(2), '00000000'); // uid
  t.is(field(3), '00000000'); // gid
  t.is(field(5), '00000000'); // mtime
  t.is(field(11), '00000004'); // "etc\0"
  t.true(archive.subarray(-200).toString('latin1').includes('TRAILER!!!'));
});

test('writer output parses back to the same entries', (t) => {
  t.deepEqual(readCpio(writeCpio(entries)), entries);
});

test('equal entries give equal bytes; different content gives different bytes', (t) => {
  t.true(writeCpio(entries).equals(writeCpio(entries.map((e) => ({ ...e })))));
  const changed = entries.map((e) => (e.path === 'etc/odd' ? { ...e, data: Buffer.from('abd') } : e));
  t.false(writeCpio(entries).equals(writeCpio(changed as CpioEntry[])));
});

test('the host cpio lists and extracts the archive', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'luo-cpio-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // Leave out the device node: extracting it needs privileges.
  const plain = entries.filter((e) => e.type !== 'char');
  const archive = writeCpio(plain);
  const listed = await execa('cpio', ['-t', '--quiet'], { input: archive });
  t.deepEqual(listed.stdout.split('\n'), plain.map((e) => e.path));
  await execa('cpio', ['-i', '-d', '--quiet', '--no-absolute-filenames'], { input: archive, cwd: dir });
  t.is(await readFile(join(dir, 'etc/passwd'), 'utf8'), 'root:x:0:0:root:/root:/bin/sh\n');
  t.is(await readFile(join(dir, 'etc/odd'), 'utf8'), 'abc');
  t.is((await readFile(join(dir, 'etc/empty'))).length, 0);
  t.is(await readlink(join(dir, 'etc/link')), 'passwd');
  t.is((await stat(join(dir, 'etc/odd'))).mode & 0o777, 0o600);
});

test('the writer rejects duplicates and paths that escape the root', (t) => {
  t.throws(() => writeCpio([entries[0]!, entries[0]!]), { message: /duplicate/ });
  t.throws(() => writeCpio([{ type: 'dir', path: '../x', mode: 0o755 }]), { message: /invalid archive path/ });
});

test('RootfsTree orders parents first and does not depend on insertion order', (t) => {
  const a = new RootfsTree();
  a.add({ type: 'file', path: '/usr/bin/x', mode: 0o755, data: Buffer.from('x') });
  a.add({ type: 'symlink', path: '/bin/sh', target: '/bin/busybox' });
  a.add({ type: 'dir', path: '/usr', mode: 0o700 });
  const b = new RootfsTree();
  b.add({ type: 'dir', path: '/usr', mode: 0o700 });
  b.add({ type: 'symlink', path: '/bin/sh', target: '/bin/busybox' });
  b.add({ type: 'file', path: '/usr/bin/x', mode: 0o755, data: Buffer.from('x') });
  t.deepEqual(a.entries().map((e) => e.path), ['bin', 'bin/sh', 'usr', 'usr/bin', 'usr/bin/x']);
  t.true(writeCpio(a.entries()).equals(writeCpio(b.entries())));
  // An explicit directory mode wins over the implied parent.
  t.is((a.entries().find((e) => e.path === 'usr') as { mode: number }).mode, 0o700);
});

test('RootfsTree refuses two different entries on one path unless told to keep the first', (t) => {
  const tree = new RootfsTree();
  tree.add({ type: 'file', path: '/init', mode: 0o755, data: Buffer.from('real') });
  t.throws(() => tree.add({ type: 'symlink', path: '/init', target: '/bin/busybox' }), { message: /two entries/ });
  tree.add({ type: 'symlink', path: '/init', target: '/bin/busybox' }, { ifAbsent: true });
  t.is(tree.entries().find((e) => e.path === 'init')!.type, 'file');
  t.throws(() => tree.add({ type: 'file', path: '/init/x', mode: 0o644, data: Buffer.alloc(0) }), { message: /not a directory/ });
});
