// Cached guest images, agents and the nested VM's firmware are checked
// against the sha256 recorded when they were written: a corrupt one is
// named with both hashes, moved aside (its bytes kept) and built again,
// never served and never an infrastructure error. The agent is "compiled"
// by a stand-in gcc first on PATH (this file runs in its own process): the
// real compile is the e2e's (tests/e2e/cache-integrity.test.ts).
import test from 'ava';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildGuestImage, IMAGE_FILES } from '../../../harness/image/build.ts';
import { AGENT_FILE, agentBinaryFor, agentKey } from '../../../harness/image/agent-binary.ts';
import { nestedGuestRom } from '../../../harness/image/nested-guest.ts';
import { CorruptKernel } from '../../../harness/kernel/integrity.ts';
import { digestFiles } from '../../../harness/kernel/store.ts';
import { CAPABILITY_OPTIONS, type KernelArtifact, type KernelManifest } from '../../../harness/kernel/artifact.ts';
import { cacheLayout } from '../../../harness/paths.ts';
import { EXIT, exitCodeOf } from '../../../harness/errors.ts';
import { sha256 } from '../../../harness/util/hash.ts';
import { scratchDir } from '../../helpers/scratch.ts';
import { movedAside, zero8 } from '../../helpers/corrupt.ts';

const fixtures = fileURLToPath(new URL('../../fixtures/image/', import.meta.url));

// A gcc that writes its -o file from the names of its sources (and answers --version for the key).
const bin = scratchDir('bin-');
writeFileSync(
  join(bin, 'gcc'),
  '#!/bin/sh\n[ "$1" = --version ] && { echo "gcc (stand-in) 1.0"; exit 0; }\nout=; while [ $# -gt 0 ]; do [ "$1" = -o ] && { shift; out=$1; }; shift; done\n' +
    'head -c 2048 /dev/zero | tr "\\0" a > "$out"\n',
);
chmodSync(join(bin, 'gcc'), 0o755);
process.env.PATH = `${bin}:${process.env.PATH}`;

const asideIn = movedAside;

function imageWorkspace() {
  const dir = scratchDir('luo-image-');
  cpSync(fixtures, dir, { recursive: true });
  const src = join(dir, 'src');
  return { recipePath: join(dir, 'recipe.json'), cacheDir: join(dir, 'cache'), commands: { 'fake-busybox': join(src, 'fake-busybox'), 'fake-sshd': join(src, 'fake-sshd') }, sourceDir: src };
}

test('a guest image with 8 zeroed bytes is named with both hashes, moved aside and built again, byte for byte the same', async (t) => {
  const opts = imageWorkspace();
  const first = await buildGuestImage({ ...opts, warn: () => t.fail('nothing to warn about') });
  t.true((await buildGuestImage({ ...opts, warn: () => t.fail('nothing to warn about') })).cached);
  const archive = join(first.dir, IMAGE_FILES.initramfs);
  const { before, after } = zero8(archive, 64);
  t.is(before, first.manifest.initramfs.sha256);

  const warnings: string[] = [];
  const again = await buildGuestImage({ ...opts, warn: (m) => warnings.push(m) });
  const [aside] = asideIn(opts.cacheDir, first.key);
  t.truthy(aside);
  t.deepEqual(warnings, [
    `The cached guest image ${first.key} is corrupt: ${archive} has sha256 ${after}, its manifest says ${before}. Moved it aside to ${join(opts.cacheDir, aside!)}; building it again.`,
  ]);
  t.false(again.cached);
  t.is(again.dir, first.dir);
  t.is(sha256(readFileSync(again.initramfs)), before);
  t.is(sha256(readFileSync(join(opts.cacheDir, aside!, IMAGE_FILES.initramfs))), after, 'the corrupt bytes are kept');
  t.true((await buildGuestImage(opts)).cached, 'the rebuilt image is served');
});

test('a guest image whose manifest cannot be read is moved aside and built again', async (t) => {
  const opts = imageWorkspace();
  const first = await buildGuestImage(opts);
  writeFileSync(join(first.dir, IMAGE_FILES.manifest), Buffer.alloc(32));
  const warnings: string[] = [];
  const again = await buildGuestImage({ ...opts, warn: (m) => warnings.push(m) });
  t.regex(warnings[0]!, new RegExp(`^The cached guest image ${first.key} is corrupt: ${first.dir}/manifest\\.json cannot be read as a manifest\\. Moved it aside to `));
  t.is(again.manifest.initramfs.sha256, first.manifest.initramfs.sha256);
});

/** A small kernel artifact (not in any cache: the agent reads only its manifest and headers). */
function tinyKernel(): KernelArtifact {
  const dir = join(scratchDir('kernel-'), 'k');
  mkdirSync(join(dir, 'headers', 'include', 'linux'), { recursive: true });
  writeFileSync(join(dir, 'headers', 'include', 'linux', 'liveupdate.h'), '#define LIVEUPDATE_IOCTL_TYPE 0xBA\n');
  writeFileSync(join(dir, 'bzImage'), Buffer.alloc(4096, 7));
  const caps = Object.fromEntries(CAPABILITY_OPTIONS.map((c) => [c, true])) as KernelManifest['capabilities'];
  const manifest = {
    schema: 1, key: sha256(dir).slice(0, 24), recipe: 'unit', release: '7.2.13', arch: 'x86_64', source: { kind: 'tarball', location: 'unit.tar', sha256: 'a'.repeat(64) },
    patches: [], fragments: [], cmdline: [], toolchain: {}, buildSeconds: 1, builtAt: new Date().toISOString(), files: {}, capabilities: caps,
  } as KernelManifest;
  return { dir, manifest };
}

test('an agent binary with 8 zeroed bytes is named with both hashes, moved aside and compiled again', async (t) => {
  const cache = scratchDir('cache-');
  const kernel = tinyKernel();
  kernel.manifest.files = await digestFiles(kernel.dir);
  const path = await agentBinaryFor(kernel, cache, { warn: () => t.fail('nothing to warn about') });
  const agents = cacheLayout(cache).agents;
  const key = await agentKey(kernel);
  t.is(path, join(agents, key, AGENT_FILE));
  const { before, after } = zero8(path, 64);

  const warnings: string[] = [];
  t.is(await agentBinaryFor(kernel, cache, { warn: (m) => warnings.push(m) }), path);
  const [aside] = asideIn(agents, key);
  t.deepEqual(warnings, [
    `The cached in-guest agent ${key} is corrupt: ${path} has sha256 ${after}, its manifest says ${before}. Moved it aside to ${join(agents, aside!)}; building it again.`,
  ]);
  t.is(sha256(readFileSync(path)), before);
  t.is(sha256(readFileSync(join(agents, aside!, AGENT_FILE))), after);
});

test('an agent entry from before its sha256 was recorded is compiled again, once', async (t) => {
  const cache = scratchDir('cache-');
  const kernel = tinyKernel();
  kernel.manifest.files = await digestFiles(kernel.dir);
  const key = await agentKey(kernel);
  const old = join(cacheLayout(cache).agents, key);
  mkdirSync(old, { recursive: true });
  writeFileSync(join(old, AGENT_FILE), 'an agent an older harness compiled');
  const warnings: string[] = [];
  const path = await agentBinaryFor(kernel, cache, { warn: (m) => warnings.push(m) });
  await agentBinaryFor(kernel, cache, { warn: (m) => warnings.push(m) });
  t.deepEqual(warnings, [`The cached in-guest agent ${key} has no recorded sha256 (an older harness wrote it); building it again.`]);
  t.is(readFileSync(path).length, 2048);
});

test('compiling the agent against corrupt kernel headers is refused as bad input, naming the header', async (t) => {
  const cache = scratchDir('cache-');
  const kernel = tinyKernel();
  kernel.manifest.files = await digestFiles(kernel.dir);
  const header = join(kernel.dir, 'headers', 'include', 'linux', 'liveupdate.h');
  const before = sha256(readFileSync(header));
  writeFileSync(header, '#define LIVEUPDATE_IOCTL_TYPE 0x00\n');
  const e = await t.throwsAsync(agentBinaryFor(kernel, cache), { instanceOf: CorruptKernel });
  t.is(exitCodeOf(e), EXIT.badInput);
  t.true(e!.message.startsWith(`The cached kernel unit (${kernel.manifest.key.slice(0, 12)}) is corrupt: ${header} has sha256 ${sha256('#define LIVEUPDATE_IOCTL_TYPE 0x00\n')}, its manifest says ${before}.`), e!.message);
  t.false(existsSync(join(cacheLayout(cache).agents, await agentKey(kernel))), 'no agent was built from them');
});

test("the nested VM's firmware with 8 zeroed bytes is named, moved aside and assembled again", async (t) => {
  const cache = scratchDir('cache-');
  const rom = await nestedGuestRom(cache);
  const { before, after } = zero8(rom, 256);
  const warnings: string[] = [];
  t.is(await nestedGuestRom(cache, { warn: (m) => warnings.push(m) }), rom);
  t.is(warnings.length, 1);
  t.true(warnings[0]!.startsWith(`The cached nested VM's firmware `) && warnings[0]!.includes(`: ${rom} has sha256 ${after}, its manifest says ${before}. Moved it aside to `), warnings[0]);
  t.is(sha256(readFileSync(rom)), before);
});
