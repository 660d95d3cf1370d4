// Kernel artifacts as portable tarballs: built once in CI, fetched anywhere.
// Import streams the archive, checks every file against the manifest and
// refuses a kernel that lacks what a live-update test needs.
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { dirname, join, normalize } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import tar from 'tar-stream';
import pRetry, { AbortError } from 'p-retry';
import { ConfigError, InfraError } from '../errors.ts';
import { ARTIFACT_FILES, missingLuoCapabilities, type KernelArtifact, type KernelManifest } from './artifact.ts';
import { publish, recordName, stagingDir, verifyFiles } from './store.ts';
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

async function extract(input: Readable, dest: string, location: string, expectedSha?: string): Promise<KernelManifest> {
  const hash = createHash('sha256');
  const tap = new Transform({
    transform(chunk, _enc, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  // Two steps, each a plain pipeline with one error path: decompress (and
  // hash) into a temporary tar, then unpack it.
  const plain = join(dest, '.archive.tar');
  const fail = (cause: unknown): never => {
    if (cause instanceof ConfigError) throw new AbortError(cause);
    if (cause instanceof InfraError) throw cause;
    throw new AbortError(new ConfigError(`kernel archive ${location} is not a readable gzipped tarball: ${(cause as Error).message}`, { cause }));
  };
  await pipeline(input, tap, createGunzip(), createWriteStream(plain)).catch(fail);
  try {
    for await (const entry of createReadStream(plain).pipe(tar.extract())) {
      const name = normalize(entry.header.name);
      if (name.startsWith('..') || name.startsWith('/') || entry.header.type !== 'file') {
        throw new ConfigError(`kernel archive ${location} holds an unsafe entry "${entry.header.name}"`);
      }
      const path = join(dest, name);
      await mkdir(dirname(path), { recursive: true });
      await pipeline(entry, createWriteStream(path));
    }
  } catch (cause) {
    fail(cause);
  } finally {
    await rm(plain, { force: true });
  }
  const actual = hash.digest('hex');
  if (expectedSha && actual !== expectedSha.toLowerCase()) {
    throw new AbortError(new ConfigError(`kernel archive ${location} has sha256 ${actual}, expected ${expectedSha}`));
  }
  const manifest = await readFile(join(dest, ARTIFACT_FILES.manifest), 'utf8').then((t) => JSON.parse(t) as KernelManifest, () => undefined);
  if (!manifest || manifest.schema !== 1 || !/^[0-9a-f]{24}$/.test(manifest.key) || typeof manifest.files !== 'object') {
    throw new AbortError(new ConfigError(`kernel archive ${location} has no valid manifest.json`));
  }
  return manifest;
}
