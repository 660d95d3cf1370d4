// The artifact store: one directory per content key under <cache>/kernels,
// published by rename so a reader never sees a half-written entry, plus a
// name index that maps a recipe to its latest build.
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cacheLayout } from '../paths.ts';
import { ConfigError } from '../errors.ts';
import { ARTIFACT_FILES, type KernelArtifact, type KernelManifest } from './artifact.ts';
import { listFiles, sha256File } from '../util/hash.ts';
import { publishDir } from '../util/cache-entry.ts';

export const kernelsRoot = (cache: string) => cacheLayout(cache).kernels;
const namesDir = (cache: string) => join(kernelsRoot(cache), 'names');
const importsDir = (cache: string) => join(kernelsRoot(cache), 'imported');
const KEY = /^[0-9a-f]{24}$/;

export async function readArtifact(dir: string): Promise<KernelArtifact> {
  const file = join(dir, ARTIFACT_FILES.manifest);
  let manifest: KernelManifest;
  try {
    manifest = JSON.parse(await readFile(file, 'utf8')) as KernelManifest;
  } catch (cause) {
    throw new ConfigError(`${dir} is not a kernel artifact (no readable manifest.json)`, { cause });
  }
  if (manifest.schema !== 1) throw new ConfigError(`${file} has manifest schema ${String(manifest.schema)}, this harness reads schema 1`);
  return { dir, manifest };
}

/** The artifact in the cache with this key, or undefined. */
export async function lookupKey(cache: string, key: string): Promise<KernelArtifact | undefined> {
  const dir = join(kernelsRoot(cache), key);
  return existsSync(join(dir, ARTIFACT_FILES.manifest)) ? readArtifact(dir) : undefined;
}

/**
 * Every kernel in the cache, newest first. An entry whose manifest cannot be
 * read is left out with a warning that names it, so one bad entry does not
 * hide the others (a run that needs it meets it by key and says more).
 */
export async function listArtifacts(cache: string, warn: (message: string) => void = (m) => process.stderr.write(`warning: ${m}\n`)): Promise<KernelArtifact[]> {
  const root = kernelsRoot(cache);
  if (!existsSync(root)) return [];
  const keys = (await readdir(root)).filter((k) => KEY.test(k));
  const found = await Promise.all(
    keys.map((k) =>
      lookupKey(cache, k).catch((e: unknown) => {
        if (!(e instanceof ConfigError)) throw e;
        warn(`${e.message}; left out of the cached kernels`);
        return undefined;
      }),
    ),
  );
  return found.filter((a): a is KernelArtifact => a !== undefined).sort((a, b) => b.manifest.builtAt.localeCompare(a.manifest.builtAt));
}

/** The latest build of a recipe, by the name index. */
export async function lookupName(cache: string, recipe: string): Promise<KernelArtifact | undefined> {
  const named = await readFile(join(namesDir(cache), `${recipe}.json`), 'utf8').then((t) => JSON.parse(t).key as string, () => undefined);
  return named ? lookupKey(cache, named) : undefined;
}

/** Artifacts whose key starts with `prefix`; more than one is ambiguous. */
export async function lookupKeyPrefix(cache: string, prefix: string): Promise<KernelArtifact | undefined> {
  const matches = (await listArtifacts(cache)).filter((a) => a.manifest.key.startsWith(prefix));
  if (matches.length > 1) throw new ConfigError(`kernel key prefix ${prefix} is ambiguous: ${matches.map((m) => m.manifest.key).join(', ')}`);
  return matches[0];
}

/** `dir/name.json`, written whole or not at all (a reader never sees half of it). */
async function writeRecord(dir: string, name: string, value: unknown): Promise<void> {
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${name}.${process.pid}`);
  await writeFile(tmp, JSON.stringify(value) + '\n');
  await rename(tmp, join(dir, `${name}.json`));
}

export const recordName = (cache: string, recipe: string, key: string): Promise<void> => writeRecord(namesDir(cache), recipe, { key });

/** Where an imported artifact came from: what a refusal of it, once corrupt, tells the user to fetch again. */
export interface ImportRecord {
  key: string;
  location: string;
  importedAt: string;
}

export const recordImport = (cache: string, key: string, location: string): Promise<void> =>
  writeRecord(importsDir(cache), key, { key, location, importedAt: new Date().toISOString() } satisfies ImportRecord);

/** The import record of `key`, or undefined for a kernel built here. */
export async function importRecord(cache: string, key: string): Promise<ImportRecord | undefined> {
  return readFile(join(importsDir(cache), `${key}.json`), 'utf8').then((t) => JSON.parse(t) as ImportRecord, () => undefined);
}

/** A kernel built here under `key` is no longer the imported one. */
export async function forgetImport(cache: string, key: string): Promise<void> {
  await rm(join(importsDir(cache), `${key}.json`), { force: true });
}

/** A staging directory for `key`; removed by `publish` or `discard`. */
export async function stagingDir(cache: string, key: string): Promise<string> {
  const dir = join(kernelsRoot(cache), `.staging-${key}-${process.pid}-${Date.now()}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

/** Moves a complete staging directory into place; an intact concurrent winner is kept, a corrupt entry there is moved aside. */
export async function publish(cache: string, staging: string, key: string): Promise<KernelArtifact> {
  const dest = join(kernelsRoot(cache), key);
  await publishDir(staging, dest, async () => {
    const there = await readArtifact(dest).catch(() => undefined);
    return !there ? 'aside' : (await verifyFiles(dest, there.manifest)).length ? 'aside' : 'keep';
  });
  await rm(staging, { recursive: true, force: true });
  return readArtifact(dest);
}

/** sha256 of every file of an artifact directory except the manifest. */
export async function digestFiles(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const f of await listFiles(dir)) if (f !== ARTIFACT_FILES.manifest) files[f] = await sha256File(join(dir, f));
  return files;
}

/** Names what differs between the manifest's file list and the directory. */
export async function verifyFiles(dir: string, manifest: KernelManifest): Promise<string[]> {
  const actual = await digestFiles(dir);
  const problems: string[] = [];
  for (const [f, sum] of Object.entries(manifest.files)) {
    if (!(f in actual)) problems.push(`${f} is missing`);
    else if (actual[f] !== sum) problems.push(`${f} has sha256 ${actual[f]}, the manifest says ${sum}`);
  }
  for (const f of Object.keys(actual)) if (!(f in manifest.files)) problems.push(`${f} is not listed in the manifest`);
  return problems;
}
