// A kernel tarball from a path or an http(s) URL, checked against its sha256.
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { execa } from 'execa';
import pRetry, { AbortError } from 'p-retry';
import { ConfigError, InfraError } from '../errors.ts';
import type { SourceIdentity } from './artifact.ts';
import { sha256File } from '../util/hash.ts';

type TarballIdentity = Extract<SourceIdentity, { kind: 'tarball' }>;

/** Streams an http(s) URL to `file`, retrying network errors and 5xx answers. */
export async function download(url: string, file: string): Promise<void> {
  await pRetry(
    async () => {
      const res = await fetch(url);
      if (!res.ok || !res.body) {
        const error = new InfraError(`GET ${url} answered ${res.status} ${res.statusText}`);
        throw res.status >= 500 ? error : new AbortError(error);
      }
      await pipeline(Readable.fromWeb(res.body as never), createWriteStream(file));
    },
    { retries: 3, minTimeout: 500, maxTimeout: 5000 },
  );
}

export async function fetchTarball(id: TarballIdentity, dest: string, work: string, say: (phase: string) => void): Promise<void> {
  await rm(work, { recursive: true, force: true });
  await mkdir(join(work, 'tree'), { recursive: true });
  let file = id.location;
  if (/^https?:\/\//.test(id.location)) {
    say(`fetching ${id.location}`);
    file = join(work, 'source.tar');
    await download(id.location, file);
  }
  const actual = await sha256File(file);
  if (actual !== id.sha256) {
    throw new ConfigError(`tarball ${id.location} has sha256 ${actual}, the recipe expects ${id.sha256}`);
  }
  say(`extracting ${id.location}`);
  try {
    await execa('tar', ['-xf', file, '-C', join(work, 'tree')]);
  } catch (cause) {
    throw new ConfigError(`tarball ${id.location} cannot be extracted: ${(cause as { stderr?: string }).stderr?.trim() ?? ''}`, { cause });
  }
  const top = await readdir(join(work, 'tree'));
  const root = top.length === 1 ? join(work, 'tree', top[0]!) : join(work, 'tree');
  await rename(root, dest);
  await rm(work, { recursive: true, force: true });
}
