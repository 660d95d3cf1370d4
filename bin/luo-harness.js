#!/usr/bin/env node
// The harness is TypeScript. It starts from one bundle compiled ahead into
// dist/ (esbuild, packages left in node_modules) while that bundle is newer
// than every source it holds: loading ~150 modules through tsx's loader took
// 0.3-0.4 s of every command's start (`run --help`: 0.53 s, 0.21 s bundled). A stale or missing bundle is rebuilt first (a
// fraction of a second); where that cannot be done (a read-only checkout, a
// source esbuild rejects) it runs through tsx as before: no build step to forget.
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'harness', 'cli', 'main.ts');
const bundle = join(root, 'dist', 'luo-harness.mjs');
const inputsFile = join(root, 'dist', 'luo-harness.inputs.json');

/** The bundle's path when it is there and newer than each of its sources (dist/luo-harness.inputs.json). */
function freshBundle() {
  try {
    const built = statSync(bundle).mtimeMs;
    const inputs = JSON.parse(readFileSync(inputsFile, 'utf8'));
    return inputs.every((p) => statSync(join(root, p)).mtimeMs < built) ? bundle : undefined;
  } catch {
    return undefined;
  }
}

async function rebuild() {
  const tmp = `${bundle}.${process.pid}.tmp`;
  try {
    const { build, stop } = await import('esbuild');
    mkdirSync(dirname(bundle), { recursive: true });
    // Sources read after this instant are newer than the bundle: its mtime is set back to it.
    const started = Date.now() / 1000;
    const r = await build({
      entryPoints: [entry], outfile: tmp, bundle: true, format: 'esm', platform: 'node', target: `node${process.versions.node.split('.')[0]}`,
      packages: 'external', sourcemap: 'linked', metafile: true, logLevel: 'silent', absWorkingDir: root,
    }).finally(stop);
    const inputs = Object.keys(r.metafile.inputs);
    renameSync(`${tmp}.map`, `${bundle}.map`);
    // The map is named in the bundle by the temporary file's name: point it at its own.
    writeFileSync(tmp, readFileSync(tmp, 'utf8').replace(/sourceMappingURL=\S+$/m, 'sourceMappingURL=luo-harness.mjs.map'));
    utimesSync(tmp, started, started);
    writeFileSync(`${inputsFile}.${process.pid}.tmp`, JSON.stringify(inputs));
    renameSync(`${inputsFile}.${process.pid}.tmp`, inputsFile);
    renameSync(tmp, bundle);
    return bundle;
  } catch {
    return undefined;
  } finally {
    for (const f of [tmp, `${tmp}.map`, `${inputsFile}.${process.pid}.tmp`]) {
      try {
        rmSync(f, { force: true });
      } catch {
        // dist/ is not a directory we can use: nothing was left there.
      }
    }
  }
}

const compiled = freshBundle() ?? (await rebuild());
let main;
if (compiled) {
  process.setSourceMapsEnabled(true);
  ({ main } = await import(pathToFileURL(compiled).href));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../harness/cli/main.ts'));
}
process.exitCode = await main(process.argv.slice(2));
