// A run's coverage, per kernel: every boot's capture turned into a
// tracefile by geninfo (with the kernel's notes beside the counters), cut to
// the instrumented files and named by their path in the tree, added
// together with `lcov -a` (the sides of each kexec: the outgoing kernel's
// up to machine_kexec, the incoming one's from its boot), drawn by genhtml,
// and per patch: of the lines it added, which ran.
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { execa } from 'execa';
import { COVERAGE_DIR, COVERAGE_FILES, type CoverageIndex } from '../kernel/coverage-build.ts';
import type { CoverageCounts, CoverageResult, CoverageSide, KernelCoverage, PatchCoverage } from '../report/result.ts';
import type { PatchLines } from '../kernel/patch-lines.ts';
import { CAPTURE_FILE, coverageKernel, type CaptureRecord } from './capture.ts';
import { parseTracefile, renderTracefile, summarize, type FileCoverage } from './tracefile.ts';

/** Every capture.json under `dir`, with its folder. */
async function findCaptures(dir: string): Promise<{ dir: string; record: CaptureRecord }[]> {
  const found: { dir: string; record: CaptureRecord }[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else if (e.name === CAPTURE_FILE) found.push({ dir: d, record: JSON.parse(await readFile(join(d, e.name), 'utf8')) as CaptureRecord });
    }
  };
  await walk(dir);
  return found.sort((a, b) => a.dir.localeCompare(b.dir));
}

/** One capture as a tracefile of the instrumented files, paths relative to the tree. */
async function traceOfCapture(captureDir: string, kernelDir: string, index: CoverageIndex): Promise<FileCoverage[]> {
  // geninfo wants each .gcno beside its .gcda.
  for (const source of index.files) {
    const stem = source.replace(/\.c$/, '');
    if (existsSync(join(captureDir, `${stem}.gcda`))) await copyFile(join(kernelDir, COVERAGE_DIR, COVERAGE_FILES.notes, `${stem}.gcno`), join(captureDir, `${stem}.gcno`));
  }
  const raw = join(captureDir, 'geninfo.info');
  const r = await execa('geninfo', [captureDir, '--output-filename', raw, '--quiet'], { reject: false, all: true });
  if (r.exitCode !== 0) throw new Error(`geninfo failed on ${captureDir} (exit ${r.exitCode}): ${r.all?.split('\n').filter((l) => !/redefined at/.test(l)).slice(-3).join(' ')}`);
  const prefix = index.srctree + '/';
  const wanted = new Set(index.files);
  return parseTracefile(await readFile(raw, 'utf8'), (sf) => {
    const path = sf.startsWith(prefix) ? sf.slice(prefix.length) : sf;
    return wanted.has(path) ? path : undefined;
  });
}

const total = (files: readonly CoverageCounts[]): CoverageCounts => ({
  lines: { found: files.reduce((a, f) => a + f.lines.found, 0), hit: files.reduce((a, f) => a + f.lines.hit, 0) },
  functions: { found: files.reduce((a, f) => a + f.functions.found, 0), hit: files.reduce((a, f) => a + f.functions.hit, 0) },
});

/** Of each patch's added lines: run, not run (executable lines only), and how many lie outside the instrumented files. */
export function patchCoverage(patches: readonly PatchLines[], files: readonly FileCoverage[]): PatchCoverage[] {
  const byPath = new Map(files.map((f) => [f.path, f]));
  return patches.map((p) => {
    const out: PatchCoverage = { patch: p.patch, run: {}, notRun: {}, outside: {} };
    for (const [path, lines] of Object.entries(p.files)) {
      const f = byPath.get(path);
      if (!f) {
        out.outside[path] = lines.length;
        continue;
      }
      const run = lines.filter((l) => (f.lines.get(l) ?? 0) > 0);
      const notRun = lines.filter((l) => f.lines.get(l) === 0);
      if (run.length) out.run[path] = run;
      if (notRun.length) out.notRun[path] = notRun;
    }
    return out;
  });
}

/** The run's coverage: one tracefile and HTML report per kernel, under <out>/coverage/. */
export async function buildCoverageReport(out: string, say: (m: string) => void = () => {}): Promise<CoverageResult | undefined> {
  const captures = await findCaptures(out);
  if (captures.length === 0) return undefined;
  const byKernel = new Map<string, typeof captures>();
  for (const c of captures) byKernel.set(c.record.kernel.key, [...(byKernel.get(c.record.kernel.key) ?? []), c]);
  const kernels: KernelCoverage[] = [];
  for (const [key, list] of byKernel) {
    const k = list[0]!.record.kernel;
    const sides: CoverageSide[] = list.map(({ dir, record }) => ({ capture: relative(out, dir), boot: record.boot, when: record.when, files: record.files.length, ...(record.missing ? { missing: record.missing } : {}) }));
    const entry: KernelCoverage = { recipe: k.recipe, release: k.release, key, sides, total: total([]), files: [], patches: [] };
    kernels.push(entry);
    try {
      const { index } = await coverageKernel(k.dir);
      const read = list.filter((c) => !c.record.missing);
      if (read.length === 0) {
        entry.error = 'no boot of this kernel gave its counters (each side says why)';
        continue;
      }
      say(`coverage: ${k.recipe}: ${read.length} capture(s) through geninfo`);
      const dir = join(out, 'coverage', k.recipe);
      await mkdir(dir, { recursive: true });
      const parts: string[] = [];
      // Lines run so far after each capture, in the order they were read (a campaign's progress).
      const ran = new Set<string>();
      const overTime: { at: string; lines: number }[] = [];
      for (const c of [...read].sort((a, b) => (a.record.at ?? '').localeCompare(b.record.at ?? ''))) {
        const file = join(c.dir, 'side.info');
        const trace = await traceOfCapture(c.dir, k.dir, index);
        // One test name for every side: lcov -a keeps records of different test names apart.
        await writeFile(file, renderTracefile(trace));
        parts.push(file);
        for (const f of trace) for (const [line, n] of f.lines) if (n > 0) ran.add(`${f.path}:${line}`);
        if (c.record.at) overTime.push({ at: c.record.at, lines: ran.size });
      }
      if (overTime.length > 2) entry.overTime = overTime;
      const merged = join(dir, `${k.recipe}.info`);
      const lcov = await execa('lcov', [...parts.flatMap((p) => ['--add-tracefile', p]), '--output-file', merged, '--quiet'], { reject: false, all: true });
      if (lcov.exitCode !== 0) throw new Error(`lcov could not add the captures together (exit ${lcov.exitCode}): ${lcov.all?.split('\n').slice(-3).join(' ')}`);
      const files = parseTracefile(await readFile(merged, 'utf8'));
      entry.tracefile = relative(out, merged);
      entry.files = files.map(summarize);
      entry.total = total(entry.files);
      entry.patches = patchCoverage(index.patches, files);
      // genhtml reads the sources by the tracefile's relative paths: from the kernel's own copy.
      const html = join(dir, 'html');
      const g = await execa('genhtml', [merged, '--output-directory', html, '--quiet', '--title', `${k.recipe} (${k.release})`], { cwd: join(k.dir, COVERAGE_DIR, COVERAGE_FILES.sources), reject: false, all: true });
      if (g.exitCode === 0) entry.html = relative(out, join(html, 'index.html'));
      else say(`coverage: genhtml failed for ${k.recipe} (exit ${g.exitCode}); the tracefile stands: ${g.all?.split('\n').slice(-2).join(' ')}`);
    } catch (e) {
      entry.error = (e as Error).message;
    }
  }
  return { kernels };
}
