// luo-harness bisect: the first patch of a series after which a scenario
// (or a selftest) stops passing, or with --each the verdict of every prefix.
import { checkCoverageTools } from '../run/coverage.ts';
import { coverageSummary } from '../report/coverage-text.ts';
import { ConfigError, EXIT } from '../errors.ts';
import { cacheRoot } from '../paths.ts';
import { DEFAULT_RECIPE } from '../kernel/recipe.ts';
import { bisectSeries, type BisectJudge, type BisectOutcome } from '../run/bisect.ts';
import { finishRunSession, openRunSession } from '../run/session.ts';
import { SCENARIOS } from '../scenario/scenarios/index.ts';
import { REPORT_OPTIONS } from './args.ts';
import { command } from './command.ts';
import { checkPatchable, KERNEL_SOURCE_OPTIONS, parsePatchFuzz, treeFromFlags } from './kernel-flags.ts';
import { formatTable } from './table.ts';

const HELP = `usage: luo-harness bisect (--series ID|URL|MBOX | --patches DIR) (--scenario NAME | --kselftest NAME) [options]

Finds the first patch of a series after which the scenario (or the selftest)
stops passing: a binary search over the series' prefixes (the base kernel
plus its first k patches), each an incremental build in one shared build
directory. At most ceil(log2(N+1)) builds for N patches.

  --series ID|URL|MBOX  the series: a Message-ID fetched from the archive, a URL, or an mbox thread;
                        repeat it to stack series in order: prefix k is the first k patches of them all
  --patches DIR         or a directory of patch files (0001-*.patch, ...), applied in name order
  --scenario NAME       judge each prefix by this scenario (${Object.keys(SCENARIOS).join(', ')})
  --capability NAME     with --scenario: judge by this capability's verdict in it (memfd, vfio-device, ...)
                        and find the patch from which the whole stack's verdict holds, when it differs
                        from the base's, either way (e.g. the patch that makes vfio-device pass); the base
                        and the whole stack are run first
  --kselftest NAME      or by this kernel selftest (e.g. luo_kexec_simple)
  --kernel RECIPE       the recipe the series goes on (default ${DEFAULT_RECIPE})
  --tree PATH           or your kernel tree (built out of tree), with --config MODE as for run
  --each                run every prefix instead: the verdict of each patch (a table for CI)
  --coverage            judge each prefix's coverage twin (gcov on the live-update code and the patched
                        files): per prefix, the lines its patches added that ran and did not
  --patch-fuzz N        let hunks apply with up to N lines of fuzz (recorded per patch)
  --archive URL         lore-compatible archive for --series (default $LUO_HARNESS_ARCHIVE, else public lore)
  --out DIR             results directory (default: results/<run id>); prefix k's results in prefix-k/
  --junit FILE          also write the JUnit XML here
  --json                print the outcome as JSON on stdout

Exit codes: 0 the whole series passes (with --capability: the patch where the verdict changes
was found, or it never changes), 1 a culprit was found (or a prefix failed, with --each; or the
base kernel fails already), 2 bad input, 3 infrastructure error.`;

export const bisectCommand = command({
  help: HELP,
  options: {
    patches: { type: 'string' },
    scenario: { type: 'string' },
    kselftest: { type: 'string' },
    capability: { type: 'string' },
    kernel: { type: 'string' },
    each: { type: 'boolean' },
    coverage: { type: 'boolean' },
    ...KERNEL_SOURCE_OPTIONS,
    ...REPORT_OPTIONS,
  },
  run: async ({ values }) => {
    if ((values.series === undefined) === (values.patches === undefined)) throw new ConfigError('bisect needs exactly one of --series and --patches');
    if ((values.scenario === undefined) === (values.kselftest === undefined)) throw new ConfigError('bisect needs exactly one of --scenario and --kselftest: what decides whether a prefix passes');
    if (values.scenario !== undefined && !SCENARIOS[values.scenario]) throw new ConfigError(`--scenario ${values.scenario} is not a scenario (${Object.keys(SCENARIOS).join(', ')})`);
    if (values.scenario !== undefined && SCENARIOS[values.scenario]!.needsTarget) throw new ConfigError(`--scenario ${values.scenario} live-updates into a second kernel; bisect judges one kernel at a time: pick a same-kernel scenario`);
    const patchFuzz = parsePatchFuzz(values['patch-fuzz']);
    if (values.coverage) await checkCoverageTools();
    const cache = cacheRoot();
    const base = checkPatchable((await treeFromFlags(values)) ?? values.kernel ?? DEFAULT_RECIPE, 'bisect patches a recipe');
    if (values.capability !== undefined && values.scenario === undefined) throw new ConfigError('--capability names a capability of the --scenario judge; give --scenario too');
    if (values.capability !== undefined && !/^[a-z][a-z0-9-]*$/.test(values.capability)) throw new ConfigError(`--capability ${values.capability} is not a capability name (memfd, vfio-device, iommufd, ...)`);
    const judge: BisectJudge = values.scenario !== undefined ? { scenario: values.scenario, ...(values.capability ? { capability: values.capability } : {}) } : { kselftest: values.kselftest! };

    const session = await openRunSession(values.out);
    const { say, out } = session;
    say(`luo-harness bisect: ${values.series !== undefined ? `series ${values.series.join(' + ')}` : `patches in ${values.patches}`} on ${base}, judged by ${'scenario' in judge ? `${judge.scenario}${judge.capability ? ` (${judge.capability})` : ''}` : `kselftest ${judge.kselftest}`}, results in ${out}`);
    const started = performance.now();
    const outcome = await bisectSeries({
      base,
      ...(values.series !== undefined ? { series: values.series } : {}),
      ...(values.patches !== undefined ? { patchesDir: values.patches } : {}),
      judge,
      each: values.each ?? false,
      ...(patchFuzz ? { patchFuzz } : {}),
      ...(values.coverage ? { coverage: true } : {}),
      out,
      cache,
      say,
    });
    const kernels = outcome.tried.flatMap((t) => (t.kernel ? [t.kernel] : []));
    const { result } = await finishRunSession(session, outcome.tried.flatMap((t) => t.results), kernels, values.junit ? { junit: values.junit } : {});
    const seconds = (performance.now() - started) / 1000;

    if (values.json) process.stdout.write(JSON.stringify(jsonOf(outcome, seconds, out), null, 2) + '\n');
    else {
      process.stdout.write(render(outcome, seconds, out, values.each ?? false) + '\n');
      if (result.coverage) process.stdout.write('\n' + coverageSummary(result.coverage, formatTable) + '\n');
    }
    if (outcome.change) return outcome.change.to === 'fail' || outcome.change.to === 'error' ? EXIT.failed : EXIT.ok;
    if (outcome.baseFails || outcome.culprit) return EXIT.failed;
    return outcome.tried.some((t) => t.status !== 'pass') ? EXIT.failed : EXIT.ok;
  },
});

const short = (sha: string) => sha.slice(0, 12);

function render(o: BisectOutcome, seconds: number, out: string, each: boolean): string {
  const total = o.patches.length;
  const rows = [...o.tried]
    .sort((a, b) => a.count - b.count)
    .map((t) => {
      const p = t.count === 0 ? undefined : o.patches[t.count - 1]!;
      return [t.count === 0 ? 'base' : `${t.count}/${total}`, p ? short(p.sha256) : '-', p ? `${p.from ? `${p.from} ` : ''}${p.subject}` : '(no patch)', t.status.toUpperCase(), t.dir, (t.reason ?? '').split('\n')[0]!.slice(0, 80)];
    });
  const table = formatTable(['prefix', 'patch', 'subject', 'verdict', 'results', 'reason'], rows);
  const lines = [`${each ? 'every prefix' : 'prefixes tried'} (${o.builds} build(s) of the series, ${seconds.toFixed(0)} s):`, table, ''];
  const c = o.change;
  if (c && c.patch) lines.push(`change: ${c.from} on the base, ${c.to} from patch ${c.patch.index}/${total} ${short(c.patch.sha256)} ${c.patch.from ? `(${c.patch.from}) ` : ''}"${c.patch.subject}" on (the first prefix with the whole stack's verdict)`);
  else if (c) lines.push(`no change: ${c.from} on the base and with all ${total} patch(es)`);
  else if (o.baseFails) lines.push('the base kernel fails already, without any patch of the series: no patch is to blame');
  else if (o.culprit) lines.push(`culprit: patch ${o.culprit.index}/${total} ${short(o.culprit.sha256)} "${o.culprit.subject}" (the first prefix that does not pass)`);
  else lines.push(`the whole series (${total} patch(es)) passes`);
  lines.push(`results: ${out}`);
  return lines.join('\n');
}

function jsonOf(o: BisectOutcome, seconds: number, out: string) {
  return {
    patches: o.patches,
    tried: o.tried.map(({ results: _r, kernel: _k, ...t }) => t),
    ...(o.culprit ? { culprit: o.culprit } : {}),
    ...(o.baseFails ? { baseFails: true } : {}),
    ...(o.change ? { change: o.change } : {}),
    builds: o.builds,
    seconds: Math.round(seconds),
    results: out,
  };
}
