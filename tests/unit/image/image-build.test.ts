// Image key stability and sensitivity, and the cache, using a fixture recipe
// whose "binaries" are small scripts (no host busybox/dropbear needed).
import test from 'ava';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildGuestImage, IMAGE_FILES } from '../../../harness/image/build.ts';
import { readCpio } from '../../../harness/image/cpio.ts';
import { imageKey } from '../../../harness/image/image-key.ts';
import { planRootfs } from '../../../harness/image/plan.ts';
import { loadRecipe, parseRecipe } from '../../../harness/image/recipe.ts';
import { ConfigError } from '../../../harness/errors.ts';

const fixtures = fileURLToPath(new URL('../../fixtures/image/', import.meta.url));

/** A private copy of the fixture sources, so a test can change them. */
async function workspace(t: { teardown: (fn: () => Promise<void>) => void }) {
  const dir = await mkdtemp(join(tmpdir(), 'luo-image-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await cp(fixtures, dir, { recursive: true });
  const src = join(dir, 'src');
  return {
    dir,
    src,
    cacheDir: join(dir, 'cache'),
    recipePath: join(dir, 'recipe.json'),
    commands: { 'fake-busybox': join(src, 'fake-busybox'), 'fake-sshd': join(src, 'fake-sshd') },
  };
}

async function keyOf(w: Awaited<ReturnType<typeof workspace>>, agentBinary?: string) {
  const recipe = await loadRecipe(w.recipePath);
  const { tree } = await planRootfs(recipe, { commands: w.commands, sourceDir: w.src, agentBinary });
  return imageKey(tree.manifest());
}

test('the image key is stable for equal inputs and changes with init, a binary or the agent', async (t) => {
  const w = await workspace(t);
  const base = await keyOf(w);
  t.regex(base, /^[0-9a-f]{24}$/);
  t.is(await keyOf(w), base);

  await writeFile(join(w.src, 'init'), '#!/bin/sh\necho changed init\n');
  const afterInit = await keyOf(w);
  t.not(afterInit, base);

  await writeFile(join(w.src, 'fake-sshd'), '#!/bin/sh\nexit 1\n');
  const afterBinary = await keyOf(w);
  t.not(afterBinary, afterInit);

  const agent = join(w.dir, 'luo-agent');
  await writeFile(agent, 'agent v1');
  const withAgent = await keyOf(w, agent);
  t.not(withAgent, afterBinary);
  await writeFile(agent, 'agent v2');
  t.not(await keyOf(w, agent), withAgent);
});

test('the image key changes with the recipe (a mode, a file)', async (t) => {
  const w = await workspace(t);
  const base = await keyOf(w);
  const recipe = JSON.parse(await readFile(w.recipePath, 'utf8'));
  recipe.files[1].mode = '0600';
  await writeFile(w.recipePath, JSON.stringify(recipe));
  t.not(await keyOf(w), base);
});

test('buildGuestImage builds once per key, then serves the cache; the archive holds the tree', async (t) => {
  const w = await workspace(t);
  const agent = join(w.dir, 'luo-agent');
  await writeFile(agent, 'agent');
  const opts = { recipePath: w.recipePath, cacheDir: w.cacheDir, commands: w.commands, sourceDir: w.src, agentBinary: agent };
  const cold = await buildGuestImage(opts);
  t.false(cold.cached);
  t.is(cold.dir, join(w.cacheDir, cold.key));
  const warm = await buildGuestImage(opts);
  t.true(warm.cached);
  t.is(warm.key, cold.key);

  const entries = readCpio(await readFile(cold.initramfs));
  const byPath = new Map(entries.map((e) => [e.path, e]));
  t.like(byPath.get('init'), { type: 'file', mode: 0o755 });
  t.is((byPath.get('init') as { data: Buffer }).data.toString(), await readFile(join(w.src, 'init'), 'utf8'));
  t.like(byPath.get('bin/sh'), { type: 'symlink', target: '/bin/busybox' });
  t.like(byPath.get('sbin/ip'), { type: 'symlink', target: '/bin/busybox' });
  t.like(byPath.get('usr/sbin/luo-agent'), { type: 'file', mode: 0o755 });
  t.like(byPath.get('dev/console'), { type: 'char', major: 5, minor: 1 });
  t.like(byPath.get('root/.ssh'), { type: 'dir', mode: 0o700 });
  // busybox applet links never replace a real file or the binary itself.
  t.like(byPath.get('bin/busybox'), { type: 'file' });
  t.like(byPath.get('init'), { type: 'file' });
  t.true(cold.manifest.hasAgent);
});

test('equal inputs build byte-identical archives', async (t) => {
  const w = await workspace(t);
  const opts = { recipePath: w.recipePath, commands: w.commands, sourceDir: w.src };
  const a = await buildGuestImage({ ...opts, cacheDir: join(w.dir, 'c1') });
  const b = await buildGuestImage({ ...opts, cacheDir: join(w.dir, 'c2') });
  t.true((await readFile(a.initramfs)).equals(await readFile(b.initramfs)));
});

test('concurrent builders of one key both succeed and agree', async (t) => {
  const w = await workspace(t);
  const opts = { recipePath: w.recipePath, cacheDir: w.cacheDir, commands: w.commands, sourceDir: w.src };
  const [a, b, c] = await Promise.all([buildGuestImage(opts), buildGuestImage(opts), buildGuestImage(opts)]);
  t.is(a.key, b.key);
  t.is(b.key, c.key);
  t.is(a.manifest.initramfs.sha256, c.manifest.initramfs.sha256);
});

test('a damaged cache entry is rebuilt', async (t) => {
  const w = await workspace(t);
  const opts = { recipePath: w.recipePath, cacheDir: w.cacheDir, commands: w.commands, sourceDir: w.src };
  const first = await buildGuestImage(opts);
  await writeFile(join(first.dir, IMAGE_FILES.initramfs), 'truncated');
  const again = await buildGuestImage(opts);
  t.false(again.cached);
  t.is(again.manifest.initramfs.sha256, first.manifest.initramfs.sha256);
});

test('an unreadable agent binary is a ConfigError', async (t) => {
  const w = await workspace(t);
  await t.throwsAsync(
    buildGuestImage({ recipePath: w.recipePath, cacheDir: w.cacheDir, commands: w.commands, sourceDir: w.src, agentBinary: join(w.dir, 'nope') }),
    { instanceOf: ConfigError, message: /nope/ },
  );
});

test('the repository recipe is valid and installs what init needs', async (t) => {
  const recipe = await loadRecipe();
  t.deepEqual(recipe.binaries.map((b) => b.guest), ['/bin/busybox', '/usr/sbin/dropbear', '/usr/sbin/kexec']);
  t.true(recipe.files.some((f) => f.guest === '/init' && f.mode === 0o755 && f.source === 'init'));
  for (const dir of ['/root/.ssh', '/etc/dropbear', '/proc', '/sys', '/dev', '/run', '/tmp']) {
    t.true(recipe.dirs.some((d) => d.guest === dir), dir);
  }
  t.true(recipe.devices.some((d) => d.guest === '/dev/console' && d.major === 5 && d.minor === 1));
});

test('parseRecipe rejects bad input with a ConfigError that says where', (t) => {
  t.throws(() => parseRecipe({ schema: 2 }), { instanceOf: ConfigError, message: /schema/ });
  t.throws(() => parseRecipe({ schema: 1, files: [{ guest: 'etc/x', mode: '0644', content: '' }] }), { message: /files\[0\]\.guest/ });
  t.throws(() => parseRecipe({ schema: 1, files: [{ guest: '/x', mode: '644x', content: '' }] }), { message: /octal/ });
  t.throws(() => parseRecipe({ schema: 1, files: [{ guest: '/x', mode: '0644' }] }), { message: /exactly one of source and content/ });
  t.throws(() => parseRecipe({ schema: 1, binaries: [{ command: '/bin/busybox', guest: '/bin/busybox' }] }), { message: /command name/ });
});
