// luo-harness run: a suite of live-update scenarios into a results directory,
// with a verdict fit for CI (exit code, JUnit, baseline gate).
import { copyFile, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ConfigError, EXIT } from '../errors.ts';
import { cacheLayout } from '../paths.ts';
import { parse, parseGate, parsePercent, splitList } from './args.ts';
import { formatTable, formatTableWithNotes } from './table.ts';
import { blackoutTable, capabilityLines, kernelRecord, newRunId, runResult } from './run-output.ts';
import { DEFAULT_SUITE, loadSuite, type SuiteEntry } from '../scenario/suite.ts';
import { labelDowngrade, matrixPairs, matrixRows, pairSuffix } from '../run/matrix.ts';
import { SCENARIOS } from '../scenario/scenarios/index.ts';
import { runScenario } from '../scenario/scenario.ts';
import { resolveKernel } from '../liveupdate/live-vm.ts';
import { DEFAULT_RECIPE } from '../kernel/recipe.ts';
import { overallVerdict, type RunResult, type ScenarioResult } from '../report/result.ts';
import { writeReportFiles } from '../report/output.ts';
import { compareToBaseline, gateLine, GATED_BY_DEFAULT, MIN_SAMPLES, readBaselineFile } from '../report/baseline.ts';
import { parseShard, selectShard } from '../report/shard.ts';
import { sweepStaleMachines } from '../vm/sweep.ts';
import { createProgress } from '../util/progress.ts';

const HELP = `usage: luo-harness run [options]

  --suite NAME|FILE     suites/NAME.json or a suite file (default: ${DEFAULT_SUITE})
  --kernel RECIPE|KEY   kernel for scenarios that do not pin one (default: the suite's, else ${DEFAULT_RECIPE})
  --to RECIPE           target kernel of upgrade scenarios (default: the suite's, else luo-7.3)
  --scenarios a,b       run only these scenarios of the suite
  --iterations N        live updates per scenario where it repeats (default 1)
  --out DIR             results directory (default: results/<run id>)
  --shard i/n           run shard i of n (a deterministic split of the suite)
  --baseline FILE       gate the run against a baseline (\`luo-harness baseline save\`): at least
                        ${MIN_SAMPLES} live updates per scenario (unless --iterations), exit 1 on a regression
  --threshold PCT       relative regression threshold for --baseline (default 10%)
  --gate METRIC,...     also gate these metrics (names or scenario/metric keys), or all
                        (default: ${GATED_BY_DEFAULT.join(', ')})
  --strict              with --baseline: "not enough evidence" fails the run (exit 1)
  --junit FILE          also write the JUnit XML here
  --json                print results.json on stdout instead of the summary
  --matrix R1,R2        every scenario on each kernel, and upgrade for every ordered pair (A->A, A->B, B->A, B->B)
  --cmdline ARG         a kernel argument for every boot and kexec (repeatable), e.g. luo_agent.restore_delay_ms=500

Exit codes: 0 passed, 1 failed or regressed, 2 bad input, 3 infrastructure error, 4 all skipped/unsupported.`;

export async function runCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    suite: { type: 'string' },
    kernel: { type: 'string' },
    to: { type: 'string' },
    scenarios: { type: 'string' },
    iterations: { type: 'string' },
    out: { type: 'string' },
    shard: { type: 'string' },
    baseline: { type: 'string' },
    threshold: { type: 'string' },
    gate: { type: 'string', multiple: true },
    strict: { type: 'boolean' },
    junit: { type: 'string' },
    json: { type: 'boolean' },
    matrix: { type: 'string' },
    cmdline: { type: 'string', multiple: true },
    help: { type: 'boolean', short: 'h' },
  }, false);
  if (values.help) {
    process.stdout.write(HELP + '\n');
    return EXIT.ok;
  }
  const suite = await loadSuite(values.suite ?? DEFAULT_SUITE);
  const iterations = values.iterations === undefined ? undefined : Number(values.iterations);
  if (iterations !== undefined && (!Number.isInteger(iterations) || iterations < 1)) throw new ConfigError(`--iterations must be a positive integer, got "${values.iterations}"`);
  const threshold = values.threshold === undefined ? undefined : parsePercent(values.threshold, '--threshold');
  const gate = parseGate(values.gate);
  for (const arg of values.cmdline ?? []) if (!/^[^\s]+$/.test(arg)) throw new ConfigError(`--cmdline takes one kernel argument without spaces, got ${JSON.stringify(arg)}`);
  let entries = suite.scenarios;
  if (values.scenarios) {
    const wanted = values.scenarios.split(',').map((s) => s.trim()).filter(Boolean);
    const unknown = wanted.filter((w) => !entries.some((e) => e.name === w));
    if (unknown.length) throw new ConfigError(`--scenarios names ${unknown.join(', ')}, not in suite ${suite.name} (${entries.map((e) => e.name).join(', ')})`);
    entries = entries.filter((e) => wanted.includes(e.name));
  }
  if (values.shard) {
    const names = selectShard(entries.map((e) => e.name), parseShard(values.shard));
    entries = entries.filter((e) => names.includes(e.name));
  }
  const baseline = values.baseline ? await readBaselineFile(values.baseline) : undefined;

  const runId = newRunId();
  const out = resolve(values.out ?? join('results', runId));
  await mkdir(out, { recursive: true });
  await sweepStaleMachines(cacheLayout().runs);
  const say = (m: string) => process.stderr.write(m + '\n');
  say(`luo-harness run: suite ${suite.name}, ${entries.length} scenario(s), results in ${out}`);
  if (baseline) {
    say(`gate: against ${values.baseline}; ${iterations ?? `at least ${MIN_SAMPLES}`} live update(s) per scenario${iterations ? ' (--iterations)' : ' (--iterations overrides)'}; gated: ${gate === 'all' ? 'every metric' : (gate ?? GATED_BY_DEFAULT).join(', ')}`);
    for (const e of entries) if (!SCENARIOS[e.name]!.iterates) say(`gate: ${e.name} makes a fixed number of live updates per run; with fewer than ${MIN_SAMPLES} its verdict is "not enough evidence"`);
  }

  const startedAt = new Date().toISOString();
  const kernels: RunResult['kernels'] = {};
  const results: ScenarioResult[] = [];
  for (const { entry, kernel, to, suffix } of expand(entries, { ...values, ...(suite.kernel ? { suiteKernel: suite.kernel } : {}) })) {
    const progress = createProgress(entry.name + suffix);
    progress.phase(`running on ${kernel}${to ? ` -> ${to}` : ''}`);
    let result = await runScenario(SCENARIOS[entry.name]!, {
      kernel,
      ...(to ? { to } : {}),
      iterations: iterations ?? (baseline && SCENARIOS[entry.name]!.iterates ? Math.max(entry.iterations ?? 1, MIN_SAMPLES) : (entry.iterations ?? 1)),
      ...(entry.params ? { params: entry.params } : {}),
      ...(values.cmdline?.length ? { cmdline: values.cmdline } : {}),
      dir: join(out, (entry.name + suffix).replace(/[^A-Za-z0-9._-]+/g, '_').replace(/_+$/, '')),
      resultsDir: out,
      log: (m) => progress.update(m),
    });
    result = { ...result, name: result.name + suffix };
    for (const recipe of [kernel, to]) if (recipe && !kernels[recipe]) await recordKernel(kernels, recipe);
    if (to && to !== kernel && kernels[kernel] && kernels[to]) {
      result = labelDowngrade(result, String(kernels[kernel]!.release), String(kernels[to]!.release));
    }
    progress.done(`${result.status}${result.reason ? `: ${result.reason}` : ''} (${(result.durationMs / 1000).toFixed(1)} s)`);
    results.push(result);
  }

  const result = await runResult({ runId, startedAt, kernels, scenarios: results });
  if (baseline) {
    const comparison = compareToBaseline(baseline, result, { ...(threshold ? { relative: threshold } : {}), ...(gate ? { gate } : {}) });
    const strict = values.strict ?? false;
    result.gate = { baseline: resolve(values.baseline!), strict, line: gateLine(comparison, strict), comparison };
  }
  const files = await writeReportFiles(out, result, { metricsFile: cacheLayout().metrics });
  if (values.junit) await copyFile(files.junit, values.junit);
  const verdict = overallVerdict(result);

  if (values.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  else {
    process.stdout.write(summaryTable(results) + '\n\n');
    const capabilities = capabilityLines(results);
    if (capabilities) process.stdout.write(capabilities + '\n\n');
    process.stdout.write(blackoutTable(results) + '\n\n');
    if (values.matrix) {
      const upgrades = results.filter((r) => r.name.startsWith('upgrade ['));
      if (upgrades.length) {
        const [header, ...rows] = matrixRows(splitList(values.matrix), upgrades);
        process.stdout.write('upgrade: from (rows) -> to (columns), passed/run\n' + formatTable(header!, rows) + '\n\n');
      }
    }
    if (result.gate) {
      const { comparison, line } = result.gate;
      for (const v of [...comparison.regressions, ...comparison.undecided, ...comparison.verdicts.filter((x) => !x.gated && x.kind === 'regression')]) process.stdout.write(v.sentence + '\n');
      process.stdout.write(line + '\n');
    }
    process.stdout.write(`${verdict.headline}\nresults: ${out}\n`);
  }
  return verdict.exitCode;
}


interface Planned {
  entry: SuiteEntry;
  kernel: string;
  to?: string;
  /** Appended to the result's name when a matrix runs a scenario more than once. */
  suffix: string;
}

/**
 * The runs a suite makes: one per entry, or with --matrix one per kernel
 * (a scenario pinned to a kernel, like the negative control, stays as is)
 * and, for upgrade, one per ordered pair of kernels.
 */
export function expand(entries: readonly SuiteEntry[], flags: { kernel?: string; to?: string; matrix?: string; suiteKernel?: string }): Planned[] {
  const upgradeTo = (e: SuiteEntry) => flags.to ?? e.to ?? 'luo-7.3';
  if (!flags.matrix) {
    return entries.map((entry) => {
      const to = entry.name === 'upgrade' ? upgradeTo(entry) : entry.to;
      return { entry, kernel: entry.kernel ?? flags.kernel ?? flags.suiteKernel ?? DEFAULT_RECIPE, ...(to ? { to } : {}), suffix: '' };
    });
  }
  if (flags.kernel || flags.to) throw new ConfigError('--matrix names the kernels itself; leave out --kernel and --to');
  const kernels = splitList(flags.matrix);
  return entries.flatMap((entry): Planned[] => {
    if (entry.name === 'upgrade') return matrixPairs(kernels).map((p) => ({ entry, kernel: p.from, to: p.to, suffix: pairSuffix(p) }));
    if (entry.kernel) return [{ entry, kernel: entry.kernel, suffix: '' }];
    return kernels.map((kernel) => ({ entry, kernel, suffix: ` [${kernel}]` }));
  });
}

async function recordKernel(kernels: RunResult['kernels'], recipe: string): Promise<void> {
  try {
    kernels[recipe] = kernelRecord(await resolveKernel(recipe));
  } catch {
    // A kernel that failed to build is reported by its scenario.
  }
}

function summaryTable(results: ScenarioResult[]): string {
  return formatTableWithNotes(
    ['scenario', 'status', 'checks', 'time', 'reason'],
    results.map((r) => ({
      label: r.name,
      note: r.reason ?? '',
      cells: [r.name, r.status.toUpperCase(), `${r.checks.filter((c) => c.status === 'pass').length}/${r.checks.length}`, `${(r.durationMs / 1000).toFixed(1)} s`],
    })),
  );
}
