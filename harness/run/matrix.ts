// The kernel matrix of the selftests: stage 1 on one kernel, kexec, stage 2 on
// another, for every ordered pair. Pure helpers; the CLI runs the pairs.
import { ConfigError } from '../errors.ts';
import type { ScenarioResult } from '../report/result.ts';

export interface KernelPair {
  from: string;
  to: string;
}

/** Every ordered pair of the recipes, the same-kernel pairs included: A->A, A->B, B->A, B->B. */
export function matrixPairs(recipes: readonly string[]): KernelPair[] {
  const names = [...new Set(recipes.map((r) => r.trim()).filter(Boolean))];
  if (names.length === 0) throw new ConfigError('--matrix names no kernel; give recipes like luo-7.2,luo-7.3');
  return names.flatMap((from) => names.map((to) => ({ from, to })));
}

/** The suffix result names carry in a matrix run: ` [luo-7.2 -> luo-7.3]`. */
export const pairSuffix = (p: KernelPair) => ` [${p.from} -> ${p.to}]`;

/** Compares dotted release numbers (`7.3.4` vs `7.2.13`) numerically; a non-numeric tail is ignored. */
export function compareReleases(a: string, b: string): number {
  const nums = (s: string) => (/^\d+(?:\.\d+)*/.exec(s)?.[0] ?? '').split('.').filter(Boolean).map(Number);
  const [x, y] = [nums(a), nums(b)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

/** `downgrade 7.3.4 -> 7.2.13` when the live update goes to an older release, else undefined. */
export function downgradeLabel(fromRelease: string, toRelease: string): string | undefined {
  return compareReleases(fromRelease, toRelease) > 0 ? `downgrade ${fromRelease} -> ${toRelease}` : undefined;
}

/**
 * A failed result of a downgrade pair says so first, so a reader sees that
 * an older kernel refused (or mangled) a newer one's handover; it stays a failure.
 */
export function labelDowngrade(result: ScenarioResult, fromRelease: string, toRelease: string): ScenarioResult {
  const label = downgradeLabel(fromRelease, toRelease);
  if (!label || result.status !== 'fail') return result;
  return { ...result, reason: `${label}: ${result.reason ?? 'failed'}` };
}

export interface MatrixCell {
  passed: number;
  total: number;
}

/** passed/total per (from, to); a result's `to` is its `kernel` when absent (same-kernel pair). Skipped results do not count. */
export function matrixCells(results: readonly ScenarioResult[]): Map<string, Map<string, MatrixCell>> {
  const cells = new Map<string, Map<string, MatrixCell>>();
  for (const r of results) {
    if (!r.kernel || r.status === 'skip') continue;
    const to = r.to ?? r.kernel;
    const row = cells.get(r.kernel) ?? new Map<string, MatrixCell>();
    cells.set(r.kernel, row);
    const cell = row.get(to) ?? { passed: 0, total: 0 };
    row.set(to, cell);
    cell.total++;
    if (r.status === 'pass') cell.passed++;
  }
  return cells;
}

/** Rows (header first) for a table: rows are the first kernel, columns the second, cells `passed/total`. */
export function matrixRows(recipes: readonly string[], results: readonly ScenarioResult[]): string[][] {
  const names = [...new Set(recipes)];
  const cells = matrixCells(results);
  return [
    ['from \\ to', ...names],
    ...names.map((from) => [from, ...names.map((to) => {
      const c = cells.get(from)?.get(to);
      return c ? `${c.passed}/${c.total}` : '-';
    })]),
  ];
}
