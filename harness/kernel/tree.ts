// The private, patched copy of a pristine source tree. Between builds only
// the files the old and new series touched are restored and re-patched,
// and all of them get a fresh mtime, so an incremental build recompiles
// exactly what changed (a reverted file would otherwise keep its old mtime
// and leave a stale object behind).
import { existsSync } from 'node:fs';
import { cp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { execa } from 'execa';
import { InfraError } from '../errors.ts';
import type { FileDigest } from './artifact.ts';
import { applyPatches } from './patches.ts';

const STATE = '.luo-harness-tree.json';

interface TreeState {
  pristine: string;
  patches: string[];
  touched: string[];
}

/** The tree to build: `pristine` itself when there are no patches. */
export async function preparePatchedTree(
  pristine: string,
  patches: { path: string; digest: FileDigest }[],
  treeDir: string,
  say: (phase: string) => void,
): Promise<string> {
  if (patches.length === 0) return pristine;
  const wanted = patches.map((p) => p.digest.sha256);
  const statePath = join(treeDir, STATE);
  const state = existsSync(statePath) ? (JSON.parse(await readFile(statePath, 'utf8')) as TreeState) : undefined;
  if (state && state.pristine === pristine && JSON.stringify(state.patches) === JSON.stringify(wanted)) return treeDir;

  // Until the new state is written, the tree counts as dirty: an interrupted
  // run makes the next one start over from a full copy.
  await rm(statePath, { force: true });
  let restored: string[] = [];
  if (state && state.pristine === pristine) {
    say(`restoring ${state.touched.length} patched files`);
    for (const f of state.touched) {
      const from = join(pristine, f);
      const to = join(treeDir, f);
      await rm(to, { force: true });
      if (existsSync(from)) {
        await mkdir(dirname(to), { recursive: true });
        await cp(from, to, { preserveTimestamps: true });
      }
    }
    restored = state.touched;
  } else {
    say('copying the source tree');
    await rm(treeDir, { recursive: true, force: true });
    await mkdir(dirname(treeDir), { recursive: true });
    try {
      await execa('cp', ['-a', '--reflink=auto', pristine, treeDir]);
    } catch (cause) {
      await rm(treeDir, { recursive: true, force: true });
      throw new InfraError(`cannot copy ${pristine} to ${treeDir}`, { cause });
    }
  }
  const touched = await applyPatches(patches.map((p) => p.path), treeDir, say);
  const now = new Date();
  for (const f of new Set([...restored, ...touched])) {
    if (existsSync(join(treeDir, f))) await utimes(join(treeDir, f), now, now);
  }
  const next: TreeState = { pristine, patches: wanted, touched: [...new Set([...restored, ...touched])].filter((f) => existsSync(join(treeDir, f)) || existsSync(join(pristine, f))) };
  await writeFile(statePath, JSON.stringify(next));
  return treeDir;
}
