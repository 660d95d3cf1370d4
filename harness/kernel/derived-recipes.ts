// Recipes the command line makes: a developer's own tree (`--tree PATH`), a
// recipe plus a posted series (`--series <message-id>`), and bisect's
// prefixes of a series. Each is written as JSON under the cache's recipes/
// folder, so that everything downstream (plans, the store's name index,
// `kernel list`, results) sees an ordinary recipe file.
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { ConfigError } from '../errors.ts';
import { cacheLayout } from '../paths.ts';
import { sha256 } from '../util/hash.ts';
import { fragmentsDir, loadRecipe, parseRecipe, recipeToJson, type Recipe } from './recipe.ts';
import { parseSeriesRef } from './series-fetch.ts';

/** The fragments every harness kernel gets (what the default recipe uses). */
export const HARNESS_FRAGMENTS = ['guest-minimal', 'liveupdate', 'iommu-vfio'];
/** And those it gets where its tree defines their options: device preservation, in a tree carrying the PCI and VFIO series. */
export const HARNESS_WHEN_DEFINED = ['pci-vfio-liveupdate'];

/** `--config`: the harness's allnoconfig + fragments (default), your out-of-tree build's config (`keep`), or a .config file; the fragments go on top of either. */
export type TreeConfig = 'allnoconfig' | 'keep' | { file: string };

export function parseTreeConfig(text: string | undefined): TreeConfig {
  if (text === undefined || text === 'allnoconfig') return 'allnoconfig';
  if (text === 'keep') return 'keep';
  const file = resolve(text);
  if (!existsSync(file) || !statSync(file).isFile()) throw new ConfigError(`--config ${text}: no such file (give allnoconfig, keep, or a .config file)`);
  return { file };
}

const short = (text: string) => sha256(text).slice(0, 8);

/** Refuses what kbuild cannot build out of tree, naming what to do; returns the tree's real path. */
export function checkKernelTree(path: string): string {
  if (!existsSync(path) || !statSync(path).isDirectory()) throw new ConfigError(`--tree ${path}: no such directory`);
  const tree = realpathSync(path);
  const makefile = join(tree, 'Makefile');
  // The version lines open the Makefile.
  const head = existsSync(makefile) ? readFileSync(makefile, 'utf8').slice(0, 4096) : '';
  if (!/^VERSION = \d+$/m.test(head) || !/^PATCHLEVEL = \d+$/m.test(head) || !existsSync(join(tree, 'Kconfig')) || !existsSync(join(tree, 'arch', 'x86'))) {
    throw new ConfigError(`${path} is not a Linux kernel source tree (no top-level Makefile with VERSION and PATCHLEVEL, Kconfig and arch/x86); give --tree the top directory of a kernel tree`);
  }
  const inPlace = ['.config', join('include', 'config'), join('arch', 'x86', 'include', 'generated')].filter((f) => existsSync(join(tree, f)));
  if (inPlace.length) {
    throw new ConfigError(
      `${path} has been configured or built in place (${inPlace.join(', ')} ${inPlace.length > 1 ? 'exist' : 'exists'}): luo-harness builds out of tree and never writes your tree, and kbuild cannot build out of tree from a tree in that state. ` +
        `Keep your config elsewhere (cp ${join(path, '.config')} ../my.config), run \`make mrproper\` in the tree, then pass --config ../my.config`,
    );
  }
  return tree;
}

/** The config file `--config keep` means: the one of your out-of-tree build directory ($KBUILD_OUTPUT). */
function keptConfig(env: NodeJS.ProcessEnv): string {
  const out = env.KBUILD_OUTPUT;
  if (!out) throw new ConfigError('--config keep takes the config of your out-of-tree build ($KBUILD_OUTPUT/.config), and KBUILD_OUTPUT is not set; pass --config FILE with your .config instead');
  const file = join(resolve(out), '.config');
  if (!existsSync(file)) throw new ConfigError(`--config keep: ${file} does not exist (KBUILD_OUTPUT=${out}); configure that build first, or pass --config FILE`);
  return file;
}

let writes = 0;

/** Writes a recipe under the cache's recipes/ (atomically) and returns its path. */
async function writeRecipe(cache: string, json: Record<string, unknown>): Promise<string> {
  const dir = cacheLayout(cache).recipes;
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${json.name as string}.json`);
  const text = JSON.stringify(json, null, 2) + '\n';
  if ((await readFile(file, 'utf8').catch(() => '')) === text) return file;
  parseRecipe(json, file); // a recipe the harness writes must parse, or the mistake is ours
  // Unique per write: one process may write the same recipe twice at once (kselftest --coverage, from and to).
  const tmp = `${file}.${process.pid}.${++writes}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, file);
  return file;
}

/** A recipe for the kernel tree at `path`: built out of tree (O=), the harness's fragments on the chosen config. */
export async function treeRecipe(path: string, options: { cache: string; config?: TreeConfig; env?: NodeJS.ProcessEnv }): Promise<string> {
  const tree = checkKernelTree(path);
  const mode = options.config ?? 'allnoconfig';
  const base = mode === 'allnoconfig' ? 'allnoconfig' : mode === 'keep' ? keptConfig(options.env ?? process.env) : mode.file;
  const label = basename(tree).replace(/[^A-Za-z0-9._-]+/g, '_') || 'tree';
  return writeRecipe(options.cache, {
    name: `tree-${label}-${short(`${tree}\0${mode === 'allnoconfig' ? mode : 'file'}`)}`,
    description: `the kernel tree at ${tree}, built out of tree (${base === 'allnoconfig' ? 'allnoconfig' : base} + the harness's fragments)`,
    source: { type: 'local', path: tree },
    config: { base, fragments: HARNESS_FRAGMENTS.map((f) => join(fragmentsDir(), `${f}.config`)), whenDefined: HARNESS_WHEN_DEFINED.map((f) => join(fragmentsDir(), `${f}.config`)) },
  });
}

export interface SeriesRecipeOptions {
  cache: string;
  /** Per series, only its first N patches (bisect's prefixes); undefined: all of it, 0: none. */
  firsts?: readonly (number | undefined)[];
  patchFuzz?: number;
}

/**
 * `base` with more patches appended, named `name` (`-p<suffix>` for a
 * prefix). Every prefix of one series shares one build directory, so going
 * from one prefix to the next recompiles only what the patches in between
 * touch: the base's own where its source is patched in place (the tree is
 * the same one, so the base's objects count too), a new one beside a
 * user's tree (whose patched copy is another tree).
 */
async function derivedRecipe(
  base: Recipe,
  name: string,
  extra: { description: string; patches: unknown[]; prefix?: string | undefined },
  options: { cache: string; patchFuzz?: number | undefined },
): Promise<string> {
  const json = recipeToJson(base);
  return writeRecipe(options.cache, {
    ...json,
    name: extra.prefix === undefined ? name : `${name}-p${extra.prefix}`,
    description: extra.description,
    patches: [...(json.patches as unknown[]), ...extra.patches],
    ...(options.patchFuzz ? { patchFuzz: options.patchFuzz } : {}),
    buildDir: base.source.type === 'local' ? `${name}-build` : (base.buildDir ?? base.name),
  });
}

/**
 * `base` (a recipe name or file) with one or more series appended in order,
 * stacked as posted (the VFIO series on the PCI one); `firsts` cuts each to
 * a prefix for bisect.
 */
export async function seriesRecipe(baseRef: string, series: string | readonly string[], options: SeriesRecipeOptions): Promise<string> {
  const base: Recipe = await loadRecipe(baseRef);
  const list = typeof series === 'string' ? [series] : [...series];
  if (list.length === 0) throw new ConfigError('--series names no series');
  const refs = list.map((s) => {
    const parsed = parseSeriesRef(s, `--series ${s}`);
    const ref = parsed.kind === 'file' ? resolve(parsed.path) : s.trim();
    // The same series names the same recipe however it was spelled.
    const identity = parsed.kind === 'message-id' ? parsed.id : parsed.kind === 'url' ? parsed.url : realpathSync(ref);
    return { ref, identity, shown: parsed.kind === 'message-id' ? `<${parsed.id}>` : ref };
  });
  const firsts = options.firsts ?? [];
  const cut = firsts.some((f) => f !== undefined);
  const entries = refs
    .map((r, i) => ({ series: r.ref, ...(firsts[i] !== undefined ? { first: firsts[i] } : {}) }))
    .filter((e) => e.first !== 0);
  const shown = refs.map((r, i) => `${r.shown}${firsts[i] === undefined ? '' : ` (its first ${firsts[i]} patch(es))`}`);
  return derivedRecipe(base, `${base.name}-s${short(refs.map((r) => r.identity).join('\0'))}`, {
    description: `${base.name} + series ${shown.join(' + ')}`,
    patches: entries,
    prefix: cut ? firsts.map((f) => f ?? 'all').join('.') : undefined,
  }, options);
}

/** The patch files of a directory, in order (git format-patch names them 0001-..., 0002-...). */
export async function patchFilesOf(dir: string): Promise<string[]> {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ConfigError(`--patches ${dir}: no such directory`);
  const files = (await readdir(dir)).filter((f) => /\.(patch|diff)$/.test(f)).sort();
  if (files.length === 0) throw new ConfigError(`--patches ${dir} holds no .patch or .diff file`);
  return files.map((f) => join(realpathSync(dir), f));
}

/** `base` with the first `first` (default: all) patch files of `dir` appended; every prefix shares one build directory. */
export async function patchDirRecipe(baseRef: string, dir: string, options: { cache: string; first?: number; patchFuzz?: number }): Promise<string> {
  const base: Recipe = await loadRecipe(baseRef);
  const files = await patchFilesOf(dir);
  const first = options.first ?? files.length;
  return derivedRecipe(base, `${base.name}-d${short(realpathSync(dir))}`, {
    description: `${base.name} + ${first} of the ${files.length} patch(es) in ${dir}`,
    patches: files.slice(0, first),
    prefix: first === files.length ? undefined : String(first),
  }, options);
}

/**
 * The coverage twin of a recipe (`--coverage`): the same kernel with gcov on
 * the live-update code and the files its patches touch, in a build
 * directory of its own beside the plain one's (same tree, same compiler
 * cache). Its upgrade target is that recipe's twin, so an A -> B live
 * update is counted on both kernels. Never measured for blackout.
 */
export async function coverageRecipe(baseRef: string, options: { cache: string }): Promise<string> {
  const base: Recipe = await loadRecipe(baseRef);
  if (base.coverage) return base.file;
  const json = recipeToJson(base);
  const upgradeTo = base.upgradeTo ? await coverageRecipe(base.upgradeTo, options).catch(() => undefined) : undefined;
  return writeRecipe(options.cache, {
    ...json,
    name: `${base.name}-coverage`,
    description: `${base.description ?? base.name}, built for coverage (gcov on the live-update code)`,
    config: { ...(json.config as Record<string, unknown>), fragments: [...base.config.fragments, join(fragmentsDir(), 'coverage.config')] },
    buildDir: `${base.buildDir ?? base.name}-coverage`,
    coverage: true,
    ...(upgradeTo ? { upgradeTo } : {}),
  });
}
