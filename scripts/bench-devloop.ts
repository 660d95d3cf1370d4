// The developer loop's figures (prints them; asserts nothing):
//   - edit -> verdict: a one-file edit in a kernel tree, then `luo-harness run
//     --tree` of memfd-basic, n times (median); the tree is a hard-linked copy
//     of the cached 7.2 source unless a path is given;
//   - bisect of our 4-patch series (tests/fixtures/series/memfd-luo-thread.mbox)
//     judged by memfd-basic: wall time, builds, and each prefix's build time.
// Usage: node --import tsx scripts/bench-devloop.ts [n=3] [TREE]
import { execa } from 'execa';
import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheLayout, repoRoot } from '../harness/paths.ts';
import { preparePatchedTree } from '../harness/kernel/tree.ts';
import { acquireLock } from '../harness/util/lock.ts';
import { median } from '../harness/report/stats.ts';

const n = Number(process.argv[2] ?? 3);
const cli = fileURLToPath(new URL('../bin/luo-harness.js', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'bench-devloop-'));
const log = (s: string) => process.stderr.write(`[bench] ${s}\n`);
const harness = async (args: string[]) => {
  const t0 = performance.now();
  const r = await execa('node', [cli, ...args], { reject: false, all: true, stderr: ['pipe', 'inherit'] });
  return { ms: performance.now() - t0, exitCode: r.exitCode, all: r.all ?? '', stdout: r.stdout };
};

async function copyOfSource(): Promise<string> {
  const sources = cacheLayout().sources;
  const name = readdirSync(sources).find((d) => d.startsWith('debian-linux-source-7.2-') && statSync(join(sources, d)).isDirectory());
  if (!name) throw new Error('no 7.2 source in the cache: build luo-7.2 first');
  const source = join(sources, name);
  const tree = join(scratch, 'linux');
  await using _lock = await acquireLock(`${source}.build.lock`);
  await preparePatchedTree(source, [], { inPlace: true, copyDir: '', say: () => {} });
  await execa('cp', ['-al', source, tree]);
  rmSync(join(tree, '.luo-harness'), { recursive: true, force: true });
  return tree;
}

const tree = process.argv[3] ?? (await copyOfSource());
const run = (out: string) => harness(['run', '--tree', tree, '--suite', 'smoke', '--scenarios', 'memfd-basic', '--out', join(scratch, out)]);
log(`first build of ${tree} (not timed as edit -> verdict)`);
const first = await run('first');
if (first.exitCode !== 0) throw new Error(`run --tree failed:\n${first.all.slice(-2000)}`);
const edits: number[] = [];
for (let i = 0; i < n; i++) {
  const file = join(tree, 'mm', 'memfd_luo.c');
  // A new file in place of the old: a hard-linked original stays as it was.
  writeFileSync(`${file}.new`, readFileSync(file, 'utf8') + `/* edit ${i} ${Date.now()} */\n`);
  renameSync(`${file}.new`, file);
  log(`edit ${i + 1}/${n}`);
  const r = await run(`edit-${i}`);
  if (r.exitCode !== 0) throw new Error(`run --tree after an edit failed:\n${r.all.slice(-2000)}`);
  edits.push(r.ms);
}

log('bisect of the 4-patch series');
const bisectOut = join(scratch, 'bisect');
const b = await harness(['bisect', '--series', join(repoRoot, 'tests', 'fixtures', 'series', 'memfd-luo-thread.mbox'), '--scenario', 'memfd-basic', '--out', bisectOut, '--json']);
const outcome = JSON.parse(b.stdout) as { builds: number; culprit?: { index: number }; tried: { count: number; kernelKey?: string }[] };
const results = JSON.parse(readFileSync(join(bisectOut, 'results.json'), 'utf8')) as { kernels: Record<string, { key: string; buildSeconds: number }> };
const buildSeconds = (key?: string) => Object.values(results.kernels).find((k) => k.key === key)?.buildSeconds;

const line = (s: string) => process.stdout.write(s + '\n');
line(`developer loop, TCG, ${readFileSync('/proc/cpuinfo', 'utf8').match(/^processor/gm)?.length ?? '?'} CPU(s)`);
line(`edit -> verdict (one-file edit, run --tree memfd-basic): median ${(median(edits) / 1000).toFixed(1)} s, n=${n} [${edits.map((x) => (x / 1000).toFixed(1)).join(' ')}]; first build ${(first.ms / 1000).toFixed(0)} s`);
line(`bisect of 4 patches: ${(b.ms / 1000).toFixed(0)} s wall, ${outcome.builds} build(s) (ceil(log2(5)) = 3 at most), culprit ${outcome.culprit?.index ?? 'none'}`);
for (const t of outcome.tried) line(`  prefix ${t.count}: build ${buildSeconds(t.kernelKey) ?? '(cached)'} s`);
rmSync(scratch, { recursive: true, force: true });
