// A run's coverage in words and tables, one wording for the terminal
// summary, summary.md and JUnit: per kernel the files' line and function
// counts, which boots were counted and how, and per patch the added lines
// that ran and those that did not.
import type { CoverageResult, KernelCoverage, PatchCoverage } from './result.ts';

/** What a blackout caption says of coverage kernels' timings. */
export const COVERAGE_TIMINGS_NOTE = '; coverage kernels: NOT blackout figures (gcov, and the machine stopped at machine_kexec while its counters are read)';

const pct = (hit: number, found: number) => (found ? `${((100 * hit) / found).toFixed(1)}%` : '-');

/** 3,4,5,9 -> "3-5, 9". */
export function lineRanges(lines: readonly number[]): string {
  const sorted = [...new Set(lines)].sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    out.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return out.join(', ');
}

/**
 * How the boots of a kernel were counted: each one when there are few
 * ("boot 0 up to its kexec (read at machine_kexec); boot 1 to the end of
 * the run (debugfs)"), else how many each way; a missing one always by name.
 */
export function sidesLine(k: KernelCoverage): string {
  const read = k.sides.filter((s) => !s.missing);
  const missing = k.sides.filter((s) => s.missing).map((s) => `${s.capture}: MISSING (${s.missing})`);
  const kexec = read.filter((s) => s.when === 'at-kexec').length;
  const shown =
    read.length <= 4
      ? read.map((s) => (s.when === 'at-kexec' ? `boot ${s.boot} up to its kexec (read at machine_kexec)` : `boot ${s.boot} to the end of the run (debugfs)`))
      : [`${kexec} boot(s) up to their kexec (read at machine_kexec)`, `${read.length - kexec} to the end of the run (debugfs)`];
  return [...shown, ...missing].join('; ');
}

const count = (r: Record<string, number[]>) => Object.values(r).reduce((a, l) => a + l.length, 0);

/** One patch's lines: "3 of 5 added lines ran; not run: drivers/pci/liveupdate.c:40-41". */
export function patchLine(p: PatchCoverage): string {
  const run = count(p.run);
  const notRun = count(p.notRun);
  const outside = Object.values(p.outside).reduce((a, n) => a + n, 0);
  const parts = [`${run} of ${run + notRun} executable added line(s) ran`];
  if (notRun) parts.push(`not run: ${Object.entries(p.notRun).map(([f, l]) => `${f}:${lineRanges(l)}`).join('; ')}`);
  if (outside) parts.push(`${outside} added line(s) outside the instrumented files (${Object.keys(p.outside).length} file(s))`);
  return `${p.patch}: ${parts.join('; ')}`;
}

/** Rows of the per-file table: file, lines, functions. */
export function fileRows(k: KernelCoverage): string[][] {
  return [
    ...k.files.map((f) => [f.path, `${f.lines.hit}/${f.lines.found} (${pct(f.lines.hit, f.lines.found)})`, `${f.functions.hit}/${f.functions.found} (${pct(f.functions.hit, f.functions.found)})`]),
    ['total', `${k.total.lines.hit}/${k.total.lines.found} (${pct(k.total.lines.hit, k.total.lines.found)})`, `${k.total.functions.hit}/${k.total.functions.found} (${pct(k.total.functions.hit, k.total.functions.found)})`],
  ];
}

/** The plain-text summary: per kernel its table, its sides, its patches. */
export function coverageSummary(c: CoverageResult, table: (header: string[], rows: string[][]) => string): string {
  return c.kernels
    .map((k) => {
      const head = `coverage of ${k.recipe} (${k.release}), every boot added together: ${k.tracefile ?? 'no tracefile'}${k.html ? `, ${k.html}` : ''}`;
      const body = k.error ? `  no coverage: ${k.error}` : table(['file', 'lines', 'functions'], fileRows(k));
      const patches = k.patches.filter((p) => count(p.run) + count(p.notRun) + Object.keys(p.outside).length > 0).map((p) => `  ${patchLine(p)}`);
      return [head, body, `  counted: ${sidesLine(k)}`, ...(patches.length ? ['  per patch:', ...patches] : [])].join('\n');
    })
    .join('\n\n');
}
