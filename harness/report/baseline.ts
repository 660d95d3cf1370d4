// The baseline gate: compare this run's figures with a saved baseline and
// call a regression only when the change is both large (beyond a relative
// threshold, and an absolute floor if set) and real (beyond the noise).
// Every metric is a duration or a cost: higher is worse.
import { readFile, writeFile } from 'node:fs/promises';
import { ConfigError } from '../errors.ts';
import { iterationMetrics, type RunResult } from './result.ts';
import { bootstrapMedianDiff, mannWhitneyU, summarize, type ConfidenceInterval, type Summary } from './stats.ts';

export const BASELINE_SCHEMA = 1 as const;

export interface Baseline {
  schema: typeof BASELINE_SCHEMA;
  createdAt: string;
  /** Run ids the samples came from. */
  runs: string[];
  /** Keyed `<scenario>/<metric>`, e.g. `memfd-basic/blackout.totalMs`. */
  metrics: Record<string, { samples: number[]; summary: Summary }>;
}

/** Samples per `<scenario>/<metric>` key, from iterations that passed (a failed boot's timing means nothing). */
export function collectSamples(results: RunResult | readonly RunResult[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const run of Array.isArray(results) ? results : [results as RunResult]) {
    for (const s of run.scenarios) {
      for (const it of s.iterations) {
        if (it.status !== 'pass') continue;
        for (const [metric, v] of Object.entries(iterationMetrics(it))) {
          const key = `${s.name}/${metric}`;
          const list = out.get(key) ?? [];
          list.push(v);
          out.set(key, list);
        }
      }
    }
  }
  return out;
}

/** A baseline from one or more runs (pass several to get more samples per metric). */
export function saveBaseline(results: RunResult | readonly RunResult[], now: Date = new Date()): Baseline {
  const runs = Array.isArray(results) ? results : [results as RunResult];
  const metrics: Baseline['metrics'] = {};
  const samples = collectSamples(runs);
  for (const key of [...samples.keys()].sort()) {
    const xs = samples.get(key)!;
    metrics[key] = { samples: xs, summary: summarize(xs) };
  }
  return { schema: BASELINE_SCHEMA, createdAt: now.toISOString(), runs: runs.map((r) => r.runId), metrics };
}

export interface MetricThreshold {
  /** Relative change of the median that counts as large, e.g. 0.1 for 10 %. */
  relative?: number;
  /** Absolute change (in the metric's unit, ms for blackout) below which nothing is flagged. */
  absolute?: number;
}

export interface Thresholds {
  relative: number;
  absolute?: number;
  /** Overrides by metric name (`blackout.totalMs`) and by full key (`memfd-basic/blackout.totalMs`), layered: default < metric < key. */
  perMetric?: Record<string, MetricThreshold>;
  /** Significance level of the Mann-Whitney test; the CI uses 1 - alpha. */
  alpha: number;
  bootstrapIterations: number;
  seed: number;
}

export const DEFAULT_THRESHOLDS: Thresholds = { relative: 0.1, alpha: 0.05, bootstrapIterations: 2000, seed: 0x5eed };

/** Below this many samples on either side, the statistics are not trusted on their own. */
export const MIN_SAMPLES = 3;
/** With too few samples, only a change this many times the relative threshold is flagged. */
export const TINY_SAMPLE_FACTOR = 3;

export type VerdictKind =
  | 'regression'
  | 'improvement'
  | 'unchanged'
  | 'insufficient-samples'
  | 'missing-baseline'
  | 'missing-current';

export interface MetricVerdict {
  key: string;
  kind: VerdictKind;
  baseline?: { n: number; median: number };
  current?: { n: number; median: number };
  /** current median - baseline median. */
  diff?: number;
  relativeDiff?: number;
  threshold: { relative: number; absolute?: number };
  ci?: ConfidenceInterval;
  p?: number;
  /** One sentence a reader of a CI log understands without the rest. */
  sentence: string;
}

export interface Comparison {
  verdicts: MetricVerdict[];
  regressions: MetricVerdict[];
}

function thresholdFor(key: string, t: Thresholds): { relative: number; absolute?: number } {
  const metric = key.slice(key.indexOf('/') + 1);
  const o = { ...t.perMetric?.[metric], ...t.perMetric?.[key] };
  const absolute = o.absolute ?? t.absolute;
  return { relative: o.relative ?? t.relative, ...(absolute !== undefined ? { absolute } : {}) };
}

const unitOf = (key: string) => (/Ms$/.test(key) ? ' ms' : '');
const fmt = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 1 ? x.toFixed(1).replace(/\.0$/, '') : String(Number(x.toPrecision(2))));
const signed = (x: number) => (x >= 0 ? '+' : '') + fmt(x);
const pct = (x: number) => (x >= 0 ? '+' : '') + (x * 100).toFixed(1) + '%';

/**
 * Compare current samples with the baseline, metric by metric. A regression
 * needs the median to grow beyond the threshold (relative, and the absolute
 * floor when set) AND the growth to be real: the bootstrap CI of the median
 * difference lies above 0 and the Mann-Whitney p < alpha (when the sample
 * sizes cannot reach alpha at all, e.g. 3 vs 3, the CI decides alone). With
 * fewer than 3 samples on a side the statistics are not used: such a metric
 * is 'insufficient-samples' unless the change exceeds 3x the threshold.
 */
export function compareToBaseline(
  baseline: Baseline,
  current: RunResult | readonly RunResult[] | Map<string, number[]>,
  thresholds: Partial<Thresholds> = {},
): Comparison {
  const t: Thresholds = { ...DEFAULT_THRESHOLDS, ...thresholds };
  const cur = current instanceof Map ? current : collectSamples(current);
  const keys = [...new Set([...Object.keys(baseline.metrics), ...cur.keys()])].sort();
  const verdicts = keys.map((key) => compareMetric(key, baseline.metrics[key]?.samples ?? [], cur.get(key) ?? [], t));
  return { verdicts, regressions: verdicts.filter((v) => v.kind === 'regression') };
}

export function compareMetric(key: string, base: readonly number[], cur: readonly number[], t: Thresholds): MetricVerdict {
  const threshold = thresholdFor(key, t);
  const unit = unitOf(key);
  const thrText = `threshold ${(threshold.relative * 100).toFixed(0)}%` + (threshold.absolute !== undefined ? ` and ${fmt(threshold.absolute)}${unit}` : '');
  if (base.length === 0 || cur.length === 0) {
    const kind = base.length === 0 ? 'missing-baseline' : 'missing-current';
    const sentence =
      kind === 'missing-baseline'
        ? `NEW ${key}: no baseline samples to compare with (n=${cur.length} current).`
        : `MISSING ${key}: the baseline has n=${base.length} samples but this run produced none.`;
    return { key, kind, threshold, sentence };
  }
  const bs = summarize(base);
  const cs = summarize(cur);
  const diff = cs.median - bs.median;
  const relativeDiff = bs.median === 0 ? (diff === 0 ? 0 : Infinity) : diff / bs.median;
  const beyond = (factor: number) =>
    Math.abs(diff) > factor * threshold.relative * Math.abs(bs.median) &&
    (threshold.absolute === undefined || Math.abs(diff) > threshold.absolute);
  const common = {
    key,
    baseline: { n: bs.n, median: bs.median },
    current: { n: cs.n, median: cs.median },
    diff,
    relativeDiff,
    threshold,
  };
  const head = `${key}: median ${fmt(cs.median)}${unit} vs baseline ${fmt(bs.median)}${unit} (${signed(diff)}${unit}, ${pct(relativeDiff)}; ${thrText})`;
  const counts = `n=${cs.n} current vs n=${bs.n} baseline`;

  if (bs.n < MIN_SAMPLES || cs.n < MIN_SAMPLES) {
    if (beyond(TINY_SAMPLE_FACTOR)) {
      const kind = diff > 0 ? 'regression' : 'improvement';
      return {
        ...common,
        kind,
        sentence: `${kind.toUpperCase()} ${head}; too few samples for statistics (${counts}) but the change exceeds ${TINY_SAMPLE_FACTOR}x the threshold.`,
      };
    }
    return {
      ...common,
      kind: 'insufficient-samples',
      sentence: `INSUFFICIENT SAMPLES ${head}; ${counts}, need ${MIN_SAMPLES} on each side to judge a change below ${TINY_SAMPLE_FACTOR}x the threshold.`,
    };
  }

  const ci = bootstrapMedianDiff(base, cur, { iterations: t.bootstrapIterations, confidence: 1 - t.alpha, seed: t.seed });
  const mw = mannWhitneyU(cur, base);
  const mwDecides = mw.minAttainableP === undefined || mw.minAttainableP < t.alpha;
  const real = (up: boolean) => (up ? ci.low > 0 : ci.high < 0) && (!mwDecides || mw.p < t.alpha);
  const stats =
    `${((1 - t.alpha) * 100).toFixed(0)}% CI of the difference [${signed(ci.low)}, ${signed(ci.high)}]${unit}, ` +
    `Mann-Whitney p=${mw.p.toPrecision(2)}${mwDecides ? '' : ' (cannot reach alpha at these sizes; CI decides)'}; ${counts}`;
  const big = beyond(1);
  let kind: VerdictKind = 'unchanged';
  if (big && real(diff > 0)) kind = diff > 0 ? 'regression' : 'improvement';
  const why =
    kind !== 'unchanged'
      ? ''
      : big
        ? ' — within noise'
        : real(diff > 0)
          ? ' — real but below the threshold'
          : '';
  const label = kind === 'unchanged' ? 'OK' : kind.toUpperCase();
  return { ...common, kind, ci, p: mw.p, sentence: `${label} ${head}; ${stats}${why}.` };
}

export async function writeBaselineFile(path: string, baseline: Baseline): Promise<void> {
  await writeFile(path, JSON.stringify(baseline, null, 2) + '\n');
}

export async function readBaselineFile(path: string): Promise<Baseline> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new ConfigError(`Cannot read the baseline file ${path}; create one with a baseline save run.`, { cause });
  }
  return parseBaseline(text, path);
}

export function parseBaseline(text: string, where = 'baseline'): Baseline {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (cause) {
    throw new ConfigError(`${where} is not valid JSON.`, { cause });
  }
  const b = data as Partial<Baseline>;
  if (!b || typeof b !== 'object' || b.schema !== BASELINE_SCHEMA || typeof b.metrics !== 'object' || b.metrics === null) {
    throw new ConfigError(`${where} is not a baseline of schema ${BASELINE_SCHEMA} (got schema ${String(b?.schema)}); save a new one.`);
  }
  for (const [key, m] of Object.entries(b.metrics)) {
    if (!Array.isArray(m?.samples) || !m.samples.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      throw new ConfigError(`${where}: metric ${key} has no valid samples array.`);
    }
  }
  return b as Baseline;
}
