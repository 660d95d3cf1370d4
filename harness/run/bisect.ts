// Which patch of a series broke live update: a binary search over the
// series' prefixes (the base recipe plus its first k patches), each prefix
// built incrementally in one shared build directory, each judged by one
// scenario or one selftest. `each` tries every prefix instead (a per-patch
// table for CI). Prefix 0 is the base recipe; a series whose every patch
// passes has no culprit.
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ConfigError, InfraError } from '../errors.ts';
import type { KernelArtifact } from '../kernel/artifact.ts';
import { patchDirRecipe, patchFilesOf, seriesRecipe } from '../kernel/derived-recipes.ts';
import { seriesOf } from '../kernel/patches.ts';
import { resolveSeriesRef } from '../kernel/series-fetch.ts';
import { sha256 } from '../util/hash.ts';
import type { ScenarioResult, Status } from '../report/result.ts';
import { SCENARIOS } from '../scenario/scenarios/index.ts';
import { planScenarios, resolveKernels } from './plan.ts';
import { runPlanned } from './scenarios.ts';
import { runKselftestPairs } from './kselftests.ts';

export interface BisectPatch {
  /** 1-based position in the series. */
  index: number;
  subject: string;
  /** sha256 of the patch text (the manifest's `series[].patches[].sha256`). */
  sha256: string;
}

export type BisectJudge = { scenario: string } | { kselftest: string };

export interface BisectOptions {
  /** The recipe the series goes on (a name or a file). */
  base: string;
  series?: string;
  patchesDir?: string;
  judge: BisectJudge;
  each?: boolean;
  patchFuzz?: number;
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
  builds: number;
}

/** The patches of the series (or directory), in the order they apply. */
export async function seriesPatches(options: Pick<BisectOptions, 'series' | 'patchesDir' | 'cache' | 'say'>): Promise<BisectPatch[]> {
  if (options.series !== undefined) {
    const fetched = await resolveSeriesRef(options.series, { cache: options.cache, say: options.say });
    const text = await readFile(fetched.file, 'utf8');
    const patches = seriesOf(text)?.patches ?? [{ subject: basename(fetched.file), text }];
    return patches.map((p, i) => ({ index: i + 1, subject: p.subject, sha256: sha256(p.text) }));
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

/** The recipe of prefix `count` (0: the base itself). */
async function prefixRecipe(options: BisectOptions, count: number, total: number): Promise<string> {
  if (count === 0) return options.base;
  const first = count === total ? undefined : count;
  const common = { cache: options.cache, ...(first !== undefined ? { first } : {}), ...(options.patchFuzz ? { patchFuzz: options.patchFuzz } : {}) };
  return options.series !== undefined ? seriesRecipe(options.base, options.series, common) : patchDirRecipe(options.base, options.patchesDir!, common);
}

const judgeName = (j: BisectJudge) => ('scenario' in j ? j.scenario : `kselftest/${j.kselftest}`);

/** Builds prefix `count`, runs the judge on it, and says whether it passed. */
async function tryPrefix(options: BisectOptions, patches: BisectPatch[], count: number): Promise<PrefixOutcome> {
  const label = count === 0 ? 'the base (no patch)' : `${count}/${patches.length} ${patches[count - 1]!.subject}`;
  options.say(`bisect: prefix ${label}: building and running ${judgeName(options.judge)}`);
  const ref = await prefixRecipe(options, count, patches.length);
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
  const status = results.every((r) => r.status === 'pass') ? 'pass' : (results.find((r) => r.status !== 'pass')!.status);
  const reason = results.find((r) => r.status !== 'pass')?.reason;
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
  const known = new Map<number, boolean>();
  const passes = async (count: number) => {
    if (!known.has(count)) {
      const o = await tryPrefix(options, patches, count);
      tried.push(o);
      known.set(count, o.status === 'pass');
    }
    return known.get(count)!;
  };
  const builds = () => tried.filter((t) => t.count > 0).length;

  if (options.each) {
    for (let k = 1; k <= n; k++) await passes(k);
    const first = [...known.entries()].filter(([, ok]) => !ok).map(([k]) => k).sort((a, b) => a - b)[0];
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
