// luo-harness kselftest: the kernel's own Live Update selftests, staged around
// kexec in a harness guest, into the same results model as `run` (results.json,
// JUnit, metrics history) with the same exit codes.
import { copyFile, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ConfigError, EXIT } from '../errors.ts';
import { cacheLayout } from '../paths.ts';
import { parse } from './args.ts';
import { formatTable, formatTableWithNotes } from './table.ts';
import { blackoutTable, kernelRecord, newRunId, runResult } from './run-output.ts';
import { DEFAULT_RECIPE } from '../kernel/recipe.ts';
import { resolveKernel } from '../liveupdate/live-vm.ts';
import { classify } from '../scenario/scenario.ts';
import { runKselftests } from '../kselftest/run.ts';
import { labelDowngrade, matrixPairs, matrixRows, pairSuffix, type KernelPair } from '../run/matrix.ts';
import { overallVerdict, type RunResult, type ScenarioResult } from '../report/result.ts';
import { writeReportFiles } from '../report/output.ts';
import { sweepStaleMachines } from '../vm/sweep.ts';
import { createProgress } from '../util/progress.ts';

const HELP = `usage: luo-harness kselftest [options]

Runs the kernel's own tools/testing/selftests/liveupdate programs (built into
every kernel artifact) in a guest: the tests without stages directly, the
staged ones as stage 1, a live update (kexec), stage 2. Staged tests whose
session names do not clash share one kexec; the others follow in later rounds
on the same machine.

  --kernel RECIPE|KEY   kernel to test (default ${DEFAULT_RECIPE})
  --to RECIPE|KEY       run stage 2 on this kernel (kexec into it); default the same
  --tests a,b           only these selftests (default: all)
  --no-batch            give every staged test a kexec of its own
  --matrix R1,R2,...    every ordered pair of these kernels (R1->R1, R1->R2, R2->R1, ...):
                        stage 1 on the first, stage 2 on the second; not with --kernel/--to
  --out DIR             results directory (default: results/<run id>)
  --junit FILE          also write the JUnit XML here
  --json                print results.json on stdout instead of the summary

Exit codes: 0 passed, 1 failed, 2 bad input, 3 infrastructure error, 4 all skipped.`;

export async function kselftestCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    kernel: { type: 'string' },
    to: { type: 'string' },
    tests: { type: 'string' },
    'no-batch': { type: 'boolean' },
    matrix: { type: 'string' },
    out: { type: 'string' },
    junit: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  }, false);
  if (values.help) {
    process.stdout.write(HELP + '\n');
    return EXIT.ok;
  }
  if (values.matrix !== undefined && (values.kernel !== undefined || values.to !== undefined)) {
    throw new ConfigError('--matrix names the kernels itself; leave out --kernel and --to');
  }
  const tests = values.tests === undefined ? undefined : values.tests.split(',').map((t) => t.trim()).filter(Boolean);
  if (tests !== undefined && tests.length === 0) throw new ConfigError('--tests names no selftest');
  const matrix = values.matrix === undefined ? undefined : values.matrix.split(',').map((r) => r.trim()).filter(Boolean);
  const pairs: KernelPair[] = matrix ? matrixPairs(matrix) : [{ from: values.kernel ?? DEFAULT_RECIPE, to: values.to ?? values.kernel ?? DEFAULT_RECIPE }];

  const runId = newRunId();
  const out = resolve(values.out ?? join('results', runId));
  await mkdir(out, { recursive: true });
  await sweepStaleMachines(cacheLayout().runs);
  const say = (m: string) => process.stderr.write(m + '\n');
  say(`luo-harness kselftest: ${pairs.map((p) => (p.from === p.to ? p.from : `${p.from} -> ${p.to}`)).join(', ')}, results in ${out}`);

  const startedAt = new Date().toISOString();
  const kernels: RunResult['kernels'] = {};
  const results: ScenarioResult[] = [];
  for (const pair of pairs) {
    const suffix = matrix ? pairSuffix(pair) : '';
    const progress = createProgress(`kselftest${suffix}`);
    progress.phase(pair.from === pair.to ? `on ${pair.from}` : `stage 1 on ${pair.from}, stage 2 on ${pair.to}`);
    const started = performance.now();
    let pairResults: ScenarioResult[];
    try {
      const [from, to] = [await resolveKernel(pair.from), await resolveKernel(pair.to)];
      for (const [name, a] of [[pair.from, from], [pair.to, to]] as const) {
        kernels[name] ??= kernelRecord(a);
      }
      pairResults = await runKselftests({
        kernel: from,
        ...(pair.to !== pair.from ? { to } : {}),
        ...(tests ? { tests } : {}),
        ...(values['no-batch'] ? { batch: false } : {}),
        // In a matrix the tests without stages run once per kernel, in its own pair.
        direct: pair.from === pair.to,
        resultsDir: out,
        nameSuffix: suffix,
        log: (m) => progress.update(m),
      });
      pairResults = pairResults.map((r) => labelDowngrade(r, from.manifest.release, to.manifest.release));
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      // A pair that could not run at all (its kernel did not build, the host failed) still gets a result.
      const { status, reason } = classify(error);
      pairResults = [{ name: `kselftest${suffix}`, status, reason, durationMs: Math.round(performance.now() - started), checks: [], iterations: [], artifacts: [], kernel: pair.from, ...(pair.to !== pair.from ? { to: pair.to } : {}) }];
    }
    const passed = pairResults.filter((r) => r.status === 'pass').length;
    progress.done(`${passed}/${pairResults.length} passed (${((performance.now() - started) / 1000).toFixed(1)} s)`);
    results.push(...pairResults);
  }

  const result = await runResult({ runId, startedAt, kernels, scenarios: results });
  const files = await writeReportFiles(out, result, { metricsFile: cacheLayout().metrics });
  if (values.junit) await copyFile(files.junit, values.junit);
  const verdict = overallVerdict(result);

  if (values.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  else {
    process.stdout.write(summaryTable(results) + '\n\n');
    process.stdout.write(blackoutTable(results, 'selftest', '; every test of a batch shares its kexec; restore ends at agent-ready') + '\n\n');
    if (matrix) {
      const [header, ...rows] = matrixRows([...new Set(matrix)], results);
      process.stdout.write('stage 1 on (rows) -> stage 2 on (columns): selftests passed/run\n' + formatTable(header!, rows) + '\n\n');
    }
    process.stdout.write(`${verdict.headline}\nresults: ${out}\n`);
  }
  return verdict.exitCode;
}

function summaryTable(results: ScenarioResult[]): string {
  return formatTableWithNotes(
    ['selftest', 'status', 'checks', 'round', 'time', 'reason'],
    results.map((r) => ({
      label: r.name,
      note: r.reason ?? '',
      cells: [
        r.name,
        r.status.toUpperCase(),
        `${r.checks.filter((c) => c.status === 'pass').length}/${r.checks.length}`,
        typeof r.params?.round === 'number' ? `${r.params.round}/${r.params.rounds}` : '-',
        `${(r.durationMs / 1000).toFixed(1)} s`,
      ],
    })),
  );
}
