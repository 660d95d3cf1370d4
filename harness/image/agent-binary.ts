// The in-guest agent, compiled statically against the uapi headers of the
// kernel it will run on (the ioctls it uses are that kernel's), cached by
// its sources, those headers and the compiler. The entry records the
// binary's sha256 and is checked against it whenever it is used: a corrupt
// one is moved aside and compiled again.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { BuildFailure } from '../errors.ts';
import { cacheLayout, cacheRoot, repoRoot } from '../paths.ts';
import { artifactPath, type KernelArtifact } from '../kernel/artifact.ts';
import { ensureIntact } from '../kernel/integrity.ts';
import { contentKey, sha256 } from '../util/hash.ts';
import { cachedBuild } from '../util/cache-entry.ts';
import { toolchainVersions } from '../kernel/toolchain.ts';

export const agentSourceDir = () => join(repoRoot, 'images', 'agent');
export const AGENT_FILE = 'luo-agent';

export interface AgentBinaryOptions {
  /** Where a corrupt cache entry is reported (default: stderr). */
  warn?: (message: string) => void;
}

const agentSources = async () => (await readdir(agentSourceDir())).filter((f) => /\.[ch]$/.test(f)).sort();

/** The cache key of the agent for this kernel: its sources, the kernel's headers (by the manifest's hashes) and the compiler. */
export async function agentKey(artifact: KernelArtifact, sources?: string[]): Promise<string> {
  const dir = agentSourceDir();
  const sourceDigest = sha256((await Promise.all((sources ?? (await agentSources())).map(async (f) => `${f}:${sha256(await readFile(join(dir, f)))}`))).join('\n'));
  const headers = Object.entries(artifact.manifest.files).filter(([f]) => f.startsWith('headers/')).map(([f, s]) => `${f}:${s}`).join('\n');
  return contentKey({ sources: sourceDigest, headers: sha256(headers), gcc: (await toolchainVersions()).gcc });
}

/** The path of a static `luo-agent` for this kernel; built on first use, and again when the cached one is corrupt. */
export async function agentBinaryFor(artifact: KernelArtifact, cache = cacheRoot(), options: AgentBinaryOptions = {}): Promise<string> {
  const dir = agentSourceDir();
  const sources = await agentSources();
  const key = await agentKey(artifact, sources);
  return cachedBuild({
    root: cacheLayout(cache).agents,
    key,
    file: AGENT_FILE,
    what: 'in-guest agent',
    ...(options.warn ? { warn: options.warn } : {}),
    build: async (out) => {
      // The key trusts the manifest's hashes of the headers; the compiler reads the files: they must agree.
      await ensureIntact(cache, artifact, { parts: ['headers'], rebuildable: false });
      const args = ['-static', '-O2', '-Wall', '-Wextra', '-Werror', '-pthread', `-I${join(artifactPath(artifact, 'headers'), 'include')}`, '-o', out, ...sources.map((f) => join(dir, f))];
      try {
        await execa('gcc', args, { all: true });
      } catch (cause) {
        const output = (cause as { all?: string }).all ?? '';
        throw new BuildFailure(`the in-guest agent does not compile against the uapi headers of ${artifact.manifest.recipe} (${artifact.manifest.release})`, {
          cause,
          detail: output.split('\n').slice(-40).join('\n'),
        });
      }
    },
  });
}
