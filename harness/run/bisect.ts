// Which patch of a series broke live update: a binary search over the
// series' prefixes (the base recipe plus its first k patches), each prefix
// built incrementally in one shared build directory, each judged by one
// scenario or one selftest. `each` tries every prefix instead (a per-patch
// table for CI). Prefix 0 is the base recipe; a series whose every patch
// passes has no culprit. Several series stack in the order given (the VFIO
// series on the PCI one): prefix k is the first k patches of them all.
// Judged by one capability of a scenario (vfio-device of iommufd-vfio), the
// search looks for where that verdict turns from the base's into the whole
// stack's, whichever way: the patch that makes a device preservable is found
// as surely as the one that breaks it.
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ConfigError, InfraError } from '../errors.ts';
import type { KernelArtifact } from '../kernel/artifact.ts';
import { coverageRecipe, patchDirRecipe, patchFilesOf, seriesRecipe } from '../kernel/derived-recipes.ts';
import { seriesOf } from '../kernel/patches.ts';
import { resolveSeriesRef } from '../kernel/series-fetch.ts';
import { sha256 } from '../util/hash.ts';
import type { ScenarioResult, Status } from '../report/result.ts';
import { SCENARIOS } from '../scenario/scenarios/index.ts';
import { planScenarios, resolveKernels } from './plan.ts';
import { runPlanned } from './scenarios.ts';
import { runKselftestPairs } from './kselftests.ts';

export interface BisectPatch {
  /** 1-based position in the stack of series. */
  index: number;
  subject: string;
  /** Where it comes from, when several series are stacked: `pci-liveupdate-v7.mbox [3/12]`. */
  from?: string;
  /** Which of the stacked series (0-based) it belongs to; absent for a patch directory. */
  series?: number;
  /** sha256 of the patch text (the manifest's `series[].patches[].sha256`). */
  sha256: string;
}

/** What decides a prefix's verdict: a scenario's status (or one capability's verdict in it), or a selftest's. */
export type BisectJudge = { scenario: string; capability?: string } | { kselftest: string };

export interface BisectOptions {
  /** The recipe the series goes on (a name or a file). */
  base: string;
  /** One series, or several applied in this order. */
  series?: readonly string[];
  patchesDir?: string;
  judge: BisectJudge;
  each?: boolean;
  patchFuzz?: number;
  /** Judge each prefix's coverage twin: the report shows, per prefix, the lines its patches added that ran. */
  coverage?: boolean;
  out: string;
  cache: string;
  say: (m: string) => void;
}

export interface PrefixOutcome {
  /** Patches applied: 0 is the base recipe. */
  count: number;
  status: Status;
  reason?: string;
  /** Where this prefix's results are, relative to the bisect's results directory. */
  dir: string;
  kernelKey?: string;
  /** The judging results, named for the prefix. */
  results: ScenarioResult[];
  kernel?: KernelArtifact;
}

export interface BisectOutcome {
  patches: BisectPatch[];
  /** Every prefix tried, in the order tried. */
  tried: PrefixOutcome[];
  /** The first patch after which the judge stops passing. */
  culprit?: BisectPatch;
  /** The base recipe fails already: no patch of the series is to blame. */
  baseFails?: boolean;
  /** With a capability judge: its verdict on the base, the whole stack's, and the patch from which the stack's holds (none: the stack keeps the base's). */
  change?: { from: Status; to?: Status; patch?: BisectPatch };
  builds: number;
}

/** The patches of the series (or directory), in the order they apply; stacked series one after the other. */
export async function seriesPatches(options: Pick<BisectOptions, 'series' | 'patchesDir' | 'cache' | 'say'>): Promise<BisectPatch[]> {
  if (options.series !== undefined) {
    const out: BisectPatch[] = [];
    for (const [which, ref] of options.series.entries()) {
      const fetched = await resolveSeriesRef(ref, { cache: options.cache, say: options.say });
      const text = await readFile(fetched.file, 'utf8');
      const patches = seriesOf(text)?.patches ?? [{ subject: basename(fetched.file), text }];
      patches.forEach((p, i) => out.push({
        index: out.length + 1,
        subject: p.subject,
        sha256: sha256(p.text),
        series: which,
        ...(options.series!.length > 1 ? { from: `${basename(fetched.file)} [${i + 1}/${patches.length}]` } : {}),
      }));
    }
    return out;
  }
  if (options.patchesDir === undefined) throw new ConfigError('bisect needs --series or --patches');
  const files = await patchFilesOf(options.patchesDir);
  return Promise.all(
    files.map(async (f, i) => {
      const text = await readFile(f, 'utf8');
      const subject = /^Subject: (?:\[[^\]]*\] )?(.+)$/m.exec(text)?.[1]?.trim() ?? basename(f);
      return { index: i + 1, subject, sha256: sha256(text) };
    }),
  );
}

/** How many patches of each stacked series the first `count` of the stack take (undefined: all of that series). */
export function stackFirsts(sizes: readonly number[], count: number): (number | undefined)[] {
  let left = count;
  return sizes.map((n) => {
    const take = Math.min(left, n);
    left -= take;
    return take === n ? undefined : take;
  });
}

/** The recipe of prefix `count` (0: the base itself). */
async function prefixRecipe(options: BisectOptions, patches: BisectPatch[], count: number): Promise<string> {
  if (count === 0) return options.base;
  const fuzz = options.patchFuzz ? { patchFuzz: options.patchFuzz } : {};
  if (options.series === undefined) {
    return patchDirRecipe(options.base, options.patchesDir!, { cache: options.cache, ...(count === patches.length ? {} : { first: count }), ...fuzz });
  }
  const sizes = options.series.map((_, i) => patches.filter((p) => p.series === i).length);
  const firsts = count === patches.length ? undefined : stackFirsts(sizes, count);
  return seriesRecipe(options.base, options.series, { cache: options.cache, ...(firsts ? { firsts } : {}), ...fuzz });
}

const judgeName = (j: BisectJudge) => ('scenario' in j ? `${j.scenario}${j.capability ? ` (${j.capability})` : ''}` : `kselftest/${j.kselftest}`);

/** A prefix's verdict: the judge's capability where it has one (else the scenario's status, which then says why), or the worst result. */
function verdictOf(judge: BisectJudge, results: ScenarioResult[]): { status: Status; reason?: string } {
  if ('scenario' in judge && judge.capability) {
    const r = results[0];
    const cap = r?.capabilities?.find((c) => c.name === judge.capability);
    if (cap) return { status: cap.status, ...(cap.reason ? { reason: cap.reason } : {}) };
    // No verdict of that capability: the scenario stopped before it; its status says why.
    return { status: r?.status === 'pass' ? 'error' : (r?.status ?? 'error'), reason: `${judge.scenario} gave no ${judge.capability} verdict${r?.reason ? `: ${r.reason}` : ''}` };
  }
  const bad = results.find((r) => r.status !== 'pass');
  return bad ? { status: bad.status, ...(bad.reason ? { reason: bad.reason } : {}) } : { status: 'pass' };
}

/** Builds prefix `count`, runs the judge on it, and says whether it passed. */
async function tryPrefix(options: BisectOptions, patches: BisectPatch[], count: number): Promise<PrefixOutcome> {
  const label = count === 0 ? 'the base (no patch)' : `${count}/${patches.length} ${patches[count - 1]!.subject}`;
  options.say(`bisect: prefix ${label}: building and running ${judgeName(options.judge)}`);
  const plain = await prefixRecipe(options, patches, count);
  const ref = options.coverage ? await coverageRecipe(plain, { cache: options.cache }) : plain;
  const dir = `prefix-${count}`;
  const out = join(options.out, dir);
  const kernels = await resolveKernels([ref], (m) => options.say(`bisect: ${m}`));
  const k = kernels.get(ref)!;
  if (k instanceof InfraError) throw new InfraError(`bisect stopped: prefix ${label} could not be built for a reason of the host (${k.message})`, { cause: k });
  let results: ScenarioResult[];
  if ('scenario' in options.judge) {
    const planned = await planScenarios([{ name: options.judge.scenario }], SCENARIOS, { kernel: ref });
    results = await runPlanned(planned, kernels, { out });
  } else {
    const test = options.judge.kselftest;
    results = await runKselftestPairs([{ from: ref, to: ref }], kernels, { out, tests: [test] });
    const own = results.filter((r) => r.name === `kselftest/${test}` || r.name === 'kselftest');
    if (own.length === 0) throw new ConfigError(`the kernel of prefix ${count} has no selftest ${test}`);
    results = own;
  }
  // Result names carry their prefix, so one results.json holds every prefix.
  results = results.map((r) => ({ ...r, name: `${r.name} @ ${count === 0 ? 'base' : `${count}/${patches.length}`}`, artifacts: r.artifacts.map((a) => ({ ...a, path: join(dir, a.path) })) }));
  const { status, reason } = verdictOf(options.judge, results);
  if (status === 'error' && !(k instanceof Error)) {
    // The host or QEMU failed, not the kernel: no patch can be blamed on that.
    throw new InfraError(`bisect stopped: prefix ${label} could not be judged (${reason?.split('\n')[0] ?? 'an infrastructure error'}); its results are in ${out}`);
  }
  options.say(`bisect: prefix ${label}: ${status}${reason ? ` (${reason.split('\n')[0]})` : ''}`);
  return {
    count,
    status,
    ...(reason ? { reason } : {}),
    dir,
    ...(k instanceof Error ? {} : { kernelKey: k.manifest.key, kernel: k }),
    results,
  };
}

/** The first failing prefix, by binary search (or every prefix with `each`). */
export async function bisectSeries(options: BisectOptions): Promise<BisectOutcome> {
  const patches = await seriesPatches(options);
  const n = patches.length;
  const tried: PrefixOutcome[] = [];
  // One run per prefix, whichever search asks: its verdict is remembered.
  const verdicts = new Map<number, Status>();
  const verdictAt = async (count: number) => {
    if (!verdicts.has(count)) {
      const o = await tryPrefix(options, patches, count);
      tried.push(o);
      verdicts.set(count, o.status);
    }
    return verdicts.get(count)!;
  };
  const passes = async (count: number) => (await verdictAt(count)) === 'pass';
  const builds = () => tried.filter((t) => t.count > 0).length;

  const judge = options.judge;
  if ('scenario' in judge && judge.capability && !options.each) {
    // Where the capability's verdict changes: base and whole stack first, then a binary search between.
    const change = await findFirstChange(n, verdictAt);
    return { patches, tried, change: { from: change.from, ...(change.at ? { to: change.to!, patch: patches[change.at - 1]! } : {}) }, builds: builds() };
  }
  if (options.each) {
    for (let k = 1; k <= n; k++) await passes(k);
    const first = [...verdicts.entries()].filter(([, v]) => v !== 'pass').map(([k]) => k).sort((a, b) => a - b)[0];
    if (first === 1 && !(await passes(0))) return { patches, tried, baseFails: true, builds: builds() };
    return { patches, tried, ...(first !== undefined ? { culprit: patches[first - 1]! } : {}), builds: builds() };
  }
  const found = await findFirstFailing(n, passes);
  if (found === undefined) return { patches, tried, builds: builds() };
  if (found === 0) return { patches, tried, baseFails: true, builds: builds() };
  return { patches, tried, culprit: patches[found - 1]!, builds: builds() };
}

/**
 * The smallest k in 1..n whose prefix fails (prefix 0, the base, is taken to
 * pass and tried only to confirm a culprit of 1): a binary search over the
 * n+1 possible answers (patch 1..n, or none), so at most ceil(log2(n+1))
 * prefixes of the series are tried. Undefined when none fails, 0 when the
 * base fails.
 */
export async function findFirstFailing(n: number, passes: (k: number) => Promise<boolean>): Promise<number | undefined> {
  // The first failing prefix lies in lo..hi; hi = n + 1 stands for "none fails".
  let lo = 1;
  let hi = n + 1;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (await passes(mid)) lo = mid + 1;
    else hi = mid;
  }
  if (lo === n + 1) return undefined;
  if (lo === 1 && !(await passes(0))) return 0;
  return lo;
}

/**
 * Where the verdict of the base (prefix 0) becomes that of the whole stack
 * (prefix n), when they differ: those two first, then a binary search for
 * the first prefix with the stack's verdict, so at most ceil(log2(n)) more
 * are tried. A verdict met on the way (a handler registered before it can
 * preserve anything fails) shows among the prefixes tried; the patch named
 * is the one from which the stack's verdict holds. `verdictAt` should
 * remember what it ran: the search may ask for a prefix again.
 */
export async function findFirstChange(n: number, verdictAt: (k: number) => Promise<Status>): Promise<{ from: Status; to?: Status; at?: number }> {
  const from = await verdictAt(0);
  const to = await verdictAt(n);
  if (to === from) return { from };
  // The first prefix with the stack's verdict lies in lo..hi; prefix n is one.
  let lo = 1;
  let hi = n;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if ((await verdictAt(mid)) === to) hi = mid;
    else lo = mid + 1;
  }
  return { from, to, at: lo };
}
