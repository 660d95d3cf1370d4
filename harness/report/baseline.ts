// The baseline gate: compare this run's figures with a saved baseline and
// call a regression only when the change is both large (beyond a relative
// threshold, a floor and the baseline's own noise) and real (beyond chance),
// on enough samples; too few samples is a third outcome, not a verdict.
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

/** Samples per `<scenario>[<label>]/<metric>` key, from iterations that passed (a failed boot's timing means nothing). */
export function collectSamples(results: RunResult | readonly RunResult[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const run of Array.isArray(results) ? results : [results as RunResult]) {
    for (const s of run.scenarios) {
      for (const it of s.iterations) {
        if (it.status !== 'pass') continue;
        for (const [metric, v] of Object.entries(iterationMetrics(it))) {
          const key = `${s.name}${it.label ? `[${it.label}]` : ''}/${metric}`;
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
  /** Absolute change (in the metric's unit, ms for blackout) below which nothing is flagged: the floor. */
  absolute?: number;
}

export interface Thresholds {
  relative: number;
  /** A floor for every metric, instead of the per-metric defaults (FLOORS_MS). */
  absolute?: number;
  /** Overrides by metric name (`blackout.totalMs`) and by full key (`memfd-basic/blackout.totalMs`), layered: default < metric < key. */
  perMetric?: Record<string, MetricThreshold>;
  /** Significance level of the Mann-Whitney test; the CI uses 1 - alpha. */
  alpha: number;
  bootstrapIterations: number;
  seed: number;
  /** Samples each side needs before the statistics judge (default MIN_SAMPLES). */
  minSamples: number;
  /** What fails the gate: metric names or scenario/metric keys, or 'all' (default GATED_BY_DEFAULT). */
  gate: readonly string[] | 'all';
}

/**
 * What fails the gate unless told otherwise: the blackout a user sees and
 * the gap a running workload sees. Phases move by tens of percent between
 * identical runs under TCG (one phase's loss is the next one's gain): they
 * are compared and reported, and gated only when asked for (--gate).
 */
export const GATED_BY_DEFAULT: readonly string[] = ['blackout.totalMs', 'workloadGapMs'];

/** Samples each side needs for the statistics to judge: 5 against 5 is the smallest size at which Mann-Whitney reaches p < 0.01. */
export const MIN_SAMPLES = 5;

/**
 * Floors: a change must also exceed this many ms to be a regression, with
 * any number of samples. A few ms of shutdown are console latency, not a
 * regression; a few tens of ms of a 2 s blackout are TCG scheduling.
 */
export const FLOORS_MS: Readonly<Record<string, number>> = {
  'blackout.totalMs': 100,
  'blackout.guestTscMs': 100,
  workloadGapMs: 100,
  'blackout.shutdownMs': 20,
  'blackout.kexecJumpMs': 50,
  'blackout.kernelInitMs': 50,
  'blackout.userspaceInitMs': 20,
  'blackout.restoreMs': 20,
  'blackout.serviceMs': 30,
  verifyMs: 100,
};
/** The floor of any other duration (`...Ms`); counts have none. */
export const DEFAULT_FLOOR_MS = 20;
/** A change must also exceed this many robust standard deviations (1.4826 x MAD) of the baseline's own samples. */
export const NOISE_SIGMAS = 2;
/** With fewer than minSamples on a side, only a change this many times the relative threshold, above every baseline sample, is judged. */
export const TINY_SAMPLE_FACTOR = 3;

export const DEFAULT_THRESHOLDS: Thresholds = { relative: 0.1, alpha: 0.05, bootstrapIterations: 2000, seed: 0x5eed, minSamples: MIN_SAMPLES, gate: GATED_BY_DEFAULT };

export type VerdictKind =
  | 'regression'
  | 'improvement'
  | 'unchanged'
  | 'insufficient-evidence'
  | 'missing-baseline'
  | 'missing-current';

export interface MetricVerdict {
  key: string;
  kind: VerdictKind;
  /** Whether this metric can fail the gate. */
  gated: boolean;
  baseline?: { n: number; median: number };
  current?: { n: number; median: number };
  /** current median - baseline median. */
  diff?: number;
  relativeDiff?: number;
  threshold: { relative: number; absolute?: number };
  /** The change a regression had to exceed: the largest of the relative threshold, the floor and the baseline's noise. */
  margin?: number;
  ci?: ConfidenceInterval;
  p?: number;
  /** One sentence a reader of a CI log understands without the rest. */
  sentence: string;
}

/** pass: nothing gated regressed and every gated metric was judged; insufficient-evidence: nothing regressed but something gated could not be judged. */
export type GateOutcome = 'pass' | 'regression' | 'insufficient-evidence';

export interface Comparison {
  verdicts: MetricVerdict[];
  /** Gated metrics that regressed: these fail the run. */
  regressions: MetricVerdict[];
  /** Gated metrics with too few samples to judge. */
  undecided: MetricVerdict[];
  outcome: GateOutcome;
}

const metricOf = (key: string) => key.slice(key.indexOf('/') + 1);

export function isGated(key: string, gate: Thresholds['gate']): boolean {
  return gate === 'all' || gate.includes(key) || gate.includes(metricOf(key));
}

function thresholdFor(key: string, t: Thresholds): { relative: number; absolute?: number } {
  const metric = metricOf(key);
  const o = { ...t.perMetric?.[metric], ...t.perMetric?.[key] };
  const absolute = o.absolute ?? t.absolute ?? FLOORS_MS[metric] ?? (/Ms$/.test(metric) ? DEFAULT_FLOOR_MS : undefined);
  return { relative: o.relative ?? t.relative, ...(absolute !== undefined ? { absolute } : {}) };
}

const unitOf = (key: string) => (/Ms$/.test(key) ? ' ms' : '');
const fmt = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 1 ? x.toFixed(1).replace(/\.0$/, '') : String(Number(x.toPrecision(2))));
const signed = (x: number) => (x >= 0 ? '+' : '') + fmt(x);
const pct = (x: number) => (x >= 0 ? '+' : '') + (x * 100).toFixed(1) + '%';

/**
 * Compare current samples with the baseline, metric by metric, and decide
 * the gate. A regression needs the median to grow beyond a margin (the
 * largest of the relative threshold, the metric's floor and twice the
 * baseline's own robust spread) AND the growth to be real: the bootstrap CI
 * of the median difference lies above 0 and the Mann-Whitney p < alpha. With
 * fewer than minSamples on a side the statistics are not used: such a metric
 * is 'insufficient-evidence' unless the change is beyond doubt (3x the
 * threshold, the floor, and above every baseline sample).
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
  const regressions = verdicts.filter((v) => v.gated && v.kind === 'regression');
  const undecided = verdicts.filter((v) => v.gated && v.kind === 'insufficient-evidence');
  return { verdicts, regressions, undecided, outcome: regressions.length ? 'regression' : undecided.length ? 'insufficient-evidence' : 'pass' };
}

export function compareMetric(key: string, base: readonly number[], cur: readonly number[], tIn: Partial<Thresholds> & Pick<Thresholds, 'relative'>): MetricVerdict {
  const t: Thresholds = { ...DEFAULT_THRESHOLDS, ...tIn };
  const threshold = thresholdFor(key, t);
  const gated = isGated(key, t.gate);
  const unit = unitOf(key);
  const floor = threshold.absolute ?? 0;
  const thrText = `threshold ${(threshold.relative * 100).toFixed(0)}%` + (threshold.absolute !== undefined ? `, floor ${fmt(threshold.absolute)}${unit}` : '');
  if (base.length === 0 || cur.length === 0) {
    const kind = base.length === 0 ? 'missing-baseline' : 'missing-current';
    const sentence =
      kind === 'missing-baseline'
        ? `NEW ${key}: no baseline samples to compare with (n=${cur.length} current).`
        : `MISSING ${key}: the baseline has n=${base.length} samples but this run produced none.`;
    return { key, kind, gated, threshold, sentence };
  }
  const bs = summarize(base);
  const cs = summarize(cur);
  const diff = cs.median - bs.median;
  const relativeDiff = bs.median === 0 ? (diff === 0 ? 0 : Infinity) : diff / bs.median;
  const noise = base.length >= 3 ? NOISE_SIGMAS * 1.4826 * bs.mad : 0;
  const margin = Math.max(threshold.relative * Math.abs(bs.median), floor, noise);
  const common = {
    key,
    gated,
    baseline: { n: bs.n, median: bs.median },
    current: { n: cs.n, median: cs.median },
    diff,
    relativeDiff,
    threshold,
    margin,
  };
  const head = `${key}: median ${fmt(cs.median)}${unit} vs baseline ${fmt(bs.median)}${unit} (${signed(diff)}${unit}, ${pct(relativeDiff)}; ${thrText}; margin ${fmt(margin)}${unit})`;
  const counts = `n=${cs.n} current vs n=${bs.n} baseline`;
  const label = (kind: VerdictKind) =>
    kind === 'regression' ? (gated ? 'REGRESSION' : 'SLOWER (not gated)') : kind === 'improvement' ? 'IMPROVEMENT' : kind === 'unchanged' ? 'OK' : 'NOT ENOUGH EVIDENCE';

  if (bs.n < t.minSamples || cs.n < t.minSamples) {
    const tiny = Math.max(TINY_SAMPLE_FACTOR * threshold.relative * Math.abs(bs.median), floor, TINY_SAMPLE_FACTOR * noise);
    const up = diff > tiny && cs.min > bs.max;
    const down = -diff > tiny && cs.max < bs.min;
    if (up || down) {
      const kind = up ? 'regression' : 'improvement';
      return { ...common, kind, sentence: `${label(kind)} ${head}; too few samples for statistics (${counts}) but the change is beyond doubt: over ${TINY_SAMPLE_FACTOR}x the threshold, over the floor, beyond every baseline sample.` };
    }
    return {
      ...common,
      kind: 'insufficient-evidence',
      sentence: `${label('insufficient-evidence')} ${head}; ${counts}, the gate needs ${t.minSamples} on each side to judge a change smaller than ${fmt(tiny)}${unit}.`,
    };
  }

  const ci = bootstrapMedianDiff(base, cur, { iterations: t.bootstrapIterations, confidence: 1 - t.alpha, seed: t.seed });
  const mw = mannWhitneyU(cur, base);
  const mwDecides = mw.minAttainableP === undefined || mw.minAttainableP < t.alpha;
  const real = (up: boolean) => (up ? ci.low > 0 : ci.high < 0) && (!mwDecides || mw.p < t.alpha);
  const stats =
    `${((1 - t.alpha) * 100).toFixed(0)}% CI of the difference [${signed(ci.low)}, ${signed(ci.high)}]${unit}, ` +
    `Mann-Whitney p=${mw.p.toPrecision(2)}${mwDecides ? '' : ' (cannot reach alpha at these sizes; CI decides)'}; ${counts}`;
  const big = Math.abs(diff) > margin;
  let kind: VerdictKind = 'unchanged';
  if (big && real(diff > 0)) kind = diff > 0 ? 'regression' : 'improvement';
  const overThreshold = Math.abs(diff) > Math.max(threshold.relative * Math.abs(bs.median), floor);
  const why =
    kind !== 'unchanged' ? '' : big ? ' — within noise' : overThreshold ? " — within the baseline's own spread" : real(diff > 0) ? ' — real but below the margin' : '';
  return { ...common, kind, ci, p: mw.p, sentence: `${label(kind)} ${head}; ${stats}${why}.` };
}

/** The one line a CI log shows for the gate as a whole. */
export function gateLine(c: Comparison, strict = false): string {
  const judged = c.verdicts.filter((v) => v.gated).length;
  if (c.outcome === 'regression') return `GATE: ${c.regressions.length} regression(s): ${c.regressions.map((v) => v.key).join(', ')}`;
  if (c.outcome === 'insufficient-evidence') {
    const worst = c.undecided.map((v) => `${v.key} (n=${v.current?.n} vs n=${v.baseline?.n})`).join(', ');
    const short = (side: 'baseline' | 'current') => c.undecided.some((v) => (v[side]?.n ?? 0) < MIN_SAMPLES);
    const advice = [
      ...(short('baseline') ? [`save the baseline from runs with at least ${MIN_SAMPLES} live updates per scenario (run --iterations ${MIN_SAMPLES}, or several runs to baseline save)`] : []),
      ...(short('current') ? [`give this run at least ${MIN_SAMPLES} (--iterations ${MIN_SAMPLES}, or several runs to baseline compare)`] : []),
    ].join('; ');
    return `GATE: not enough evidence to judge ${worst}; nothing regressed beyond doubt. ${strict ? 'Failing because of --strict.' : 'Exit 0 (--strict fails on this).'} To judge: ${advice}.`;
  }
  return judged ? `GATE: no regression in ${judged} gated metric(s) (${c.verdicts.length} compared)` : `GATE: no gated metric in this run (${c.verdicts.length} compared)`;
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
