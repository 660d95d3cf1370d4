// A git tree at a ref, cloned shallow.
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { ConfigError, InfraError } from '../errors.ts';
import type { SourceIdentity } from './artifact.ts';
import type { SourceSpec } from './recipe.ts';

type GitSpec = Extract<SourceSpec, { type: 'git' }>;
type GitIdentity = Extract<SourceIdentity, { kind: 'git' }>;

const isCommit = (ref: string) => /^[0-9a-f]{40}$/.test(ref);

/** The commit `ref` names now; a full sha names itself. */
export async function resolveGit(spec: GitSpec): Promise<GitIdentity> {
  if (isCommit(spec.ref)) return { kind: 'git', url: spec.url, ref: spec.ref, commit: spec.ref };
  let out: string;
  try {
    out = (await execa('git', ['ls-remote', spec.url, spec.ref, `${spec.ref}^{}`], { env: { GIT_TERMINAL_PROMPT: '0' } })).stdout;
  } catch (cause) {
    throw new InfraError(`git ls-remote ${spec.url} ${spec.ref} failed`, { cause });
  }
  const lines = out.split('\n').filter(Boolean).map((l) => l.split('\t') as [string, string]);
  // An annotated tag lists the tag object and, with ^{}, the commit it points to.
  const commit = (lines.find(([, name]) => name.endsWith('^{}')) ?? lines[0])?.[0];
  if (!commit) throw new ConfigError(`git source ${spec.url} has no ref "${spec.ref}"`);
  return { kind: 'git', url: spec.url, ref: spec.ref, commit };
}

export async function fetchGit(id: GitIdentity, dest: string, work: string, say: (phase: string) => void): Promise<void> {
  say(`fetching ${id.url} ${id.ref} (${id.commit.slice(0, 12)})`);
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  const git = (args: string[]) => execa('git', args, { cwd: work, env: { GIT_TERMINAL_PROMPT: '0' } });
  try {
    await git(['init', '-q']);
    await git(['fetch', '-q', '--depth', '1', id.url, id.commit]);
    await git(['checkout', '-q', 'FETCH_HEAD']);
  } catch (cause) {
    throw new InfraError(`cannot fetch commit ${id.commit} of ${id.url}`, { cause });
  }
  await rm(join(work, '.git'), { recursive: true, force: true });
  await rename(work, dest);
}
