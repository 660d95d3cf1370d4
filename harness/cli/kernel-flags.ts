// The flags that name a kernel by its source rather than by a recipe: your
// own tree (--tree), a posted series (--series), and how to fetch and apply
// it. Shared by run, kselftest, kernel build and bisect; each becomes a
// recipe file the rest of the harness takes like any other.
import { ConfigError } from '../errors.ts';
import { cacheRoot } from '../paths.ts';
import { parseKernelRef } from '../kernel/refs.ts';
import { DEFAULT_RECIPE, MAX_PATCH_FUZZ } from '../kernel/recipe.ts';
import { parseTreeConfig, seriesRecipe, treeRecipe } from '../kernel/derived-recipes.ts';
import { ARCHIVE_ENV, DEFAULT_ARCHIVE } from '../kernel/series-fetch.ts';

export const KERNEL_SOURCE_OPTIONS = {
  tree: { type: 'string' },
  config: { type: 'string' },
  series: { type: 'string', multiple: true },
  'patch-fuzz': { type: 'string' },
  archive: { type: 'string' },
} as const;

export const KERNEL_SOURCE_HELP = `  --tree PATH           your kernel tree (\`.\` inside one): built out of tree (O=, the tree is never written),
                        incrementally, and used as --kernel
  --config MODE         with --tree: allnoconfig (default) + the harness's fragments, keep (your
                        $KBUILD_OUTPUT/.config + the fragments), or a .config FILE + the fragments
  --series ID|URL|MBOX  a posted patch series on top of --kernel (or --tree): a Message-ID fetched from the
                        archive as <archive>/<id>/t.mbox.gz (the newest version, in order), a URL, or an mbox;
                        repeat it to stack series in that order (the VFIO series on the PCI one)
  --patch-fuzz N        let the series' hunks apply with up to N lines of fuzz (0-${MAX_PATCH_FUZZ}; default 0);
                        every patch that needed it is listed in the manifest and the summary
  --archive URL         lore-compatible archive for --series (default $${ARCHIVE_ENV}, else ${DEFAULT_ARCHIVE})`;

export const COVERAGE_HELP = `  --coverage            build each kernel again with gcov on the live-update code and the files the patches
                        touch (its own artifact; timings not comparable, kept out of the metrics history),
                        count both sides of every kexec (the outgoing kernel read at machine_kexec, inside
                        reboot), and write coverage/<kernel>.info, an HTML report, and per patch the added
                        lines that ran and did not`;

export interface KernelSourceValues {
  kernel?: string | undefined;
  tree?: string | undefined;
  config?: string | undefined;
  series?: string[] | undefined;
  'patch-fuzz'?: string | undefined;
  archive?: string | undefined;
}

/** The archive a series is fetched from (--archive wins over the environment). */
export function applyArchiveFlag(archive: string | undefined): void {
  if (archive === undefined) return;
  if (!/^https?:\/\/[^\s]+$/.test(archive)) throw new ConfigError(`--archive must be an http(s) URL of a lore-compatible archive, got ${JSON.stringify(archive)}`);
  process.env[ARCHIVE_ENV] = archive;
}

export function parsePatchFuzz(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > MAX_PATCH_FUZZ) throw new ConfigError(`--patch-fuzz must be an integer from 0 to ${MAX_PATCH_FUZZ}, got ${JSON.stringify(text)}`);
  return n;
}

/** The recipe --tree makes (a file path), or undefined without --tree; sets the archive for --series. */
export async function treeFromFlags(values: KernelSourceValues): Promise<string | undefined> {
  applyArchiveFlag(values.archive);
  if (values.tree === undefined) {
    if (values.config !== undefined) throw new ConfigError('--config goes with --tree (a recipe says its own config)');
    return undefined;
  }
  if (values.kernel !== undefined) throw new ConfigError('--tree and --kernel both name the kernel to test; give one of them');
  return treeRecipe(values.tree, { cache: cacheRoot(), config: parseTreeConfig(values.config) });
}

/** A kernel reference that a series can go on top of: a recipe, not a built artifact. */
export function checkPatchable(base: string, what: string): string {
  if (parseKernelRef(base).kind !== 'recipe') throw new ConfigError(`${what}, and --kernel ${base} names a built artifact; give a recipe (a name or a .json file) or --tree`);
  return base;
}

/** The recipe --tree and --series make (a file path), or undefined when neither is given. */
export async function kernelFromFlags(values: KernelSourceValues): Promise<string | undefined> {
  const fuzz = parsePatchFuzz(values['patch-fuzz']);
  let ref = await treeFromFlags(values);
  if (values.series !== undefined) {
    const base = checkPatchable(ref ?? values.kernel ?? DEFAULT_RECIPE, '--series patches a recipe');
    ref = await seriesRecipe(base, values.series, { cache: cacheRoot(), ...(fuzz ? { patchFuzz: fuzz } : {}) });
  } else if (fuzz !== undefined) {
    throw new ConfigError('--patch-fuzz goes with --series (a recipe says its own "patchFuzz")');
  }
  return ref;
}
