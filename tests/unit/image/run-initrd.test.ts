import test from 'ava';
import { execa } from 'execa';
import { cp, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ssh2 from 'ssh2';
import { buildGuestImage } from '../../../harness/image/build.ts';
import { readCpio } from '../../../harness/image/cpio.ts';
import { concatArchives, GUEST_KEY_PATHS, prepareRunInitrd } from '../../../harness/image/run-initrd.ts';
import { generateRunKeys, parseDropbearPublicKey, publicKeyBlob } from '../../../harness/image/run-keys.ts';
import { generateEd25519 } from '../../../harness/image/openssh-key.ts';
import { hostKeyVerifier } from '../../../harness/guest/connect.ts';

const fixtures = fileURLToPath(new URL('../../fixtures/image/', import.meta.url));

async function tempDir(t: { teardown: (fn: () => Promise<void>) => void }) {
  const dir = await mkdtemp(join(tmpdir(), 'luo-run-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('run keys: an OpenSSH ed25519 client key ssh2 accepts, and a dropbear host key with its public half', async (t) => {
  const dir = await tempDir(t);
  const keys = await generateRunKeys(join(dir, 'keys'));
  const parsed = ssh2.utils.parseKey(keys.clientPrivateKey);
  if (parsed instanceof Error) return t.fail(parsed.message);
  t.is(parsed.type, 'ssh-ed25519');
  t.true(parsed.getPublicSSH().equals(publicKeyBlob(keys.clientPublicKey)));
  t.regex(keys.clientPrivateKey, /^-----BEGIN OPENSSH PRIVATE KEY-----/);
  t.is((await stat(keys.clientPrivateKeyPath)).mode & 0o777, 0o600);

  t.regex(keys.hostPublicKey, /^ssh-ed25519 [A-Za-z0-9+/]+=*$/);
  // dropbearkey itself derives the same public key from the private file.
  const again = await execa('dropbearkey', ['-y', '-f', keys.hostPrivateKeyPath]);
  t.is(parseDropbearPublicKey(again.stdout), keys.hostPublicKey);

  const other = await generateRunKeys(join(dir, 'other'));
  t.not(other.hostPublicKey, keys.hostPublicKey);
  t.not(other.clientPublicKey, keys.clientPublicKey);
});

test('the host key verifier accepts exactly the pinned key', async (t) => {
  const dir = await tempDir(t);
  const keys = await generateRunKeys(dir);
  const verify = hostKeyVerifier(keys.hostPublicKey);
  t.true(verify(publicKeyBlob(keys.hostPublicKey)));
  t.false(verify(publicKeyBlob(keys.clientPublicKey)));
  t.false(verify(Buffer.alloc(0)));
});

test('parseDropbearPublicKey drops the comment that names the host machine', (t) => {
  const out = 'Public key portion is:\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFgSa0K7k9mq root@somewhere\nFingerprint: SHA256:x\n';
  t.is(parseDropbearPublicKey(out), 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFgSa0K7k9mq');
  t.throws(() => parseDropbearPublicKey('nothing here'), { message: /no ed25519 public key/ });
});

test('concatArchives pads the compressed archive to a 4-byte boundary with zeros', (t) => {
  for (const len of [8, 9, 10, 11]) {
    const out = concatArchives(Buffer.alloc(len, 0xff), Buffer.from('070701'));
    const at = Math.ceil(len / 4) * 4;
    t.is(out.length, at + 6);
    t.true(out.subarray(len, at).every((b) => b === 0));
    t.is(out.toString('ascii', at), '070701');
  }
});

test('prepareRunInitrd: the cached image unchanged, then an uncompressed archive with the run keys', async (t) => {
  const dir = await tempDir(t);
  await cp(fixtures, join(dir, 'fx'), { recursive: true });
  const src = join(dir, 'fx', 'src');
  const image = await buildGuestImage({
    recipePath: join(dir, 'fx', 'recipe.json'),
    cacheDir: join(dir, 'cache'),
    sourceDir: src,
    commands: { 'fake-busybox': join(src, 'fake-busybox'), 'fake-sshd': join(src, 'fake-sshd') },
  });
  const { initrd, keys } = await prepareRunInitrd(image, join(dir, 'run'));
  const bytes = await readFile(initrd);
  const cached = await readFile(image.initramfs);
  t.true(bytes.subarray(0, cached.length).equals(cached));
  const at = Math.ceil(cached.length / 4) * 4;
  const entries = readCpio(bytes.subarray(at));
  t.deepEqual(entries.map((e) => e.path), [GUEST_KEY_PATHS.authorizedKeys, GUEST_KEY_PATHS.hostKey]);
  const [auth, host] = entries as { data: Buffer; mode: number }[];
  t.is(auth!.data.toString(), keys.clientPublicKey + '\n');
  t.is(auth!.mode, 0o600);
  t.true(host!.data.equals(await readFile(keys.hostPrivateKeyPath)));
  // Keys stay out of the cache.
  t.false((await readFile(image.initramfs)).includes(keys.clientPublicKey.split(' ')[1]!));

  // A second run gets new keys.
  const second = await prepareRunInitrd(image, join(dir, 'run'));
  t.not(second.keys.hostPublicKey, keys.hostPublicKey);
});

test('generated client keys always parse, including public keys with a leading zero byte', (t) => {
  let leadingZero = 0;
  for (let i = 0; i < 20_000 && leadingZero < 2; i++) {
    const k = generateEd25519('c');
    const blob = publicKeyBlob(k.public);
    const parsed = ssh2.utils.parseKey(k.private);
    if (parsed instanceof Error) return t.fail(`key ${i}: ${parsed.message}\n${k.private}`);
    if (!parsed.getPublicSSH().equals(blob)) return t.fail(`key ${i}: public halves differ`);
    t.is(blob.length, 4 + 11 + 4 + 32);
    if (blob[19] === 0) leadingZero++;
  }
  t.is(leadingZero, 2, 'no key with a leading zero byte came up');
});
