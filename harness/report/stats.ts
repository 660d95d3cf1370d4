// Small, dependency-free statistics for blackout samples. Samples are few
// (3..30) and noisy (TCG, shared CI hosts), so the gate leans on robust
// figures (median, MAD) and on rank / resampling methods that assume no
// distribution.

const sorted = (xs: readonly number[]) => [...xs].sort((a, b) => a - b);

function requireSamples(xs: readonly number[], what: string): void {
  if (xs.length === 0) throw new RangeError(`${what} of an empty sample`);
}

/**
 * The p-quantile (0 <= p <= 1) by linear interpolation between closest ranks:
 * h = (n - 1) * p, result = x[floor h] + (h - floor h) * (x[floor h + 1] - x[floor h])
 * on the sorted sample (Hyndman & Fan type 7; what numpy and spreadsheets' PERCENTILE.INC do).
 */
export function quantile(xs: readonly number[], p: number): number {
  requireSamples(xs, 'quantile');
  if (!(p >= 0 && p <= 1)) throw new RangeError(`quantile p must be in [0, 1], got ${p}`);
  const s = sorted(xs);
  const h = (s.length - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo]! + (h - lo) * (s[hi]! - s[lo]!);
}

export const median = (xs: readonly number[]) => quantile(xs, 0.5);
export const p95 = (xs: readonly number[]) => quantile(xs, 0.95);

export function mean(xs: readonly number[]): number {
  requireSamples(xs, 'mean');
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Sample standard deviation (n - 1 in the denominator); 0 for a single sample. */
export function stddev(xs: readonly number[]): number {
  requireSamples(xs, 'stddev');
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
}

/** Median absolute deviation from the median, unscaled (multiply by 1.4826 to estimate sigma of a normal). */
export function mad(xs: readonly number[]): number {
  const m = median(xs);
  return median(xs.map((x) => Math.abs(x - m)));
}

export interface Summary {
  n: number;
  median: number;
  p95: number;
  mean: number;
  stddev: number;
  mad: number;
  min: number;
  max: number;
}

export function summarize(xs: readonly number[]): Summary {
  requireSamples(xs, 'summary');
  return {
    n: xs.length,
    median: median(xs),
    p95: p95(xs),
    mean: mean(xs),
    stddev: stddev(xs),
    mad: mad(xs),
    min: Math.min(...xs),
    max: Math.max(...xs),
  };
}

/** mulberry32: a tiny seeded PRNG, so the same samples always give the same interval. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface ConfidenceInterval {
  /** median(current) - median(baseline). */
  estimate: number;
  low: number;
  high: number;
  confidence: number;
}

/**
 * Percentile bootstrap CI of median(b) - median(a): resample each side with
 * replacement `iterations` times, take the middle `confidence` share of the
 * differences. Deterministic for a given seed.
 */
export function bootstrapMedianDiff(
  a: readonly number[],
  b: readonly number[],
  opts: { iterations?: number; confidence?: number; seed?: number } = {},
): ConfidenceInterval {
  requireSamples(a, 'bootstrap');
  requireSamples(b, 'bootstrap');
  const iterations = opts.iterations ?? 2000;
  const confidence = opts.confidence ?? 0.95;
  const rand = seededRandom(opts.seed ?? 0x5eed);
  const resample = (xs: readonly number[]) => {
    const out = new Array<number>(xs.length);
    for (let i = 0; i < xs.length; i++) out[i] = xs[Math.floor(rand() * xs.length)]!;
    return out;
  };
  const diffs = new Array<number>(iterations);
  for (let i = 0; i < iterations; i++) diffs[i] = median(resample(b)) - median(resample(a));
  const tail = (1 - confidence) / 2;
  return {
    estimate: median(b) - median(a),
    low: quantile(diffs, tail),
    high: quantile(diffs, 1 - tail),
    confidence,
  };
}

/** Standard normal CDF (Abramowitz & Stegun 7.1.26 erf, |error| < 1.5e-7). */
export function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-x * x);
  return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

export interface MannWhitney {
  /** U of the first sample (number of pairs where a > b, ties count 1/2). */
  u: number;
  /** Two-sided p-value. */
  p: number;
  method: 'exact' | 'normal';
  /** The smallest p this test can produce for these sample sizes (exact method only). */
  minAttainableP?: number;
  /** False when the samples are too small for the p-value to mean much (n < 3 on a side, or normal approximation with n < 8). */
  reliable: boolean;
}

/** Exact sizes we enumerate: the count table is (n1+1)*(n2+1)*(n1*n2+1). */
const EXACT_LIMIT = 25;

/**
 * Mann-Whitney U (Wilcoxon rank-sum), two-sided. Exact permutation
 * distribution when there are no ties and both samples have at most 25
 * values; otherwise the normal approximation with tie correction and a 0.5
 * continuity correction.
 */
export function mannWhitneyU(a: readonly number[], b: readonly number[]): MannWhitney {
  requireSamples(a, 'Mann-Whitney');
  requireSamples(b, 'Mann-Whitney');
  const n1 = a.length;
  const n2 = b.length;
  const n = n1 + n2;
  const all = [...a.map((v) => ({ v, g: 0 })), ...b.map((v) => ({ v, g: 1 }))].sort((x, y) => x.v - y.v);
  const ranks = new Array<number>(n);
  let tieTerm = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && all[j + 1]!.v === all[i]!.v) j++;
    const t = j - i + 1;
    for (let k = i; k <= j; k++) ranks[k] = (i + j) / 2 + 1;
    tieTerm += t ** 3 - t;
    i = j + 1;
  }
  let r1 = 0;
  for (let k = 0; k < n; k++) if (all[k]!.g === 0) r1 += ranks[k]!;
  const u = r1 - (n1 * (n1 + 1)) / 2;
  const uMin = Math.min(u, n1 * n2 - u);
  const small = n1 < 3 || n2 < 3;

  if (tieTerm === 0 && n1 <= EXACT_LIMIT && n2 <= EXACT_LIMIT) {
    const dist = exactUDistribution(n1, n2);
    const total = dist.reduce((x, y) => x + y, 0);
    let tail = 0;
    for (let k = 0; k <= Math.floor(uMin); k++) tail += dist[k]!;
    return {
      u,
      p: Math.min(1, (2 * tail) / total),
      method: 'exact',
      minAttainableP: Math.min(1, (2 * dist[0]!) / total),
      reliable: !small,
    };
  }
  const mu = (n1 * n2) / 2;
  const sigma = Math.sqrt(((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1))));
  if (sigma === 0) return { u, p: 1, method: 'normal', reliable: false };
  const z = Math.max(0, Math.abs(u - mu) - 0.5) / sigma;
  return { u, p: Math.min(1, 2 * (1 - normalCdf(z))), method: 'normal', reliable: !small && Math.min(n1, n2) >= 8 };
}

/** Number of orderings giving each U = 0..n1*n2 (no ties), by the usual recurrence. */
function exactUDistribution(n1: number, n2: number): number[] {
  // c[i][j][u]: arrangements of i values from a and j from b with statistic u.
  // Adding the largest value: from a adds j to U, from b adds nothing.
  let prev: number[][] = [];
  for (let i = 0; i <= n1; i++) {
    const row: number[][] = [];
    for (let j = 0; j <= n2; j++) {
      const cell = new Array<number>(i * j + 1).fill(0);
      if (i === 0 || j === 0) cell[0] = 1;
      else {
        const fromA = prev[j]!;
        const fromB = row[j - 1]!;
        for (let k = 0; k < fromA.length; k++) cell[k + j] += fromA[k]!;
        for (let k = 0; k < fromB.length; k++) cell[k] += fromB[k]!;
      }
      row.push(cell);
    }
    prev = row;
  }
  return prev[n2]!;
}
