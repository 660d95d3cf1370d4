// Source trees: resolve what a recipe's source is (cheap: no download), then
// materialize it once into a pristine, shared, read-only-by-convention tree.
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { cacheLayout } from '../paths.ts';
import type { SourceIdentity } from './artifact.ts';
import type { SourceSpec } from './recipe.ts';
import { PrivateApt, fetchDebian, resolveDebian } from './source-debian.ts';
import { fetchGit, resolveGit } from './source-git.ts';
import { fetchTarball } from './source-tarball.ts';
import { resolveLocal } from './source-local.ts';
import { acquireLock } from '../util/lock.ts';
import { sha256 } from '../util/hash.ts';

export async function resolveSource(spec: SourceSpec, cache: string): Promise<SourceIdentity> {
  switch (spec.type) {
    case 'debian':
      return resolveDebian(spec, new PrivateApt(cacheLayout(cache).apt, spec.suites));
    case 'git':
      return resolveGit(spec);
    case 'tarball':
      return { kind: 'tarball', location: spec.location, sha256: spec.sha256 };
    case 'local':
      return resolveLocal(spec.path);
  }
}

/** A short, path-safe, unique name for a source identity. */
export function sourceId(id: SourceIdentity): string {
  const label = {
    debian: () => `debian-${(id as { package: string }).package}`,
    git: () => 'git',
    tarball: () => 'tarball',
    local: () => 'local',
  }[id.kind]();
  return `${label}-${sha256(JSON.stringify(id)).slice(0, 16)}`;
}

/** The directory holding the pristine tree; fetched and extracted on first use. */
export async function materializeSource(
  id: SourceIdentity,
  spec: SourceSpec,
  cache: string,
  say: (phase: string) => void,
): Promise<string> {
  if (id.kind === 'local') return id.path;
  const root = cacheLayout(cache).sources;
  const dest = join(root, sourceId(id));
  if (existsSync(dest)) return dest;
  await mkdir(root, { recursive: true });
  await using _lock = await acquireLock(`${dest}.lock`, { onWait: (pid) => say(`waiting for pid ${pid} to fetch the same source`) });
  if (existsSync(dest)) return dest;
  const work = `${dest}.partial`;
  await rm(work, { recursive: true, force: true });
  try {
    if (id.kind === 'debian') {
      const suites = spec.type === 'debian' ? spec.suites : [];
      await fetchDebian(id, new PrivateApt(cacheLayout(cache).apt, suites), dest, work, say);
    } else if (id.kind === 'git') await fetchGit(id, dest, work, say);
    else await fetchTarball(id, dest, work, say);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return dest;
}
