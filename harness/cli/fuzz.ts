// luo-harness fuzz: model-based fuzzing of the LUO uAPI across kexec (or the
// replay of one finding), into the same results directory, reports and exit
// codes as `run`. Parses flags, runs, prints.
import { randomInt } from 'node:crypto';
import { join, relative } from 'node:path';
import { ConfigError } from '../errors.ts';
import { parseDuration, REPORT_OPTIONS } from './args.ts';
import { command } from './command.ts';
import { summaryTable } from './summary.ts';
import { DEFAULT_RECIPE } from '../kernel/recipe.ts';
import { resolveKernelRef } from '../kernel/refs.ts';
import { createProgress } from '../util/progress.ts';
import { finishRunSession, openRunSession } from '../run/session.ts';
import { replay, runCampaign } from '../fuzz/campaign.ts';
import { readFinding, renderFinding, replayProgram } from '../fuzz/finding.ts';
import { campaignResults, replayResults } from '../fuzz/results.ts';
import { renderProgram } from '../fuzz/ops.ts';
import { checkCoverageTools, coverageRef } from '../run/coverage.ts';
import { coverageSummary } from '../report/coverage-text.ts';
import { formatTable } from './table.ts';

const HELP = `usage: luo-harness fuzz [options]
       luo-harness fuzz --replay FINDING.json [--kernel REF]

Generates programs of live-update operations (sessions created, retrieved,
finished and closed; memfds of every size, sealed, hugetlb, preserved twice,
under reused tokens; fds the kernel cannot preserve; names at and past the
limit; many sessions and fds; SIGKILL of the agent; kexecs), runs them on one
reused guest through the in-guest agent and compares every result with a model
of the uAPI. Every divergence, crash or hang is re-run on a fresh machine,
minimized and written as a finding (findings/finding-N.json, console logs).

  --kernel REF          kernel to fuzz: a recipe (name or .json file), a key or an artifact directory
                        (default ${DEFAULT_RECIPE}; with --replay, the finding's own)
  --seed N              the campaign's seed (default: random; printed, and in every finding)
  --budget DURATION     stop starting programs after this long: 90s, 10m, 8h (default 10m)
  --programs N          stop after N programs (with --budget: whichever comes first)
  --max-findings N      stop once N findings are confirmed
  --no-minimize         report findings without minimizing them
  --coverage            fuzz the kernel's coverage twin (gcov on the live-update code): the edges each
                        program takes are counted (both sides of every kexec), a program that takes new
                        ones joins a corpus and every other program carries one of it on; the run's
                        tracefile and HTML report as with \`run --coverage\`
  --unguided            with --coverage: count, but generate every program afresh (to compare)
  --replay FILE         run a finding's (minimized) program again; exit 1 when it still diverges
  --out DIR             results directory (default: results/<run id>)
  --junit FILE          also write the JUnit XML here
  --json                print results.json on stdout instead of the summary

Exit codes: 0 no findings, 1 findings (or the replayed finding reproduced), 2 bad input, 3 infrastructure error.`;

export const fuzzCommand = command({
  help: HELP,
  options: {
    kernel: { type: 'string' },
    seed: { type: 'string' },
    budget: { type: 'string' },
    programs: { type: 'string' },
    'max-findings': { type: 'string' },
    'no-minimize': { type: 'boolean' },
    coverage: { type: 'boolean' },
    unguided: { type: 'boolean' },
    replay: { type: 'string' },
    ...REPORT_OPTIONS,
  },
  run: async ({ values }) => {
    const count = (flag: string, text: string | undefined) => {
      if (text === undefined) return undefined;
      if (!/^\d+$/.test(text) || Number(text) < 1) throw new ConfigError(`--${flag} expects a positive whole number, got ${JSON.stringify(text)}.`);
      return Number(text);
    };
    const programs = count('programs', values.programs);
    const maxFindings = count('max-findings', values['max-findings']);
    const budgetMs = values.budget !== undefined ? parseDuration(values.budget, '--budget') : programs === undefined ? 10 * 60_000 : undefined;
    if (values.seed !== undefined && !/^\d+$/.test(values.seed)) throw new ConfigError(`--seed expects a whole number, got ${JSON.stringify(values.seed)}.`);
    const seed = values.seed !== undefined ? Number(values.seed) : randomInt(1, 2 ** 31);
    if (!Number.isSafeInteger(seed)) throw new ConfigError(`--seed ${values.seed} is too large (at most ${Number.MAX_SAFE_INTEGER}).`);
    if (values.replay !== undefined && (values.seed !== undefined || values.budget !== undefined || programs !== undefined)) {
      throw new ConfigError('--replay runs the finding\'s own program: leave out --seed, --budget and --programs.');
    }

    if (values.coverage && values.replay !== undefined) throw new ConfigError('--coverage goes with a campaign, not with --replay');
    if (values.unguided && !values.coverage) throw new ConfigError('--unguided goes with --coverage (without it nothing guides the fuzzer)');
    if (values.coverage) await checkCoverageTools();
    const finding = values.replay !== undefined ? await readFinding(values.replay) : undefined;
    const session = await openRunSession(values.out);
    const { say, out } = session;
    const ref = values.kernel ?? finding?.kernel.ref ?? DEFAULT_RECIPE;
    const kernel = await resolveKernelRef(values.coverage ? await coverageRef(ref) : ref);
    say(`luo-harness fuzz: ${kernel.manifest.recipe} (${kernel.manifest.release}), ${finding ? `replay of finding ${finding.id} from ${values.replay}` : `seed ${seed}, ${budgetMs !== undefined ? `budget ${Math.round(budgetMs / 1000)} s` : ''}${budgetMs !== undefined && programs !== undefined ? ', ' : ''}${programs !== undefined ? `${programs} programs` : ''}`}, results in ${out}`);

    let results;
    if (finding) {
      const progress = createProgress('fuzz replay');
      progress.phase(`finding ${finding.id}`, `${replayProgram(finding).length} operations`);
      const r = await replay(finding, kernel, join(out, 'replay'), (m) => progress.update(m));
      progress.done(r.reproduced ? 'reproduced' : r.run.divergence ? `diverged differently: ${r.run.divergence.signature}` : 'did not reproduce');
      results = replayResults(r);
    } else {
      const progress = createProgress('fuzz');
      progress.phase(`seed ${seed}`, 'booting');
      const findingsDir = join(out, 'findings');
      const c = await runCampaign({
        kernel,
        kernelRef: ref,
        seed,
        ...(budgetMs !== undefined ? { budgetMs } : {}),
        ...(programs !== undefined ? { programs } : {}),
        ...(maxFindings !== undefined ? { maxFindings } : {}),
        minimize: !values['no-minimize'],
        findingsDir,
        ...(values.coverage ? { coverage: { dir: join(out, 'coverage'), guided: !values.unguided } } : {}),
        progress,
        log: (m) => process.stderr.write(`[fuzz] ${m}\n`),
      });
      const cov = c.stats.coverage;
      progress.done(`${c.stats.programs} programs, ${c.stats.kexecs} kexecs, ${c.findings.length} finding(s), ${c.stats.pairs.length} (operation, outcome) pairs${cov ? `, ${cov.edges} edges${cov.guided ? ` (corpus ${cov.corpus})` : ''}` : ''}`);
      results = campaignResults(c, kernel.manifest.recipe, seed, relative(out, findingsDir));
      if (!values.json) for (const f of c.findings) process.stdout.write(renderFinding(f) + `\n  file: ${join(findingsDir, `finding-${f.id}.json`)}\n\n`);
    }

    const { result, verdict } = await finishRunSession(session, results, [kernel], values.junit ? { junit: values.junit } : {});
    if (values.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    else {
      if (finding) process.stdout.write(`replayed (${replayProgram(finding).length} operations):\n${renderProgram(replayProgram(finding))}\n\n`);
      process.stdout.write(summaryTable(results, 'fuzz') + '\n\n');
      if (result.coverage) process.stdout.write(coverageSummary(result.coverage, formatTable) + '\n\n');
      process.stdout.write(`${verdict.headline}\nresults: ${out}\n`);
    }
    return verdict.exitCode;
  },
});
