// Where a machine's files live while it runs (under the cache, so one
// startup sweep finds every stale QEMU), and how its logs reach a results
// directory afterwards.
import { copyFile, mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { cacheLayout } from '../paths.ts';

export const newRunDir = (label = '') => join(cacheLayout().runs, `${Date.now().toString(36)}-${process.pid}${label ? `-${label}` : ''}`);

/**
 * Copies the console and QEMU logs of `runDir` into `destDir` as
 * `<prefix>-<file>`, removes `runDir` (keys, initrd copies) and returns the
 * per-boot console logs it copied.
 */
export async function collectMachineLogs(runDir: string, destDir: string, prefix: string): Promise<{ boot: number; path: string }[]> {
  await mkdir(destDir, { recursive: true });
  const boots: { boot: number; path: string }[] = [];
  for (const f of (await readdir(runDir).catch(() => [] as string[])).filter((f) => /^console.*\.log$|^qemu-stderr\.log$/.test(f)).sort()) {
    const dest = join(destDir, `${prefix}-${f}`);
    await copyFile(join(runDir, f), dest);
    const boot = /^console-boot(\d+)\.log$/.exec(f)?.[1];
    if (boot !== undefined) boots.push({ boot: Number(boot), path: dest });
  }
  await rm(runDir, { recursive: true, force: true });
  return boots;
}
