// luo-harness baseline save|compare: the regression gate for CI.
import { writeFile } from 'node:fs/promises';
import { ConfigError, EXIT } from '../errors.ts';
import { compareToBaseline, gateLine, GATED_BY_DEFAULT, MIN_SAMPLES, readBaselineFile, saveBaseline, writeBaselineFile, DEFAULT_THRESHOLDS, type MetricThreshold, type Thresholds } from '../report/baseline.ts';
import { toMarkdown } from '../report/markdown.ts';
import { parseGate, parsePercent } from './args.ts';
import { command, subcommands } from './command.ts';
import { loadResultsDir } from '../report/results-dir.ts';

const HELP = `usage: luo-harness baseline <subcommand>

  save DIR [DIR...] --out FILE
      a baseline from the passed iterations of one or more results directories
      (more runs, more samples per metric)
  compare DIR [DIR...] --baseline FILE [--threshold PCT] [--threshold-for METRIC=PCT ...]
          [--gate METRIC,...|all] [--strict] [--markdown FILE]
      compare a run with the baseline; prints one sentence per metric and the
      gate's line; exits 1 when a gated metric regressed, 0 otherwise

Gated by default: ${GATED_BY_DEFAULT.join(', ')} of every scenario; every other
metric (the blackout's phases, verifyMs, ...) is compared and reported but
fails the gate only when named with --gate. A regression must be large (the
median grew by more than the threshold, default ${DEFAULT_THRESHOLDS.relative * 100}%, the metric's
floor and twice the baseline's spread) and real (beyond the run-to-run noise),
on at least ${MIN_SAMPLES} samples a side. With fewer the verdict is "not enough
evidence": exit 0, or 1 with --strict. METRIC is a metric name
(blackout.totalMs) or a scenario/metric key (memfd-basic/blackout.totalMs).
PCT is a percentage: 10% or 10. See docs/baseline.md.`;

/** `blackout.totalMs=15%` (repeatable) -> per-metric thresholds. */
export function parseThresholdFor(items: readonly string[]): Record<string, MetricThreshold> {
  const out: Record<string, MetricThreshold> = {};
  for (const item of items) {
    const eq = item.lastIndexOf('=');
    if (eq <= 0) throw new ConfigError(`--threshold-for expects METRIC=PCT such as blackout.totalMs=15%, got ${JSON.stringify(item)}.`);
    const metric = item.slice(0, eq).trim();
    out[metric] = { relative: parsePercent(item.slice(eq + 1), `--threshold-for ${metric}`) };
  }
  return out;
}

/** A run on coverage kernels measured instrumented code: its timings are never a baseline's or a gate's. */
function refuseCoverageRuns(runs: readonly { result: { coverage?: unknown } }[], dirs: readonly string[]): void {
  const bad = dirs.filter((_, i) => runs[i]!.result.coverage);
  if (bad.length) throw new ConfigError(`${bad.join(', ')} ran coverage kernels (--coverage): instrumented timings are not blackout figures; give results of plain kernels`);
}

export const baselineCommand = subcommands({
  name: 'baseline',
  help: HELP,
  subs: {
    save: command({
      help: HELP,
      options: { out: { type: 'string' } },
      positionals: true,
      run: async ({ values, positionals }, out) => {
        if (!values.out) throw new ConfigError('baseline save needs --out FILE');
        if (!positionals.length) throw new ConfigError('baseline save needs at least one results directory');
        const runs = await Promise.all(positionals.map(loadResultsDir));
        refuseCoverageRuns(runs, positionals);
        const baseline = saveBaseline(runs.map((r) => r.result));
        const keys = Object.keys(baseline.metrics);
        if (!keys.length) {
          throw new ConfigError(`No passed iteration with figures in ${positionals.join(', ')}: a baseline needs at least one scenario that passed and measured something.`);
        }
        await writeBaselineFile(values.out, baseline);
        const sizes = keys.map((k) => baseline.metrics[k]!.samples.length);
        out(`wrote ${values.out}: ${keys.length} metric(s) from ${runs.length} run(s), ${Math.min(...sizes)}..${Math.max(...sizes)} sample(s) each`);
        return EXIT.ok;
      },
    }),
    compare: command({
      help: HELP,
      options: {
        baseline: { type: 'string' },
        threshold: { type: 'string' },
        'threshold-for': { type: 'string', multiple: true },
        gate: { type: 'string', multiple: true },
        strict: { type: 'boolean' },
        markdown: { type: 'string' },
      },
      positionals: true,
      run: async ({ values, positionals }, out) => {
        if (!values.baseline) throw new ConfigError('baseline compare needs --baseline FILE (written by `luo-harness baseline save`)');
        if (!positionals.length) throw new ConfigError('baseline compare needs a results directory');
        const gate = parseGate(values.gate);
        const thresholds: Partial<Thresholds> = {
          ...(values.threshold !== undefined ? { relative: parsePercent(values.threshold, '--threshold') } : {}),
          ...(values['threshold-for']?.length ? { perMetric: parseThresholdFor(values['threshold-for']) } : {}),
          ...(gate ? { gate } : {}),
        };
        const baseline = await readBaselineFile(values.baseline);
        const runs = await Promise.all(positionals.map(loadResultsDir));
        refuseCoverageRuns(runs, positionals);
        const comparison = compareToBaseline(baseline, runs.map((r) => r.result), thresholds);
        for (const v of comparison.verdicts) out(v.sentence);
        const strict = values.strict ?? false;
        out(gateLine(comparison, strict));
        if (values.markdown) {
          // The summary of the (first) run with the gate's verdicts under it: what a CI job summary shows.
          const first = runs[0]!.result;
          await writeFile(values.markdown, toMarkdown({ ...first, gate: { baseline: values.baseline, strict, line: gateLine(comparison, strict), comparison } }));
        }
        return comparison.outcome === 'regression' || (strict && comparison.outcome === 'insufficient-evidence') ? EXIT.failed : EXIT.ok;
      },
    }),
  },
});
