// The result model every writer, the baseline gate and the HTML report read.
// Plain JSON-able data: scenarios fill it in, report/ only reads it.
import { EXIT } from '../errors.ts';

export const RESULT_SCHEMA = 1 as const;

/**
 * pass: every expectation held. fail: an expectation did not hold or the
 * kernel faulted. error: the host/QEMU/SSH failed, we learnt nothing about
 * the kernel. skip: deliberately not run. unsupported: the kernel under test
 * lacks the feature (a missing /dev/liveupdate, a stock kernel without the
 * iommufd handler) — never a pass.
 */
export type Status = 'pass' | 'fail' | 'error' | 'skip' | 'unsupported';
export const STATUSES: readonly Status[] = ['pass', 'fail', 'error', 'skip', 'unsupported'];

/** The blackout phases, in the order they happen. */
export const BLACKOUT_PHASES = ['shutdown', 'purgatory', 'kernel-boot', 'restore', 'service'] as const;
export type BlackoutPhaseName = (typeof BLACKOUT_PHASES)[number];

/** What ends each phase (each starts where the previous ended; `shutdown` starts at the freeze marker). */
export const PHASE_ENDS: Record<BlackoutPhaseName, string> = {
  shutdown: '"Starting new kernel"',
  purgatory: 'new kernel banner',
  'kernel-boot': 'init reached',
  restore: 'agent restored',
  service: 'SSH usable',
};

export interface BlackoutTimeline {
  /** From the freeze marker to SSH usable again, as the host saw it. */
  totalMs: number;
  phases: { name: BlackoutPhaseName; ms: number }[];
  /** The same span measured on the guest TSC (freeze -> agent-restored), when available. */
  guestTscMs?: number;
  /** How well host and guest clocks agree on the span both saw. */
  agreement?: { deltaMs: number; ok: boolean };
}

export interface Check {
  name: string;
  status: Status;
  message?: string;
}

export interface IterationResult {
  index: number;
  status: Status;
  blackout?: BlackoutTimeline;
  /** Extra figures in ms or counts, e.g. `verifyMs`. Lower is better for the baseline gate. */
  metrics?: Record<string, number>;
}

export interface Artifact {
  name: string;
  /** Relative to the results directory, so reports stay valid when the directory moves. */
  path: string;
}

export interface ScenarioResult {
  name: string;
  status: Status;
  reason?: string;
  durationMs: number;
  checks: Check[];
  iterations: IterationResult[];
  /** Console logs, one per boot. */
  artifacts: Artifact[];
  /** Recipe of the kernel booted first, and of the kernel kexec'd into when it differs. */
  kernel?: string;
  to?: string;
  params?: Record<string, unknown>;
}

export interface HostInfo {
  hostname: string;
  kernel: string;
  cpus: number;
}

export interface RunResult {
  schema: typeof RESULT_SCHEMA;
  runId: string;
  startedAt: string;
  finishedAt: string;
  host: HostInfo;
  /** 'kvm' | 'tcg' | a bare-metal target name. */
  accelerator: string;
  qemuVersion: string;
  /** Kernel manifests by recipe name, kept opaque here. */
  kernels: Record<string, Record<string, unknown>>;
  scenarios: ScenarioResult[];
}

export type Verdict = 'passed' | 'failed' | 'error' | 'skipped' | 'bad-input';

export interface OverallVerdict {
  verdict: Verdict;
  exitCode: (typeof EXIT)[keyof typeof EXIT];
  counts: Record<Status, number>;
  /** One line saying what broke (or that nothing did). */
  headline: string;
}

export function countStatuses(scenarios: readonly { status: Status }[]): Record<Status, number> {
  const counts: Record<Status, number> = { pass: 0, fail: 0, error: 0, skip: 0, unsupported: 0 };
  for (const s of scenarios) counts[s.status]++;
  return counts;
}

/**
 * The verdict of a run and the process exit code. Precedence, first match wins:
 *   2 bad input  — the run's inputs were wrong, so nothing below means anything;
 *   1 failed     — a scenario failed or a regression was found: the kernel is at
 *                  fault, and an infra hiccup elsewhere must not hide that;
 *   3 error      — some scenario hit an infrastructure error: we could not judge;
 *   0 passed     — at least one scenario passed and the rest passed or were skipped;
 *   4 skipped    — nothing ran (every scenario skipped/unsupported, or none at all),
 *                  so a green CI would be a lie.
 */
export function overallVerdict(
  result: { scenarios: readonly Pick<ScenarioResult, 'name' | 'status'>[] },
  opts: { regressions?: number | readonly string[]; inputErrors?: string[] } = {},
): OverallVerdict {
  const counts = countStatuses(result.scenarios);
  const total = result.scenarios.length;
  const regressed = typeof opts.regressions === 'number' ? [] : (opts.regressions ?? []);
  const regressions = typeof opts.regressions === 'number' ? opts.regressions : regressed.length;
  const names = (st: Status) => result.scenarios.filter((s) => s.status === st).map((s) => s.name);
  if (opts.inputErrors?.length) {
    return { verdict: 'bad-input', exitCode: EXIT.badInput, counts, headline: `Bad input: ${opts.inputErrors.join('; ')}` };
  }
  if (counts.fail > 0 || regressions > 0) {
    const parts: string[] = [];
    if (counts.fail > 0) parts.push(`${counts.fail} of ${total} scenario(s) failed: ${names('fail').join(', ')}`);
    if (regressions > 0) parts.push(`${regressions} metric regression(s)` + (regressed.length ? `: ${regressed.join(', ')}` : ''));
    if (counts.error > 0) parts.push(`${counts.error} infrastructure error(s): ${names('error').join(', ')}`);
    return { verdict: 'failed', exitCode: EXIT.failed, counts, headline: parts.join('; ') };
  }
  if (counts.error > 0) {
    return {
      verdict: 'error',
      exitCode: EXIT.infra,
      counts,
      headline: `${counts.error} of ${total} scenario(s) hit an infrastructure error: ${names('error').join(', ')}`,
    };
  }
  if (counts.pass > 0) {
    const skipped = counts.skip + counts.unsupported;
    return {
      verdict: 'passed',
      exitCode: EXIT.ok,
      counts,
      headline: `All ${counts.pass} scenario(s) passed` + (skipped ? ` (${skipped} skipped or unsupported)` : ''),
    };
  }
  return {
    verdict: 'skipped',
    exitCode: EXIT.allSkipped,
    counts,
    headline: total === 0 ? 'No scenario ran' : `Nothing ran: all ${total} scenario(s) were skipped or unsupported`,
  };
}

/** The worst of several statuses (for a scenario made of checks or iterations), same precedence as above. */
export function worstStatus(statuses: readonly Status[]): Status {
  const order: Status[] = ['fail', 'error', 'pass', 'unsupported', 'skip'];
  for (const s of order) if (statuses.includes(s)) return s;
  return 'skip';
}

/** `kernel-boot` -> `kernelBoot`, for metric keys. */
const camel = (s: string) => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** The metric name a blackout phase is stored under: `blackout.kernelBootMs`. */
export const phaseMetric = (phase: BlackoutPhaseName) => `blackout.${camel(phase)}Ms`;
export const TOTAL_METRIC = 'blackout.totalMs';

/** Every number an iteration produced, under the metric names the baseline and history use. */
export function iterationMetrics(it: IterationResult): Record<string, number> {
  const out: Record<string, number> = {};
  if (it.blackout) {
    out[TOTAL_METRIC] = it.blackout.totalMs;
    for (const p of it.blackout.phases) out[phaseMetric(p.name)] = p.ms;
    if (it.blackout.guestTscMs !== undefined) out['blackout.guestTscMs'] = it.blackout.guestTscMs;
  }
  for (const [k, v] of Object.entries(it.metrics ?? {})) if (Number.isFinite(v)) out[k] = v;
  return out;
}

/** Total blackout of the iterations that passed (the figures worth comparing). */
export function blackoutSamples(s: ScenarioResult): number[] {
  return s.iterations.filter((i) => i.status === 'pass' && i.blackout).map((i) => i.blackout!.totalMs);
}
