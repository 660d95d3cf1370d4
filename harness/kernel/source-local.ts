// The user's own kernel tree: built out of tree (O=), never modified. Its
// fingerprint changes whenever a tracked file, a local edit or an untracked
// file changes, so the cache never serves a stale kernel.
import { readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { execa } from 'execa';
import type { SourceIdentity } from './artifact.ts';
import { sha256 } from '../util/hash.ts';

type LocalIdentity = Extract<SourceIdentity, { kind: 'local' }>;

export async function resolveLocal(path: string): Promise<LocalIdentity> {
  return { kind: 'local', path, fingerprint: await fingerprint(path) };
}

async function fingerprint(path: string): Promise<string> {
  const git = (args: string[]) => execa('git', ['-C', path, ...args], { maxBuffer: 1 << 30 }).then((r) => r.stdout);
  const inGit = await git(['rev-parse', '--show-toplevel']).then((top) => top === path, () => false);
  if (inGit) {
    const [head, diff, untracked] = await Promise.all([
      git(['rev-parse', 'HEAD']),
      git(['diff', 'HEAD', '--binary']),
      git(['ls-files', '--others', '--exclude-standard', '-s']).then(async (list) => {
        const names = (await git(['ls-files', '--others', '--exclude-standard'])).split('\n').filter(Boolean);
        const stats = await Promise.all(names.map((n) => stat(join(path, n)).then((s) => `${n}:${s.size}:${s.mtimeMs}`)));
        return list + stats.join('\n');
      }),
    ]);
    return sha256(`git:${head}\n${sha256(diff)}\n${sha256(untracked)}`);
  }
  // Not a git tree: names, sizes and mtimes of every file.
  const entries: string[] = [];
  for (const e of await readdir(path, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const full = join(e.parentPath, e.name);
    const s = await stat(full);
    entries.push(`${relative(path, full)}:${s.size}:${s.mtimeMs}`);
  }
  return sha256(`tree:${entries.sort().join('\n')}`);
}
