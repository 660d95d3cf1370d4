// Where generated things live: never in the repository.
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
