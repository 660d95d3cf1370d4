// The one reading of a kernel reference, as every command and API takes it:
// a recipe (kernels/NAME.json, or a path to a .json file), a content key or
// a unique prefix of one (4 to 24 hex digits), or an artifact directory.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../errors.ts';
import { cacheRoot } from '../paths.ts';
import type { KernelArtifact } from './artifact.ts';
import { buildKernel } from './pipeline.ts';
import { kernelsDir } from './recipe.ts';
import { lookupKeyPrefix, lookupName, readArtifact } from './store.ts';
import { ensureIntact } from './integrity.ts';

export type KernelRef = { kind: 'recipe'; ref: string } | { kind: 'key'; prefix: string } | { kind: 'dir'; path: string };

const KEY_PREFIX = /^[0-9a-f]{4,24}$/;

export function parseKernelRef(text: string): KernelRef {
  const ref = text.trim();
  if (!ref) throw new ConfigError('a kernel reference is empty; name a recipe, a key or an artifact directory');
  if (ref.endsWith('.json')) return { kind: 'recipe', ref };
  // A recipe of that name wins over a key prefix that happens to look the same.
  if (KEY_PREFIX.test(ref) && !existsSync(join(kernelsDir(), `${ref}.json`))) return { kind: 'key', prefix: ref };
  if (ref.includes('/')) return { kind: 'dir', path: ref };
  return { kind: 'recipe', ref };
}

/** What is in the cache for a reference, building nothing: a recipe's latest build, a key, a directory. */
export async function findArtifact(cache: string, text: string): Promise<KernelArtifact | undefined> {
  const ref = parseKernelRef(text);
  if (ref.kind === 'dir') return existsSync(ref.path) ? readArtifact(ref.path) : undefined;
  if (ref.kind === 'key') return lookupKeyPrefix(cache, ref.prefix);
  // A recipe name, or a key prefix that is also a recipe's name.
  return (await lookupName(cache, ref.ref)) ?? (KEY_PREFIX.test(ref.ref) ? lookupKeyPrefix(cache, ref.ref) : undefined);
}

/**
 * The artifact a reference names: a recipe is built (or found in the cache by
 * its content key), a key or directory must exist. The files a run reads are
 * checked against the manifest (kernel/integrity.ts): a corrupt build of a
 * recipe is built again; a corrupt kernel named by key or directory, or an
 * imported one, is refused (CorruptKernel, a ConfigError).
 */
export async function resolveKernelRef(text: string, options: { cache?: string; quiet?: boolean; warn?: (message: string) => void } = {}): Promise<KernelArtifact> {
  const cache = options.cache ?? cacheRoot();
  const ref = parseKernelRef(text);
  switch (ref.kind) {
    case 'recipe':
      return buildKernel(ref.ref, { cache, ...(options.quiet ? { quiet: true } : {}), ...(options.warn ? { warn: options.warn } : {}) });
    case 'key': {
      const found = await lookupKeyPrefix(cache, ref.prefix);
      if (!found) throw new ConfigError(`no kernel artifact with key ${ref.prefix} in ${cache}; \`luo-harness kernel list\` shows what there is`);
      return (await ensureIntact(cache, found, { rebuildable: false }))!;
    }
    case 'dir':
      if (!existsSync(ref.path)) throw new ConfigError(`kernel artifact directory ${ref.path} does not exist`);
      return (await ensureIntact(cache, await readArtifact(ref.path), { rebuildable: false }))!;
  }
}
