import test from 'ava';
import { execa } from 'execa';
import { chmod, copyFile, mkdir, mkdtemp, readdir, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const repo = join(import.meta.dirname, '..', '..', '..');

/** A checkout of the launcher alone, with a main of our own behind it. */
async function checkout(t: { teardown: (fn: () => Promise<void>) => void }) {
  const root = await mkdtemp(join(tmpdir(), 'bin-bundle-'));
  t.teardown(async () => {
    await chmod(join(root, 'dist'), 0o755).catch(() => {});
    await rm(root, { recursive: true, force: true });
  });
  await mkdir(join(root, 'bin'));
  await mkdir(join(root, 'harness', 'cli'), { recursive: true });
  await copyFile(join(repo, 'bin', 'luo-harness.js'), join(root, 'bin', 'luo-harness.js'));
  await writeFile(join(root, 'package.json'), '{"type":"module"}\n');
  await symlink(join(repo, 'node_modules'), join(root, 'node_modules'));
  const main = async (word: string) => {
    await writeFile(join(root, 'harness', 'cli', 'word.ts'), `export const word: string = ${JSON.stringify(word)};\n`);
    await writeFile(join(root, 'harness', 'cli', 'main.ts'), `import { word } from './word.ts';\nexport async function main(argv: string[]): Promise<number> {\n  process.stdout.write(word + ' ' + argv.join(' '));\n  return 3;\n}\n`);
  };
  const run = () => execa('node', [join(root, 'bin', 'luo-harness.js'), 'a', 'b'], { reject: false, stdin: 'ignore' });
  return { root, main, run };
}

test('the launcher compiles the CLI into dist/ once, runs the bundle, and rebuilds it when a source it holds changes', async (t) => {
  const c = await checkout(t);
  await c.main('first');
  const r1 = await c.run();
  t.is(r1.stdout, 'first a b');
  t.is(r1.exitCode, 3, "main's exit code is the process's");
  t.true(existsSync(join(c.root, 'dist', 'luo-harness.mjs')));
  t.deepEqual((await readdir(join(c.root, 'dist'))).sort(), ['luo-harness.inputs.json', 'luo-harness.mjs', 'luo-harness.mjs.map'], 'no temporary file is left');

  // An imported module (not the entry) changes: the bundle is stale and is built again.
  await writeFile(join(c.root, 'harness', 'cli', 'word.ts'), 'export const word: string = "second";\n');
  const later = new Date(Date.now() + 5000);
  await utimes(join(c.root, 'harness', 'cli', 'word.ts'), later, later);
  const r2 = await c.run();
  t.is(r2.stdout, 'second a b');
});

test('where dist/ cannot be written, a stale bundle is not run: the CLI runs through tsx', async (t) => {
  const c = await checkout(t);
  await c.main('old');
  t.is((await c.run()).stdout, 'old a b');
  await c.main('new');
  const later = new Date(Date.now() + 5000);
  for (const f of ['main.ts', 'word.ts']) await utimes(join(c.root, 'harness', 'cli', f), later, later);
  await chmod(join(c.root, 'dist'), 0o555);
  if (process.getuid?.() === 0) {
    // root writes anyway; make the bundle's directory a file's child instead: nothing can be created there.
    await chmod(join(c.root, 'dist'), 0o755);
    await rm(join(c.root, 'dist'), { recursive: true });
    await writeFile(join(c.root, 'dist'), 'not a directory');
  }
  const r = await c.run();
  t.is(r.stdout, 'new a b');
  t.is(r.exitCode, 3);
});
