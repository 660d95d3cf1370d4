// A cached kernel is checked against its manifest when it is used: the
// files a run reads (the bzImage and the config; the headers when the
// agent is compiled against them) are hashed once per process and compared
// with the sha256 the manifest recorded. A corrupt entry is moved aside
// and, when it came from a recipe, built again; one that was imported is
// refused with the command that imports it again.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ConfigError } from '../errors.ts';
import { cacheLayout } from '../paths.ts';
import { checkFiles, describeMismatch, moveAside, warnOnStderr, type Mismatch } from '../util/cache-entry.ts';
import { ARTIFACT_FILES, type KernelArtifact } from './artifact.ts';
import { kernelsDir } from './recipe.ts';
import { importRecord, kernelsRoot, readArtifact } from './store.ts';

/** A part of an artifact as a run reads it: one file, or every file under a folder. */
export type ArtifactPart = 'bzImage' | 'config' | 'headers' | 'selftests' | 'coverage';

/** What booting a kernel reads: checked whenever a kernel is resolved. */
export const RUN_PARTS: readonly ArtifactPart[] = ['bzImage', 'config'];

/** A cached kernel whose files are not what its manifest says, and that cannot be built again here. Bad input: exit 2. */
export class CorruptKernel extends ConfigError {}

/** The manifest's sha256 of each file of these parts, by absolute path. */
export function partDigests(a: KernelArtifact, parts: readonly ArtifactPart[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [file, sum] of Object.entries(a.manifest.files)) {
    if (parts.some((p) => file === ARTIFACT_FILES[p] || file.startsWith(ARTIFACT_FILES[p] + '/'))) out[join(a.dir, file)] = sum;
  }
  return out;
}

/** What a run reads of this kernel: a coverage kernel's notes, sources and System.map too (its counters are read by them). */
export const runParts = (a: KernelArtifact): readonly ArtifactPart[] => (a.manifest.coverage ? [...RUN_PARTS, 'coverage'] : RUN_PARTS);

/** Files of these parts whose bytes differ from the manifest. */
export const checkArtifact = (a: KernelArtifact, parts: readonly ArtifactPart[] = runParts(a)): Promise<Mismatch[]> => checkFiles(partDigests(a, parts));

/** "The cached kernel luo-7.2 (4c95a9875685) is corrupt: <file> has sha256 <x>, its manifest says <y>." */
export function corruptSentence(a: KernelArtifact, mismatches: readonly Mismatch[]): string {
  const shown = mismatches.slice(0, 3).map((m) => describeMismatch(m)).join('; ');
  const more = mismatches.length > 3 ? `; and ${mismatches.length - 3} more file(s)` : '';
  return `The cached kernel ${a.manifest.recipe} (${a.manifest.key.slice(0, 12)}) is corrupt: ${shown}${more}.`;
}

export interface EnsureIntactOptions {
  parts?: readonly ArtifactPart[];
  /** The caller builds the kernel again from its recipe when this returns undefined. */
  rebuildable: boolean;
  /** Where the rebuild is announced (default: stderr). */
  warn?: (message: string) => void;
}

/**
 * The artifact when its files are intact. Otherwise the entry is moved aside
 * (when it is an entry of this cache) and: undefined, for a caller that
 * builds it again from its recipe, after saying so; or a CorruptKernel that
 * says how to get it back (an imported kernel, or one named by key or
 * directory, is not built here behind the user's back).
 */
export async function ensureIntact(cache: string, a: KernelArtifact, options: EnsureIntactOptions): Promise<KernelArtifact | undefined> {
  const mismatches = await checkArtifact(a, options.parts ?? runParts(a));
  if (mismatches.length === 0) return a;
  const sentence = corruptSentence(a, mismatches);
  const imported = await importRecord(cache, a.manifest.key);
  const inCache = resolve(dirname(a.dir)) === resolve(kernelsRoot(cache));
  const aside = inCache ? await moveAside(a.dir) : undefined;
  const moved = aside ? ` Moved it aside to ${aside}.` : inCache ? ' Another process moved it aside.' : '';
  if (options.rebuildable && !imported) {
    (options.warn ?? warnOnStderr)(`${sentence}${moved} Building it again from its recipe.`);
    return undefined;
  }
  throw new CorruptKernel(`${sentence}${moved} ${howToGetBack(cache, a, imported?.location, inCache)}`);
}

/**
 * The artifact in the cache under `key` when it is intact; undefined when
 * there is none, or when a corrupt one (its files, or a manifest that cannot
 * be read) was moved aside to be built again. An imported one is refused.
 */
export async function lookupIntact(cache: string, key: string, warn?: (message: string) => void): Promise<KernelArtifact | undefined> {
  const dir = join(kernelsRoot(cache), key);
  if (!existsSync(join(dir, ARTIFACT_FILES.manifest))) return undefined;
  const found = await readArtifact(dir).catch((e: unknown) => (e instanceof ConfigError ? e : Promise.reject(e)));
  if (found instanceof ConfigError) {
    const aside = await moveAside(dir);
    const imported = await importRecord(cache, key);
    const sentence = `The cached kernel ${key.slice(0, 12)} is corrupt: ${join(dir, ARTIFACT_FILES.manifest)} cannot be read as a manifest.${aside ? ` Moved it aside to ${aside}.` : ''}`;
    if (imported) throw new CorruptKernel(`${sentence} It was imported, so it is not built here: import it again with \`luo-harness kernel fetch ${imported.location}\`.`, { cause: found });
    (warn ?? warnOnStderr)(`${sentence} Building it again from its recipe.`);
    return undefined;
  }
  return ensureIntact(cache, found, { rebuildable: true, ...(warn ? { warn } : {}) });
}

/** The command that brings a refused kernel back. */
function howToGetBack(cache: string, a: KernelArtifact, importedFrom: string | undefined, inCache: boolean): string {
  const recipe = recipeRef(cache, a.manifest.recipe);
  if (importedFrom) return `It was imported, so it is not built here: import it again with \`luo-harness kernel fetch ${importedFrom}\` (or build it from its recipe with \`luo-harness kernel build ${recipe}\`).`;
  if (!inCache) return `Replace ${a.dir} with an intact copy, or build the kernel from its recipe with \`luo-harness kernel build ${recipe}\`.`;
  return `Build it again with \`luo-harness kernel build ${recipe}\`, or name the recipe (--kernel ${recipe}) to build it as the run starts.`;
}

/** A recipe as `kernel build` takes it: a shipped recipe's name, the file of one the command line made, else a placeholder. */
function recipeRef(cache: string, name: string): string {
  if (existsSync(join(kernelsDir(), `${name}.json`))) return name;
  const made = join(cacheLayout(cache).recipes, `${name}.json`);
  return existsSync(made) ? made : `<the recipe file of ${name}>`;
}
