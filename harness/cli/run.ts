// luo-harness run: a suite of live-update scenarios into a results directory,
// with a verdict fit for CI (exit code, JUnit, baseline gate). Parses flags,
// plans, runs each planned scenario, prints.
import { resolve } from 'node:path';
import { ConfigError, EXIT, describeError } from '../errors.ts';
import { parseGate, parsePercent, REPORT_OPTIONS, splitList } from './args.ts';
import { command } from './command.ts';
import { formatTable } from './table.ts';
import { matrixRows } from '../run/matrix.ts';
import { blackoutTable, capabilityLines, gateLines, summaryTable } from './summary.ts';
import { DEFAULT_SUITE, loadSuite } from '../scenario/suite.ts';
import { SCENARIOS } from '../scenario/scenarios/index.ts';
import { DEFAULT_RECIPE } from '../kernel/recipe.ts';
import type { KernelArtifact } from '../kernel/artifact.ts';
import { compareToBaseline, gateLine, GATED_BY_DEFAULT, MIN_SAMPLES, readBaselineFile } from '../report/baseline.ts';
import { parseShard, selectShard } from '../report/shard.ts';
import { plannedKernels, planScenarios, resolveKernels } from '../run/plan.ts';
import { runPlanned } from '../run/scenarios.ts';
import { finishRunSession, openRunSession } from '../run/session.ts';
import { COVERAGE_HELP, KERNEL_SOURCE_HELP, KERNEL_SOURCE_OPTIONS, kernelFromFlags } from './kernel-flags.ts';
import { checkCoverageTools, coveragePlan } from '../run/coverage.ts';
import { COVERAGE_TIMINGS_NOTE, coverageSummary } from '../report/coverage-text.ts';
import { REMOTE_HELP, REMOTE_OPTIONS, openRemote, remoteOptions } from './remote-flags.ts';

const HELP = `usage: luo-harness run [options]

  --suite NAME|FILE     suites/NAME.json or a suite file (default: ${DEFAULT_SUITE})
  --kernel REF          kernel for scenarios that do not pin one: a recipe (name or .json file), a key or an
                        artifact directory (default: the suite's, else ${DEFAULT_RECIPE})
${KERNEL_SOURCE_HELP}
  --to REF              target kernel of scenarios that live-update into a second one (upgrade);
                        default: the suite entry's "to", else the recipe's "upgradeTo"
  --scenarios a,b       run only these scenarios of the suite
  --iterations N        live updates per scenario where it repeats (default 1)
  --cmdline ARG         a kernel argument for every boot and kexec (repeatable), e.g. luo_agent.restore_delay_ms=500
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
${COVERAGE_HELP}
${REMOTE_HELP}

Exit codes: 0 passed, 1 failed or regressed, 2 bad input, 3 infrastructure error, 4 all skipped/unsupported.`;

export const runCommand = command({
  help: HELP,
  options: {
    suite: { type: 'string' },
    kernel: { type: 'string' },
    ...KERNEL_SOURCE_OPTIONS,
    to: { type: 'string' },
    scenarios: { type: 'string' },
    iterations: { type: 'string' },
    shard: { type: 'string' },
    baseline: { type: 'string' },
    threshold: { type: 'string' },
    gate: { type: 'string', multiple: true },
    strict: { type: 'boolean' },
    matrix: { type: 'string' },
    cmdline: { type: 'string', multiple: true },
    coverage: { type: 'boolean' },
    ...REMOTE_OPTIONS,
    ...REPORT_OPTIONS,
  },
  run: async ({ values }) => {
    const suite = await loadSuite(values.suite ?? DEFAULT_SUITE);
    const iterations = values.iterations === undefined ? undefined : Number(values.iterations);
    if (iterations !== undefined && (!Number.isInteger(iterations) || iterations < 1)) throw new ConfigError(`--iterations must be a positive integer, got "${values.iterations}"`);
    const threshold = values.threshold === undefined ? undefined : parsePercent(values.threshold, '--threshold');
    const gate = parseGate(values.gate);
    for (const arg of values.cmdline ?? []) if (!/^[^\s]+$/.test(arg)) throw new ConfigError(`--cmdline takes one kernel argument without spaces, got ${JSON.stringify(arg)}`);
    let entries = suite.scenarios;
    if (values.scenarios) {
      const wanted = splitList(values.scenarios);
      const unknown = wanted.filter((w) => !entries.some((e) => e.name === w));
      if (unknown.length) throw new ConfigError(`--scenarios names ${unknown.join(', ')}, not in suite ${suite.name} (${entries.map((e) => e.name).join(', ')})`);
      entries = entries.filter((e) => wanted.includes(e.name));
    }
    if (values.shard) {
      const names = selectShard(entries.map((e) => e.name), parseShard(values.shard));
      entries = entries.filter((e) => names.includes(e.name));
    }
    const remoteWanted = remoteOptions(values); // checked now, before any kernel is built
    if (values.coverage && values.baseline) throw new ConfigError('--coverage runs instrumented kernels, whose timings are not blackout figures: leave out --baseline');
    if (values.coverage) await checkCoverageTools();
    const baseline = values.baseline ? await readBaselineFile(values.baseline) : undefined;
    if (values.matrix !== undefined && (values.tree !== undefined || values.series !== undefined)) throw new ConfigError('--matrix names the kernels itself; leave out --tree and --series');
    const kernel = (await kernelFromFlags(values)) ?? values.kernel;
    const plan = await planScenarios(entries, SCENARIOS, {
      ...(kernel ? { kernel } : {}),
      ...(values.to ? { to: values.to } : {}),
      ...(values.matrix !== undefined ? { matrix: splitList(values.matrix) } : {}),
      ...(suite.kernel ? { suiteKernel: suite.kernel } : {}),
    });
    const planned = values.coverage ? await coveragePlan(plan) : plan;

    const session = await openRunSession(values.out);
    const { say, out } = session;
    say(`luo-harness run: suite ${suite.name}, ${planned.length} scenario(s), results in ${out}`);
    if (baseline) {
      say(`gate: against ${values.baseline}; ${iterations ?? `at least ${MIN_SAMPLES}`} live update(s) per scenario${iterations ? ' (--iterations)' : ' (--iterations overrides)'}; gated: ${gate === 'all' ? 'every metric' : (gate ?? GATED_BY_DEFAULT).join(', ')}`);
      for (const e of entries) if (!SCENARIOS[e.name]!.iterates) say(`gate: ${e.name} makes a fixed number of live updates per run; with fewer than ${MIN_SAMPLES} its verdict is "not enough evidence"`);
    }
    const kernels = await resolveKernels(plannedKernels(planned), say);

    const remote = remoteWanted ? await openRemote(remoteWanted, say, values.cmdline ?? []) : undefined;
    let results;
    try {
      results = await runPlanned(planned, kernels, {
        out,
        ...(iterations ? { iterations } : {}),
        ...(baseline ? { minIterations: MIN_SAMPLES } : {}),
        ...(values.cmdline?.length ? { cmdline: values.cmdline } : {}),
        ...(remote ? { target: remote } : {}),
      });
    } finally {
      // The host back on its own kernel whatever happened; a failure to get it there is loud, and exit 3 below.
      await remote?.release().catch((e: unknown) => say(`[remote] ${describeError(e)}`));
    }

    const built = [...kernels.values()].filter((k): k is KernelArtifact => !(k instanceof Error));
    const { result, verdict } = await finishRunSession(session, results, built, {
      ...(values.junit ? { junit: values.junit } : {}),
      ...(remote ? { target: remote.record() } : {}),
      ...(baseline
        ? {
            gate: (r) => {
              const comparison = compareToBaseline(baseline, r, { ...(threshold ? { relative: threshold } : {}), ...(gate ? { gate } : {}) });
              const strict = values.strict ?? false;
              return { baseline: resolve(values.baseline!), strict, line: gateLine(comparison, strict), comparison };
            },
          }
        : {}),
    });

    if (values.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    else {
      const print = (text: string) => text && process.stdout.write(text + '\n\n');
      print(summaryTable(results));
      print(capabilityLines(results));
      print(blackoutTable(results, 'scenario', result.coverage ? COVERAGE_TIMINGS_NOTE : ''));
      if (values.matrix) {
        const pairs = results.filter((r) => r.to !== undefined && planned.find((p) => p.entry.name + p.suffix === r.name)?.definition.needsTarget);
        if (pairs.length) {
          const [header, ...rows] = matrixRows(splitList(values.matrix), pairs);
          print('upgrade: from (rows) -> to (columns), passed/run\n' + formatTable(header!, rows));
        }
      }
      if (result.coverage) print(coverageSummary(result.coverage, formatTable));
      if (result.gate) process.stdout.write(gateLines(result) + '\n');
      process.stdout.write(`${verdict.headline}\nresults: ${out}\n`);
    }
    const stranded = remote && !['kexec', 'power-cycle', 'back on its own system'].includes(remote.record().after ?? '');
    return stranded && verdict.exitCode === EXIT.ok ? EXIT.infra : verdict.exitCode;
  },
});
