// Kernel recipes: what to build, validated field by field so that a typo
// is reported with the file and the field, never as a failed build later.
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { ConfigError } from '../errors.ts';
import { repoRoot } from '../paths.ts';

export type SourceSpec =
  | { type: 'debian'; package: string; version?: string; suites: string[] }
  | { type: 'git'; url: string; ref: string }
  | { type: 'tarball'; location: string; sha256: string }
  | { type: 'local'; path: string };

export type ConfigBase = 'allnoconfig' | 'defconfig' | { file: string };

/**
 * One entry of a recipe's patches: a patch or mbox file, or a series named by
 * Message-ID, URL or mbox file (fetched from the archive, kernel/series-fetch.ts).
 * `first`: apply only the first N patches of it (bisect's prefixes).
 */
export type PatchRef = { file: string; first?: number } | { series: string; first?: number };

/** How far GNU patch may fuzz a hunk's context (its own default is 2; ours is 0: a fuzzed hunk is never silent). */
export const MAX_PATCH_FUZZ = 3;

export interface Recipe {
  name: string;
  description?: string;
  source: SourceSpec;
  /** Patch files (absolute paths), mbox series and series by Message-ID, applied in order. */
  patches: PatchRef[];
  /** Context lines a hunk may miss and still apply (0: none); each patch that needed it is recorded. */
  patchFuzz: number;
  /** Build directory name shared with other recipes (incremental across them); default the recipe's name. */
  buildDir?: string;
  /**
   * `whenDefined`: fragments whose options are asked for only where the tree
   * defines them (a Kconfig symbol a patch series adds), so one recipe fits
   * the stock tree and every prefix of the series; elsewhere strict as ever.
   */
  config: { base: ConfigBase; fragments: string[]; whenDefined: string[] };
  cmdline: string[];
  /** The recipe an A -> B live update from this one goes to by default (upgrade scenarios, kselftest --to). */
  upgradeTo?: string;
  /** Build for coverage: gcov on the live-update files and the files the patches touch (kernel/coverage-build.ts). */
  coverage?: boolean;
  /** The file the recipe came from, for error messages and relative paths. */
  file: string;
}

export const DEFAULT_RECIPE = 'luo-7.2';
export const DEFAULT_SUITES = ['sid', 'trixie-backports'];
export const kernelsDir = () => join(repoRoot, 'kernels');
export const fragmentsDir = () => join(kernelsDir(), 'config');

/** A recipe by name (kernels/NAME.json) or by path to a JSON file. */
export async function loadRecipe(ref: string = DEFAULT_RECIPE): Promise<Recipe> {
  const file = resolveRecipeFile(ref);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new ConfigError(`cannot read recipe ${file}`, { cause });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw new ConfigError(`recipe ${file} is not valid JSON: ${(cause as Error).message}`, { cause });
  }
  return parseRecipe(raw, file);
}

function resolveRecipeFile(ref: string): string {
  if (ref.endsWith('.json') || ref.includes('/')) {
    const file = resolve(ref);
    if (!existsSync(file)) throw new ConfigError(`recipe file ${ref} does not exist`);
    return file;
  }
  const file = join(kernelsDir(), `${ref}.json`);
  if (!existsSync(file)) {
    throw new ConfigError(`no recipe named "${ref}" (looked for ${file}); see \`luo-harness kernel list\``);
  }
  return file;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const SHA256 = /^[0-9a-f]{64}$/;
const KERNEL_ARG = /^[^\s]+$/;

/** Validates a parsed recipe; every problem names the file and the field. */
export function parseRecipe(raw: unknown, file: string): Recipe {
  const where = (field: string) => `recipe ${file}: field "${field}"`;
  const fail = (field: string, what: string): never => {
    throw new ConfigError(`${where(field)} ${what}`);
  };
  if (!isObject(raw)) fail('(top level)', 'must be a JSON object');
  const r = raw as Record<string, unknown>;
  const known = ['name', 'description', 'source', 'patches', 'patchFuzz', 'buildDir', 'config', 'cmdline', 'upgradeTo', 'coverage'];
  for (const key of Object.keys(r)) if (!known.includes(key)) fail(key, `is not a recipe field (known: ${known.join(', ')})`);

  const name = r.name ?? basename(file).replace(/\.json$/, '');
  if (typeof name !== 'string' || !NAME.test(name)) fail('name', 'must be a name of letters, digits, ".", "_" or "-"');
  if (r.description !== undefined && typeof r.description !== 'string') fail('description', 'must be a string');

  const base = dirname(file);
  const source = parseSource(r.source, base, fail);

  const patches = parsePatches(r.patches, base, fail);
  const patchFuzz = r.patchFuzz ?? 0;
  if (!Number.isInteger(patchFuzz) || (patchFuzz as number) < 0 || (patchFuzz as number) > MAX_PATCH_FUZZ) fail('patchFuzz', `must be an integer from 0 to ${MAX_PATCH_FUZZ} (context lines a hunk may miss)`);
  if (r.buildDir !== undefined && (typeof r.buildDir !== 'string' || !NAME.test(r.buildDir))) fail('buildDir', 'must be a name of letters, digits, ".", "_" or "-"');

  if (!isObject(r.config)) fail('config', 'must be an object with "base" and "fragments"');
  const c = r.config as Record<string, unknown>;
  for (const key of Object.keys(c)) if (!['base', 'fragments', 'whenDefined'].includes(key)) fail(`config.${key}`, 'is not a config field (known: base, fragments, whenDefined)');
  let configBase: ConfigBase;
  if (c.base === 'allnoconfig' || c.base === 'defconfig') configBase = c.base;
  else if (typeof c.base === 'string' && c.base.length > 0) {
    const path = isAbsolute(c.base) ? c.base : join(base, c.base);
    if (!existsSync(path)) fail('config.base', `must be "allnoconfig", "defconfig" or an existing .config file; ${c.base} does not exist`);
    configBase = { file: path };
  } else fail('config.base', 'must be "allnoconfig", "defconfig" or a path to a .config file');
  const fragmentList = (field: 'fragments' | 'whenDefined') =>
    optionalStringArray(c[field], `config.${field}`, fail).map((f, i) => {
      const path = resolveFragment(f, base);
      if (!path) fail(`config.${field}[${i}]`, `names "${f}", which is neither kernels/config/${f}.config nor an existing file`);
      return path as string;
    });
  const fragments = fragmentList('fragments');
  const whenDefined = fragmentList('whenDefined');

  const cmdline = optionalStringArray(r.cmdline, 'cmdline', fail);
  cmdline.forEach((a, i) => KERNEL_ARG.test(a) || fail(`cmdline[${i}]`, 'must be one kernel argument without spaces'));

  if (r.upgradeTo !== undefined && (typeof r.upgradeTo !== 'string' || !r.upgradeTo)) fail('upgradeTo', 'must name a recipe');
  if (r.coverage !== undefined && typeof r.coverage !== 'boolean') fail('coverage', 'must be true or false');
  return {
    name: name as string,
    ...(r.description ? { description: r.description as string } : {}),
    source,
    patches,
    patchFuzz: patchFuzz as number,
    ...(r.buildDir ? { buildDir: r.buildDir as string } : {}),
    config: { base: configBase!, fragments, whenDefined },
    cmdline,
    ...(r.upgradeTo ? { upgradeTo: r.upgradeTo as string } : {}),
    ...(r.coverage ? { coverage: true } : {}),
    file,
  };
}

function parsePatches(raw: unknown, base: string, fail: (f: string, w: string) => never): PatchRef[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) return fail('patches', 'must be an array of patch files and { "series": "<message-id>" } objects');
  return raw.map((p, i): PatchRef => {
    const field = `patches[${i}]`;
    if (typeof p === 'string' && p.length > 0) {
      const path = isAbsolute(p) ? p : join(base, p);
      if (!existsSync(path)) fail(field, `names ${p}, which does not exist (looked at ${path})`);
      return { file: path };
    }
    if (!isObject(p)) return fail(field, 'must be a patch file or an object like { "series": "<message-id>" }');
    for (const k of Object.keys(p)) if (k !== 'series' && k !== 'first') fail(`${field}.${k}`, 'is not a field of a series entry (known: series, first)');
    if (typeof p.series !== 'string' || !p.series.trim()) fail(`${field}.series`, 'must be a Message-ID, an archive URL or an mbox file');
    if (p.first !== undefined && (!Number.isInteger(p.first) || (p.first as number) < 0)) fail(`${field}.first`, 'must be a count of patches (0 or more)');
    const ref = (p.series as string).trim();
    // A relative mbox path is relative to the recipe, like a patch file.
    const series = !/^[a-z]+:\/\//.test(ref) && !ref.includes('@') && !isAbsolute(ref) ? join(base, ref) : ref;
    return { series, ...(p.first !== undefined ? { first: p.first as number } : {}) };
  });
}

function parseSource(raw: unknown, base: string, fail: (f: string, w: string) => never): SourceSpec {
  if (!isObject(raw)) fail('source', 'must be an object with a "type" of debian, git, tarball or local');
  const s = raw as Record<string, unknown>;
  const str = (key: string, required = true): string | undefined => {
    const v = s[key];
    if (v === undefined && !required) return undefined;
    if (typeof v !== 'string' || v.length === 0) fail(`source.${key}`, 'must be a non-empty string');
    return v as string;
  };
  const only = (keys: string[]) => {
    for (const k of Object.keys(s)) if (k !== 'type' && !keys.includes(k)) fail(`source.${k}`, `is not a field of a ${String(s.type)} source (known: ${keys.join(', ')})`);
  };
  switch (s.type) {
    case 'debian': {
      only(['package', 'version', 'suites']);
      const pkg = str('package')!;
      if (!/^linux-source-\d+\.\d+$/.test(pkg)) fail('source.package', `must be a linux-source-X.Y package name, not "${pkg}"`);
      const version = str('version', false);
      const suites = s.suites === undefined ? DEFAULT_SUITES : optionalStringArray(s.suites, 'source.suites', fail);
      if (suites.length === 0) fail('source.suites', 'must name at least one suite');
      return { type: 'debian', package: pkg, ...(version ? { version } : {}), suites };
    }
    case 'git': {
      only(['url', 'ref']);
      return { type: 'git', url: str('url')!, ref: str('ref')! };
    }
    case 'tarball': {
      only(['path', 'url', 'sha256']);
      const path = str('path', false);
      const url = str('url', false);
      if (!path === !url) fail('source', 'of type tarball needs exactly one of "path" or "url"');
      const sha256 = str('sha256')!.toLowerCase();
      if (!SHA256.test(sha256)) fail('source.sha256', 'must be 64 hex digits');
      if (url && !/^https?:\/\//.test(url)) fail('source.url', 'must be an http(s) URL');
      const location = url ?? (isAbsolute(path!) ? path! : join(base, path!));
      if (path && !existsSync(location)) fail('source.path', `names ${path}, which does not exist`);
      return { type: 'tarball', location, sha256 };
    }
    case 'local': {
      only(['path']);
      const p = str('path')!;
      const path = isAbsolute(p) ? p : join(base, p);
      if (!existsSync(join(path, 'Makefile')) || !existsSync(join(path, 'Kconfig'))) fail('source.path', `names ${p}, which is not a kernel tree (no Makefile and Kconfig there)`);
      return { type: 'local', path };
    }
    default:
      return fail('source.type', `must be one of debian, git, tarball, local (got ${JSON.stringify(s.type)})`);
  }
}

function resolveFragment(ref: string, base: string): string | undefined {
  if (!ref.includes('/') && !ref.endsWith('.config')) {
    const named = join(fragmentsDir(), `${ref}.config`);
    return existsSync(named) ? named : undefined;
  }
  const path = isAbsolute(ref) ? ref : join(base, ref);
  return existsSync(path) ? path : undefined;
}

function optionalStringArray(v: unknown, field: string, fail: (f: string, w: string) => never): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) return fail(field, 'must be an array of strings');
  v.forEach((x, i) => (typeof x !== 'string' || x.length === 0) && fail(`${field}[${i}]`, 'must be a non-empty string'));
  return v as string[];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A recipe as JSON again (every path absolute), for the recipes the harness writes itself. */
export function recipeToJson(r: Recipe): Record<string, unknown> {
  const source = r.source.type === 'tarball' ? { type: 'tarball', ...(/^https?:/.test(r.source.location) ? { url: r.source.location } : { path: r.source.location }), sha256: r.source.sha256 } : { ...r.source };
  const upgradeTo = r.upgradeTo && r.upgradeTo.endsWith('.json') && !isAbsolute(r.upgradeTo) ? join(dirname(r.file), r.upgradeTo) : r.upgradeTo;
  return {
    name: r.name,
    ...(r.description ? { description: r.description } : {}),
    source,
    patches: r.patches.map((p) => ('file' in p ? (p.first === undefined ? p.file : { series: p.file, first: p.first }) : p)),
    ...(r.patchFuzz ? { patchFuzz: r.patchFuzz } : {}),
    ...(r.buildDir ? { buildDir: r.buildDir } : {}),
    config: { base: typeof r.config.base === 'string' ? r.config.base : r.config.base.file, fragments: r.config.fragments, ...(r.config.whenDefined.length ? { whenDefined: r.config.whenDefined } : {}) },
    ...(r.cmdline.length ? { cmdline: r.cmdline } : {}),
    ...(upgradeTo ? { upgradeTo } : {}),
    ...(r.coverage ? { coverage: true } : {}),
  };
}
