// luo-harness kselftest: the kernel's own Live Update selftests, staged around
// kexec in a harness guest, into the same results model as `run` (results.json,
// JUnit, metrics history) with the same exit codes. Parses flags, runs, prints.
import { ConfigError } from '../errors.ts';
import { REPORT_OPTIONS, splitList } from './args.ts';
import { command } from './command.ts';
import { formatTable } from './table.ts';
import { blackoutTable, summaryTable } from './summary.ts';
import { DEFAULT_RECIPE } from '../kernel/recipe.ts';
import type { KernelArtifact } from '../kernel/artifact.ts';
import { matrixPairs, matrixRows, type KernelPair } from '../run/matrix.ts';
import { runKselftestPairs } from '../run/kselftests.ts';
import { resolveKernels } from '../run/plan.ts';
import { finishRunSession, openRunSession } from '../run/session.ts';
import { COVERAGE_HELP, KERNEL_SOURCE_HELP, KERNEL_SOURCE_OPTIONS, kernelFromFlags } from './kernel-flags.ts';
import { checkCoverageTools, coverageRef } from '../run/coverage.ts';
import { COVERAGE_TIMINGS_NOTE, coverageSummary } from '../report/coverage-text.ts';

const HELP = `usage: luo-harness kselftest [options]

Runs the kernel's own tools/testing/selftests/liveupdate programs (built into
every kernel artifact) in a guest: the tests without stages directly, the
staged ones as stage 1, a live update (kexec), stage 2. Staged tests whose
session names do not clash share one kexec; the others follow in later rounds
on the same machine.

  --kernel RECIPE|KEY   kernel to test (default ${DEFAULT_RECIPE})
${KERNEL_SOURCE_HELP}
  --to RECIPE|KEY       run stage 2 on this kernel (kexec into it); default the same
  --tests a,b           only these selftests (default: all)
  --no-batch            give every staged test a kexec of its own
  --strict-config       skip every test when the kernel lacks an option the selftests' config asks for
                        (what vmtest.sh does); by default such a miss is a warning
  --matrix R1,R2,...    every ordered pair of these kernels (R1->R1, R1->R2, R2->R1, ...):
                        stage 1 on the first, stage 2 on the second; not with --kernel/--to
${COVERAGE_HELP}
  --out DIR             results directory (default: results/<run id>)
  --junit FILE          also write the JUnit XML here
  --json                print results.json on stdout instead of the summary

Exit codes: 0 passed, 1 failed, 2 bad input, 3 infrastructure error, 4 all skipped.`;

export const kselftestCommand = command({
  help: HELP,
  options: {
    kernel: { type: 'string' },
    ...KERNEL_SOURCE_OPTIONS,
    to: { type: 'string' },
    tests: { type: 'string' },
    'no-batch': { type: 'boolean' },
    'strict-config': { type: 'boolean' },
    matrix: { type: 'string' },
    coverage: { type: 'boolean' },
    ...REPORT_OPTIONS,
  },
  run: async ({ values }) => {
    if (values.matrix !== undefined && (values.kernel !== undefined || values.to !== undefined || values.tree !== undefined || values.series !== undefined)) {
      throw new ConfigError('--matrix names the kernels itself; leave out --kernel, --tree, --series and --to');
    }
    const kernel = (await kernelFromFlags(values)) ?? values.kernel;
    const tests = values.tests === undefined ? undefined : splitList(values.tests);
    if (tests !== undefined && tests.length === 0) throw new ConfigError('--tests names no selftest');
    const matrix = values.matrix === undefined ? undefined : splitList(values.matrix);
    if (values.coverage) await checkCoverageTools();
    const asked: KernelPair[] = matrix ? matrixPairs(matrix) : [{ from: kernel ?? DEFAULT_RECIPE, to: values.to ?? kernel ?? DEFAULT_RECIPE }];
    const pairs = values.coverage ? await Promise.all(asked.map(async (p) => ({ from: await coverageRef(p.from), to: await coverageRef(p.to) }))) : asked;

    const session = await openRunSession(values.out);
    const { say, out } = session;
    say(`luo-harness kselftest: ${pairs.map((p) => (p.from === p.to ? p.from : `${p.from} -> ${p.to}`)).join(', ')}, results in ${out}`);
    const kernels = await resolveKernels(pairs.flatMap((p) => [p.from, p.to]), say);

    const results = await runKselftestPairs(pairs, kernels, {
      out,
      ...(matrix ? { matrix: true } : {}),
      ...(tests ? { tests } : {}),
      ...(values['no-batch'] ? { batch: false } : {}),
      ...(values['strict-config'] ? { strictConfig: true } : {}),
    });

    const built = [...kernels.values()].filter((k): k is KernelArtifact => !(k instanceof Error));
    const { result, verdict } = await finishRunSession(session, results, built, values.junit ? { junit: values.junit } : {});

    if (values.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    else {
      process.stdout.write(summaryTable(results, 'selftest', { header: 'round', cell: (r) => (typeof r.params?.round === 'number' ? `${r.params.round}/${r.params.rounds}` : '-') }) + '\n\n');
      process.stdout.write(blackoutTable(results, 'selftest', `; every test of a batch shares its kexec; restore ends at agent-ready${result.coverage ? COVERAGE_TIMINGS_NOTE : ''}`) + '\n\n');
      if (matrix) {
        const [header, ...rows] = matrixRows(matrix, results);
        process.stdout.write('stage 1 on (rows) -> stage 2 on (columns): selftests passed/run\n' + formatTable(header!, rows) + '\n\n');
      }
      if (result.coverage) process.stdout.write(coverageSummary(result.coverage, formatTable) + '\n\n');
      process.stdout.write(`${verdict.headline}\nresults: ${out}\n`);
    }
    return verdict.exitCode;
  },
});
