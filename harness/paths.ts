// Where things live: the repository's own folders, and the one layout of the
// cache (every generated thing; never in the repository). Every folder name
// of the cache is written here and nowhere else.
import { homedir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (kernels/, images/ and suites/ are found from here). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** `$LUO_HARNESS_CACHE`, else `$XDG_CACHE_HOME/luo-harness`, else `~/.cache/luo-harness`. */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.LUO_HARNESS_CACHE) return resolve(env.LUO_HARNESS_CACHE);
  const xdg = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(xdg, 'luo-harness');
}

/** The cache's layout under `root` (default: cacheRoot()). */
export function cacheLayout(root: string = cacheRoot()) {
  return {
    root,
    /** Private apt state for Debian sources. */
    apt: join(root, 'apt'),
    /** Fetched source trees, one per source identity (patched in place, see kernel/tree.ts). */
    sources: join(root, 'sources'),
    /** Patched copies of users' own trees, one per recipe. */
    trees: join(root, 'trees'),
    /** Out-of-tree build directories, one per recipe. */
    build: join(root, 'build'),
    /** Kernel artifacts by content key, and the recipe name index. */
    kernels: join(root, 'kernels'),
    /** Build logs. */
    logs: join(root, 'logs'),
    /** In-guest agents, built per kernel headers. */
    agents: join(root, 'agents'),
    /** The nested VM's firmware (the tiny guest a VMM in the guest runs), by source. */
    nestedGuests: join(root, 'nested-guests'),
    /** Guest initramfs images. */
    images: join(root, 'images'),
    /** Running machines' directories (console logs, keys, pidfiles): one sweep finds every stale QEMU. */
    runs: join(root, 'runs'),
    /** Recipes the command line made (--tree, --series, bisect's prefixes). */
    recipes: join(root, 'recipes'),
    /** Patch series fetched by Message-ID. */
    series: join(root, 'series'),
    /** The blackout history of every run. */
    metrics: join(root, 'metrics.jsonl'),
  };
}
