// The in-guest agent, compiled statically against the uapi headers of the
// kernel it will run on (the ioctls it uses are that kernel's), cached by
// its sources, those headers and the compiler.
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { BuildFailure } from '../errors.ts';
import { cacheLayout, cacheRoot, repoRoot } from '../paths.ts';
import { artifactPath, type KernelArtifact } from '../kernel/artifact.ts';
import { contentKey, sha256 } from '../util/hash.ts';
import { toolchainVersions } from '../kernel/toolchain.ts';

export const agentSourceDir = () => join(repoRoot, 'images', 'agent');

/** The path of a static `luo-agent` for this kernel; built on first use. */
export async function agentBinaryFor(artifact: KernelArtifact, cache = cacheRoot()): Promise<string> {
  const dir = agentSourceDir();
  const sources = (await readdir(dir)).filter((f) => /\.[ch]$/.test(f)).sort();
  const sourceDigest = sha256((await Promise.all(sources.map(async (f) => `${f}:${sha256(await readFile(join(dir, f)))}`))).join('\n'));
  const headers = Object.entries(artifact.manifest.files).filter(([f]) => f.startsWith('headers/')).map(([f, s]) => `${f}:${s}`).join('\n');
  const key = contentKey({ sources: sourceDigest, headers: sha256(headers), gcc: (await toolchainVersions()).gcc });
  const out = join(cacheLayout(cache).agents, key, 'luo-agent');
  if (existsSync(out)) return out;

  await mkdir(dirname(out), { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  const args = ['-static', '-O2', '-Wall', '-Wextra', '-Werror', '-pthread', `-I${join(artifactPath(artifact, 'headers'), 'include')}`, '-o', tmp, ...sources.map((f) => join(dir, f))];
  try {
    await execa('gcc', args, { all: true });
  } catch (cause) {
    await rm(tmp, { force: true });
    const output = (cause as { all?: string }).all ?? '';
    throw new BuildFailure(`the in-guest agent does not compile against the uapi headers of ${artifact.manifest.recipe} (${artifact.manifest.release})`, {
      cause,
      detail: output.split('\n').slice(-40).join('\n'),
    });
  }
  await rename(tmp, out);
  return out;
}
