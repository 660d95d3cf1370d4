// Corrupt cache entries through the real command line, on a copy of a
// cached kernel in a private cache (the user's cache is only read): the
// stock kernel is exported and imported into it, its agent and guest image
// built there. 8 zeroed bytes in the guest image and in the agent are
// named with both hashes and built again, and the run passes; 8 zeroed
// bytes in the imported kernel's bzImage refuse the run as bad input
// (exit 2) with the command that imports it again, where QEMU used to
// "exit with status 0" and the run report an infrastructure error (exit 3).
import test from 'ava';
import { execa } from 'execa';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cacheLayout, cacheRoot, repoRoot } from '../../harness/paths.ts';
import { findArtifact } from '../../harness/kernel/refs.ts';
import { exportArtifact } from '../../harness/kernel/archive.ts';
import { readArtifact } from '../../harness/kernel/store.ts';
import { AGENT_FILE, agentBinaryFor } from '../../harness/image/agent-binary.ts';
import { buildGuestImage, IMAGE_FILES } from '../../harness/image/build.ts';
import { EXIT } from '../../harness/errors.ts';
import { sha256 } from '../../harness/util/hash.ts';
import { movedAside, zero8 } from '../helpers/corrupt.ts';

const cli = join(repoRoot, 'bin', 'luo-harness.js');
const work = mkdtempSync(join(tmpdir(), 'e2e-cache-integrity-'));
const cache = join(work, 'cache');
const layout = cacheLayout(cache);
const tarball = join(work, 'luo-7.2.tar.gz');
test.after.always(() => rmSync(work, { recursive: true, force: true }));

const harness = (...args: string[]) => execa('node', [cli, ...args], { reject: false, env: { LUO_HARNESS_CACHE: cache } });

const aside = movedAside;

let kernelDir = '';
let key = '';

test.before(async () => {
  const stock = await findArtifact(cacheRoot(), 'luo-7.2');
  if (!stock) throw new Error(`no luo-7.2 kernel in ${cacheRoot()}; build it with \`luo-harness kernel build luo-7.2\``);
  await exportArtifact(stock, tarball);
  const fetched = await harness('kernel', 'fetch', tarball);
  if (fetched.exitCode !== 0) throw new Error(`kernel fetch failed: ${fetched.stderr}`);
  kernelDir = fetched.stdout.trim();
  key = (await readArtifact(kernelDir)).manifest.key;
});

test.serial('a corrupt guest image and a corrupt agent are named with both hashes and built again; the run passes', async (t) => {
  const kernel = await readArtifact(kernelDir);
  const agent = await agentBinaryFor(kernel, cache);
  const image = await buildGuestImage({ agentBinary: agent, cacheDir: layout.images });
  const archive = join(image.dir, IMAGE_FILES.initramfs);
  const img = zero8(archive, 4096);
  const ag = zero8(agent, 4096);

  const r = await harness('run', '--suite', 'smoke', '--scenarios', 'memfd-basic', '--kernel', key, '--out', join(work, 'out'));
  t.is(r.exitCode, EXIT.ok, r.stdout + r.stderr);
  const agentAside = join(layout.agents, aside(layout.agents, agent.split('/').at(-2)!)[0] ?? '?');
  const imageAside = join(layout.images, aside(layout.images, image.key)[0] ?? '?');
  t.true(
    r.stderr.includes(`The cached in-guest agent ${agent.split('/').at(-2)} is corrupt: ${agent} has sha256 ${ag.after}, its manifest says ${ag.before}. Moved it aside to ${agentAside}; building it again.`),
    r.stderr,
  );
  t.true(
    r.stderr.includes(`The cached guest image ${image.key} is corrupt: ${archive} has sha256 ${img.after}, its manifest says ${img.before}. Moved it aside to ${imageAside}; building it again.`),
    r.stderr,
  );
  t.is(sha256(readFileSync(agent)), ag.before, 'the same agent again');
  t.is(sha256(readFileSync(archive)), img.before, 'the same image again');
  t.is(sha256(readFileSync(join(agentAside, AGENT_FILE))), ag.after, 'the corrupt agent is kept aside');
});

test.serial('an imported kernel with 8 zeroed bytes in its bzImage refuses the run as bad input, with the command that imports it again', async (t) => {
  const bz = join(kernelDir, 'bzImage');
  const { before, after } = zero8(bz, 4096);
  const started = performance.now();
  const r = await harness('run', '--suite', 'smoke', '--scenarios', 'memfd-basic', '--kernel', key, '--out', join(work, 'refused'));
  t.is(r.exitCode, EXIT.badInput, r.stdout + r.stderr);
  const [moved] = aside(layout.kernels, key);
  t.truthy(moved, 'the entry is moved aside');
  t.false(existsSync(kernelDir));
  t.true(
    r.stderr.includes(
      `The cached kernel luo-7.2 (${key.slice(0, 12)}) is corrupt: ${bz} has sha256 ${after}, its manifest says ${before}. ` +
        `Moved it aside to ${join(layout.kernels, moved!)}. It was imported, so it is not built here: import it again with \`luo-harness kernel fetch ${tarball}\``,
    ),
    r.stderr,
  );
  t.notRegex(r.stderr, /QEMU|infrastructure/i);
  t.true(performance.now() - started < 30_000, 'refused before anything boots');

  // The command it names brings the kernel back.
  const again = await harness('kernel', 'fetch', tarball);
  t.is(again.exitCode, 0, again.stderr);
  t.is(sha256(readFileSync(bz)), before);
});

test.serial('kselftest: a corrupt selftest program of the kernel is named and never run; the run is refused as bad input', async (t) => {
  const kernel = await readArtifact(kernelDir);
  const program = 'selftests/luo_kexec_simple';
  if (!kernel.manifest.files[program]) return t.fail(`${program} is not in the manifest of ${kernelDir}`);
  const path = join(kernelDir, program);
  const { before, after } = zero8(path, 64);
  const asideBefore = aside(layout.kernels, key).length;
  const r = await harness('kselftest', '--kernel', key, '--out', join(work, 'kselftest'));
  t.is(r.exitCode, EXIT.badInput, r.stdout + r.stderr);
  t.true(r.stderr.includes(`The cached kernel luo-7.2 (${key.slice(0, 12)}) is corrupt: ${path} has sha256 ${after}, its manifest says ${before}.`), r.stderr);
  t.is(aside(layout.kernels, key).length, asideBefore + 1, 'the entry is moved aside');
  t.notRegex(r.stderr + r.stdout, /QEMU|infrastructure|luo_kexec_simple: (pass|fail)/i);
  const again = await harness('kernel', 'fetch', tarball);
  t.is(again.exitCode, 0, again.stderr);
});
