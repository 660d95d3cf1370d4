import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, linkSync, lstatSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { exportArtifact, fetchArtifact } from '../../../harness/kernel/archive.ts';
import { listArtifacts } from '../../../harness/kernel/store.ts';
import { findArtifact } from '../../../harness/kernel/refs.ts';
import type { KernelManifest } from '../../../harness/kernel/artifact.ts';
import { ConfigError } from '../../../harness/errors.ts';
import { sha256 } from '../../../harness/util/hash.ts';
import { scratchDir } from '../../helpers/scratch.ts';
import { makeArtifact } from '../../helpers/artifact.ts';

test('export then fetch round-trips an artifact into another cache', async (t) => {
  const { artifact, key } = await makeArtifact();
  const tarball = join(scratchDir('tar-'), 'k.tar.gz');
  await exportArtifact(artifact, tarball);
  const other = scratchDir('cache-');
  const imported = await fetchArtifact(other, tarball, { sha256: sha256(readFileSync(tarball)) });
  t.is(imported.manifest.key, key);
  t.deepEqual(readFileSync(join(imported.dir, 'bzImage')), Buffer.alloc(4096, 7));
  t.is((await findArtifact(other, 'unit'))?.manifest.key, key, 'found by recipe name');
  t.is((await findArtifact(other, key.slice(0, 8)))?.dir, imported.dir, 'found by key prefix');
  t.is((await listArtifacts(other)).length, 1);
});

test('a corrupted file is rejected, naming it, and nothing lands in the cache', async (t) => {
  const { artifact } = await makeArtifact();
  const tarball = join(scratchDir('tar-'), 'k.tar.gz');
  await exportArtifact(artifact, tarball);
  const raw = gunzipSync(readFileSync(tarball));
  const at = raw.indexOf(Buffer.alloc(64, 7));
  raw[at + 10] = 8; // one byte of bzImage
  writeFileSync(tarball, gzipSync(raw));
  const other = scratchDir('cache-');
  const e = await t.throwsAsync(fetchArtifact(other, tarball), { instanceOf: ConfigError });
  t.regex(e!.message, /is corrupt/);
  t.regex(e!.detail!, /bzImage has sha256 [0-9a-f]+, the manifest says/);
  t.deepEqual(await listArtifacts(other), []);
});

test('a wrong tarball checksum, a truncated archive and a non-archive are rejected', async (t) => {
  const { artifact } = await makeArtifact();
  const dir = scratchDir('tar-');
  const tarball = join(dir, 'k.tar.gz');
  await exportArtifact(artifact, tarball);
  const other = scratchDir('cache-');
  await t.throwsAsync(fetchArtifact(other, tarball, { sha256: 'b'.repeat(64) }), { instanceOf: ConfigError, message: /has sha256 [0-9a-f]{64}, expected b{64}/ });
  const truncated = join(dir, 'short.tar.gz');
  writeFileSync(truncated, readFileSync(tarball).subarray(0, 300));
  await t.throwsAsync(fetchArtifact(other, truncated), { instanceOf: ConfigError, message: /short\.tar\.gz/ });
  const junk = join(dir, 'junk.tar.gz');
  writeFileSync(junk, 'not a tarball');
  await t.throwsAsync(fetchArtifact(other, junk), { instanceOf: ConfigError, message: /is not a readable tarball/ });
  t.deepEqual(await listArtifacts(other), []);
});

test('a kernel without LUO is refused unless asked for as a negative control', async (t) => {
  const { artifact } = await makeArtifact({ capabilities: ['KEXEC_FILE', 'KEXEC_HANDOVER'] });
  const tarball = join(scratchDir('tar-'), 'nolu.tar.gz');
  await exportArtifact(artifact, tarball);
  const other = scratchDir('cache-');
  await t.throwsAsync(fetchArtifact(other, tarball), { instanceOf: ConfigError, message: /not a live-update kernel: its manifest lacks CONFIG_LIVEUPDATE/ });
  t.false((await fetchArtifact(other, tarball, { allowNonLuo: true })).manifest.capabilities.LIVEUPDATE);
});

test('fetch over http retries a 503 and rejects a 404 without retrying', async (t) => {
  const { createServer } = await import('node:http');
  const { artifact, key } = await makeArtifact();
  const tarball = join(scratchDir('tar-'), 'k.tar.gz');
  await exportArtifact(artifact, tarball);
  const body = readFileSync(tarball);
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(req.url!);
    if (req.url === '/flaky' && hits.filter((h) => h === '/flaky').length === 1) return res.writeHead(503).end();
    if (req.url === '/flaky') return res.writeHead(200, { 'content-type': 'application/gzip' }).end(body);
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const other = scratchDir('cache-');
  t.is((await fetchArtifact(other, `${base}/flaky`)).manifest.key, key);
  t.is(hits.filter((h) => h === '/flaky').length, 2, 'one retry after the 503');
  await t.throwsAsync(fetchArtifact(other, `${base}/missing`), { instanceOf: ConfigError, message: /answered 404/ });
  t.is(hits.filter((h) => h === '/missing').length, 1, 'a 404 is not retried');
});

// Archives made by the real GNU tar, the way a user packs an artifact directory by hand.
const gnuTar = (cwd: string, args: string[]) => execFileSync('tar', args, { cwd, stdio: 'pipe' });

test('standard tar archives are taken: a leading ./ with directory entries (gzip), one top-level directory (xz), plain tar', async (t) => {
  const { artifact, key } = await makeArtifact();
  const dir = scratchDir('tar-');
  const dotted = join(dir, 'dotted.tgz');
  gnuTar(artifact.dir, ['czf', dotted, '.']);
  t.regex(execFileSync('tar', ['tzf', dotted]).toString(), /^\.\/\n(.*\n)*\.\/headers\/\n/m, 'the archive really has ./ and directory entries');
  t.is((await fetchArtifact(scratchDir('cache-'), dotted)).manifest.key, key);
  const nested = join(dir, 'nested.tar.xz');
  gnuTar(join(artifact.dir, '..'), ['cJf', nested, basename(artifact.dir)]);
  const imported = await fetchArtifact(scratchDir('cache-'), nested);
  t.is(imported.manifest.key, key);
  t.deepEqual(readFileSync(join(imported.dir, 'headers', 'include', 'linux', 'liveupdate.h'), 'utf8'), '#define LIVEUPDATE_IOCTL_TYPE 0xBA\n');
  const bare = join(dir, 'bare.tar');
  gnuTar(artifact.dir, ['cf', bare, 'manifest.json', 'bzImage', 'config', 'headers']);
  t.is((await fetchArtifact(scratchDir('cache-'), bare)).manifest.key, key);
});

test('a link inside the archive becomes a copy; links out of it, absolute names, .. and device nodes are refused', async (t) => {
  const { artifact, key } = await makeArtifact();
  const dir = scratchDir('tar-');
  // bzImage as a symlink into a subdirectory, and config as a hard link: both stay inside.
  const tree = join(dir, 'tree');
  gnuTar(join(artifact.dir, '..'), ['cf', join(dir, 'plain.tar'), basename(artifact.dir)]);
  mkdirSync(tree);
  gnuTar(tree, ['xf', join(dir, 'plain.tar')]);
  const root = join(tree, basename(artifact.dir));
  mkdirSync(join(root, 'boot'));
  renameSync(join(root, 'bzImage'), join(root, 'boot', 'bzImage'));
  symlinkSync('boot/bzImage', join(root, 'bzImage'));
  linkSync(join(root, 'config'), join(root, 'config.old'));
  const manifest = JSON.parse(readFileSync(join(root, 'manifest.json'), 'utf8')) as KernelManifest;
  manifest.files['boot/bzImage'] = manifest.files.bzImage!;
  manifest.files['config.old'] = manifest.files.config!;
  writeFileSync(join(root, 'manifest.json'), JSON.stringify(manifest));
  const linked = join(dir, 'linked.tgz');
  gnuTar(root, ['czf', linked, 'manifest.json', 'boot', 'bzImage', 'config', 'config.old', 'headers']);
  t.regex(execFileSync('tar', ['tvzf', linked]).toString(), /^l.* bzImage -> boot\/bzImage$(.|\n)*^h.* config\.old link to config$/m, 'the archive really holds a symlink and a hard link');
  const other = scratchDir('cache-');
  const imported = await fetchArtifact(other, linked);
  t.is(imported.manifest.key, key);
  t.false(lstatSync(join(imported.dir, 'bzImage')).isSymbolicLink(), 'the symlink became a plain file');
  t.deepEqual(readFileSync(join(imported.dir, 'bzImage')), Buffer.alloc(4096, 7));
  const fresh = scratchDir('cache-');

  const outside = join(dir, 'outside');
  mkdirSync(outside);
  symlinkSync('../../etc/passwd', join(outside, 'bzImage'));
  writeFileSync(join(outside, 'manifest.json'), readFileSync(join(artifact.dir, 'manifest.json')));
  const escaping = join(dir, 'escaping.tgz');
  gnuTar(outside, ['czf', escaping, 'manifest.json', 'bzImage']);
  await t.throwsAsync(fetchArtifact(fresh, escaping), { instanceOf: ConfigError, message: /link "bzImage" -> "\.\.\/\.\.\/etc\/passwd" that points outside/ });

  const absolute = join(dir, 'absolute.tgz');
  gnuTar(artifact.dir, ['czPf', absolute, join(artifact.dir, 'manifest.json')]);
  await t.throwsAsync(fetchArtifact(fresh, absolute), { instanceOf: ConfigError, message: /unsafe entry "\/.*manifest\.json" \(it points outside/ });

  const climbing = join(dir, 'climbing.tgz');
  gnuTar(artifact.dir, ['czPf', climbing, '../' + basename(artifact.dir) + '/manifest.json']);
  await t.throwsAsync(fetchArtifact(fresh, climbing), { instanceOf: ConfigError, message: /unsafe entry "\.\.\// });

  const fifo = join(dir, 'fifo');
  mkdirSync(fifo);
  execFileSync('mkfifo', [join(fifo, 'pipe')]);
  writeFileSync(join(fifo, 'manifest.json'), readFileSync(join(artifact.dir, 'manifest.json')));
  const withFifo = join(dir, 'fifo.tgz');
  gnuTar(fifo, ['czf', withFifo, 'manifest.json', 'pipe']);
  await t.throwsAsync(fetchArtifact(fresh, withFifo), { instanceOf: ConfigError, message: /unsafe entry "pipe" \(a fifo/ });
  t.deepEqual(await listArtifacts(fresh), [], 'nothing refused lands in the cache');
});

test('an entry whose manifest cannot be read is left out of the list with a warning naming it; the others are listed', async (t) => {
  const { cache, key } = await makeArtifact();
  const broken = join(cache, 'kernels', 'b'.repeat(24));
  mkdirSync(broken, { recursive: true });
  writeFileSync(join(broken, 'manifest.json'), '{"schema": 1, "key"');
  const warnings: string[] = [];
  const listed = await listArtifacts(cache, (m) => warnings.push(m));
  t.deepEqual(listed.map((a) => a.manifest.key), [key]);
  t.deepEqual(warnings, [`${broken} is not a kernel artifact (no readable manifest.json); left out of the cached kernels`]);
});
