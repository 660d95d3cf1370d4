// A small but complete kernel artifact in a fresh cache, as a build leaves
// it (a 4 KiB "bzImage", a config, one uapi header, their digests), for the
// tests of the store, its archives and its checks.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { digestFiles, publish, recordName, stagingDir } from '../../harness/kernel/store.ts';
import { CAPABILITY_OPTIONS, type KernelManifest } from '../../harness/kernel/artifact.ts';
import { sha256 } from '../../harness/util/hash.ts';
import { scratchDir } from './scratch.ts';

export const caps = (on: string[]) => Object.fromEntries(CAPABILITY_OPTIONS.map((c) => [c, on.includes(c)])) as KernelManifest['capabilities'];

export async function makeArtifact(options: { cache?: string; capabilities?: string[]; coverage?: boolean } = {}) {
  const cache = options.cache ?? scratchDir('cache-');
  const key = sha256(String(Math.random())).slice(0, 24);
  const staging = await stagingDir(cache, key);
  writeFileSync(join(staging, 'bzImage'), Buffer.alloc(4096, 7));
  writeFileSync(join(staging, 'config'), 'CONFIG_LIVEUPDATE=y\n');
  mkdirSync(join(staging, 'headers', 'include', 'linux'), { recursive: true });
  writeFileSync(join(staging, 'headers', 'include', 'linux', 'liveupdate.h'), '#define LIVEUPDATE_IOCTL_TYPE 0xBA\n');
  if (options.coverage) {
    mkdirSync(join(staging, 'coverage'), { recursive: true });
    writeFileSync(join(staging, 'coverage', 'System.map'), 'ffffffff81000000 T _text\n');
  }
  const manifest: KernelManifest = {
    schema: 1, key, recipe: 'unit', release: '7.2.13', arch: 'x86_64',
    source: { kind: 'tarball', location: 'unit.tar', sha256: 'a'.repeat(64) },
    patches: [], fragments: [], cmdline: ['liveupdate=on'], toolchain: { gcc: 'gcc 12' },
    buildSeconds: 1, builtAt: new Date().toISOString(), files: await digestFiles(staging),
    capabilities: caps(options.capabilities ?? ['KEXEC_FILE', 'KEXEC_HANDOVER', 'LIVEUPDATE', 'LIVEUPDATE_MEMFD']),
    ...(options.coverage ? { coverage: { files: [] } } : {}),
  };
  writeFileSync(join(staging, 'manifest.json'), JSON.stringify(manifest));
  const artifact = await publish(cache, staging, key);
  await recordName(cache, 'unit', key);
  return { cache, artifact, key };
}
