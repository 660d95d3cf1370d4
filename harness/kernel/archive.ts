// Kernel artifacts as portable tarballs: built once in CI, fetched anywhere.
// Import streams the archive, checks every file against the manifest and
// refuses a kernel that lacks what a live-update test needs.
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { copyFile, mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { dirname, isAbsolute, join, normalize, resolve } from 'node:path';
import { execa } from 'execa';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import tar from 'tar-stream';
import pRetry, { AbortError } from 'p-retry';
import { ConfigError, InfraError } from '../errors.ts';
import { ARTIFACT_FILES, missingLuoCapabilities, type KernelArtifact, type KernelManifest } from './artifact.ts';
import { publish, recordImport, recordName, stagingDir, verifyFiles } from './store.ts';
import { listFiles } from '../util/hash.ts';

/** Writes `artifact` as a gzipped tarball: manifest.json first, then every file it lists. */
export async function exportArtifact(artifact: KernelArtifact, file: string): Promise<void> {
  const pack = tar.pack();
  const out = pipeline(pack, createGzip(), createWriteStream(file));
  const add = (name: string, path: string, mode: number) =>
    new Promise<void>((resolve, reject) => {
      readFile(path).then((data) => pack.entry({ name, mode, mtime: new Date(0), uid: 0, gid: 0 }, data, (e) => (e ? reject(e) : resolve())), reject);
    });
  await add(ARTIFACT_FILES.manifest, join(artifact.dir, ARTIFACT_FILES.manifest), 0o644);
  for (const f of await listFiles(artifact.dir)) {
    if (f !== ARTIFACT_FILES.manifest) await add(f, join(artifact.dir, f), 0o644);
  }
  pack.finalize();
  await out;
}

export interface FetchOptions {
  sha256?: string;
  /** Accept a kernel without LUO (a negative control). */
  allowNonLuo?: boolean;
}

/** Imports an artifact tarball from a path or an http(s) URL into the cache. */
export async function fetchArtifact(cache: string, location: string, options: FetchOptions = {}): Promise<KernelArtifact> {
  const isUrl = /^https?:\/\//.test(location);
  const attempt = async () => {
    const staging = await stagingDir(cache, 'import');
    try {
      const input = isUrl ? await openUrl(location) : createReadStream(location);
      const manifest = await extract(input, staging, location, options.sha256);
      const problems = await verifyFiles(staging, manifest);
      if (problems.length) throw new AbortError(new ConfigError(`kernel archive ${location} is corrupt`, { detail: problems.join('\n') }));
      const missing = missingLuoCapabilities(manifest);
      if (missing.length && !options.allowNonLuo) {
        throw new AbortError(new ConfigError(`kernel archive ${location} is not a live-update kernel: its manifest lacks ${missing.map((c) => `CONFIG_${c}`).join(', ')}`));
      }
      const artifact = await publish(cache, staging, manifest.key);
      await recordName(cache, manifest.recipe, manifest.key);
      // Remembered so that a corrupt copy, later, is refused with the command that fetches it again.
      await recordImport(cache, manifest.key, isUrl ? location : resolve(location));
      return artifact;
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  };
  try {
    return await pRetry(attempt, {
      retries: isUrl ? 3 : 0,
      minTimeout: 500,
      shouldRetry: ({ error }) => error instanceof InfraError,
    });
  } catch (e) {
    if (e instanceof ConfigError || e instanceof InfraError) throw e;
    throw new ConfigError(`cannot import kernel archive ${location}: ${(e as Error).message}`, { cause: e });
  }
}

async function openUrl(url: string): Promise<Readable> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (cause) {
    throw new InfraError(`cannot reach ${url}`, { cause });
  }
  if (!res.ok || !res.body) {
    const error = new InfraError(`GET ${url} answered ${res.status} ${res.statusText}`);
    if (res.status < 500) throw new AbortError(new ConfigError(error.message));
    throw error;
  }
  return Readable.fromWeb(res.body as never);
}

/** What the first bytes of an archive say it is. */
export function archiveFormat(head: Buffer): 'gzip' | 'xz' | 'tar' | undefined {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (head.subarray(257, 262).toString('latin1') === 'ustar') return 'tar';
  return undefined;
}

/**
 * Where an entry of a standard tar goes, relative to the archive's root:
 * `./x` and `x` are the same; `.` and `./` are the root itself (undefined).
 * Absolute names and names that climb out are refused.
 */
export function entryPath(name: string, location: string): string | undefined {
  const clean = normalize(name.replace(/^(\.\/)+/, '')).replace(/\/+$/, '');
  if (isAbsolute(name) || clean === '..' || clean.startsWith('../')) {
    throw new ConfigError(`kernel archive ${location} holds an unsafe entry "${name}" (it points outside the archive)`);
  }
  return clean === '.' || clean === '' ? undefined : clean;
}

/** A link's target as a path relative to the archive root, refused when it points outside. */
function linkTarget(entry: string, target: string, symbolic: boolean, location: string): string {
  const resolved = symbolic ? normalize(join(dirname(entry), target)) : normalize(target.replace(/^(\.\/)+/, ''));
  if (isAbsolute(target) || resolved === '..' || resolved.startsWith('../')) {
    throw new ConfigError(`kernel archive ${location} holds a link "${entry}" -> "${target}" that points outside the archive`);
  }
  return resolved;
}

async function extract(input: Readable, dest: string, location: string, expectedSha?: string): Promise<KernelManifest> {
  const hash = createHash('sha256');
  const tap = new Transform({
    transform(chunk, _enc, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  // Three plain steps, each with one error path: copy (and hash) the raw
  // bytes, decompress them into a plain tar, unpack it.
  const raw = join(dest, '.archive.raw');
  const plain = join(dest, '.archive.tar');
  const fail = (cause: unknown): never => {
    if (cause instanceof ConfigError) throw new AbortError(cause);
    if (cause instanceof InfraError) throw cause;
    throw new AbortError(new ConfigError(`kernel archive ${location} is not a readable tarball (gzip, xz or plain tar): ${(cause as Error).message}`, { cause }));
  };
  const links: { path: string; target: string }[] = [];
  try {
    await pipeline(input, tap, createWriteStream(raw)).catch((cause: unknown) => {
      throw cause instanceof InfraError ? cause : new InfraError(`cannot read ${location}: ${(cause as Error).message}`, { cause });
    });
    const head = Buffer.alloc(512);
    const fd = await open(raw, 'r');
    await fd.read(head, 0, 512, 0).finally(() => fd.close());
    const format = archiveFormat(head);
    if (format === 'gzip') await pipeline(createReadStream(raw), createGunzip(), createWriteStream(plain)).catch(fail);
    else if (format === 'xz') {
      const r = await execa('xz', ['-dc'], { inputFile: raw, stdout: { file: plain }, reject: false });
      if (r.exitCode !== 0) fail(new Error(`xz: ${r.stderr.trim() || `exit ${r.exitCode}`}`));
    } else if (format === 'tar') await rename(raw, plain);
    else fail(new Error('its first bytes are neither gzip, xz nor a tar header'));
    await rm(raw, { force: true });

    for await (const entry of createReadStream(plain).pipe(tar.extract())) {
      const { type, name } = entry.header;
      const path = entryPath(name, location);
      if (type === 'directory') {
        if (path) await mkdir(join(dest, path), { recursive: true });
        entry.resume();
        continue;
      }
      if (!path) throw new ConfigError(`kernel archive ${location} holds an entry "${name}" with no name`);
      if (type === 'symlink' || type === 'link') {
        links.push({ path, target: linkTarget(path, entry.header.linkname ?? '', type === 'symlink', location) });
        entry.resume();
        continue;
      }
      if (type !== 'file' && type !== 'contiguous-file') {
        throw new ConfigError(`kernel archive ${location} holds an unsafe entry "${name}" (a ${type}, not a file, directory or link)`);
      }
      await mkdir(dirname(join(dest, path)), { recursive: true });
      await pipeline(entry, createWriteStream(join(dest, path)));
    }
    // Links become copies of what they name, so the manifest sees plain files.
    for (const link of links) {
      let target = link.target;
      for (let hops = 0; links.some((l) => l.path === target) && hops < 8; hops++) target = links.find((l) => l.path === target)!.target;
      const from = join(dest, target);
      if (!(await stat(from).then((s) => s.isFile(), () => false))) {
        throw new ConfigError(`kernel archive ${location} holds a link "${link.path}" to "${link.target}", which is not a file in the archive`);
      }
      await mkdir(dirname(join(dest, link.path)), { recursive: true });
      await copyFile(from, join(dest, link.path));
    }
  } catch (cause) {
    fail(cause);
  } finally {
    await rm(raw, { force: true });
    await rm(plain, { force: true });
  }
  const actual = hash.digest('hex');
  if (expectedSha && actual !== expectedSha.toLowerCase()) {
    throw new AbortError(new ConfigError(`kernel archive ${location} has sha256 ${actual}, expected ${expectedSha}`));
  }
  await hoistSingleDirectory(dest);
  const manifest = await readFile(join(dest, ARTIFACT_FILES.manifest), 'utf8').then((t) => JSON.parse(t) as KernelManifest, () => undefined);
  if (!manifest || manifest.schema !== 1 || !/^[0-9a-f]{24}$/.test(manifest.key) || typeof manifest.files !== 'object') {
    throw new AbortError(new ConfigError(`kernel archive ${location} has no valid manifest.json at its top (or in its one top-level directory)`));
  }
  return manifest;
}

/** `tar czf k.tgz artifact-dir/` puts everything under one directory: make that directory the root. */
async function hoistSingleDirectory(dest: string): Promise<void> {
  const top = await readdir(dest, { withFileTypes: true });
  if (top.length !== 1 || !top[0]!.isDirectory()) return;
  const inner = join(dest, top[0]!.name);
  if (!existsSync(join(inner, ARTIFACT_FILES.manifest))) return;
  const moved = join(dest, `.hoist-${process.pid}`);
  await rename(inner, moved);
  for (const name of await readdir(moved)) await rename(join(moved, name), join(dest, name));
  await rm(moved, { recursive: true, force: true });
}
