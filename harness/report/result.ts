// The result model every writer, the baseline gate and the HTML report read.
// Plain JSON-able data: scenarios fill it in, report/ only reads it.
import { EXIT, HarnessError, InfraError, Unsupported } from '../errors.ts';
import type { Comparison } from './baseline.ts';

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

/** The blackout phases, in the order they happen; harness/liveupdate/timeline.ts says what each one holds. */
export const BLACKOUT_PHASES = ['shutdown', 'kexec-jump', 'kernel-init', 'userspace-init', 'restore', 'service'] as const;
export type BlackoutPhaseName = (typeof BLACKOUT_PHASES)[number];


export interface BlackoutTimeline {
  /** From the freeze marker to the guest in service again (SSH answers and init said guest-ready), as the host saw it. */
  totalMs: number;
  phases: { name: BlackoutPhaseName; ms: number }[];
  /** The same span measured on the guest TSC (freeze -> agent-restored), when available. */
  guestTscMs?: number;
  /** How well host and guest clocks agree on the span both saw. */
  agreement?: { deltaMs: number; ok: boolean };
  /**
   * The new kernel's clock restarted (its early TSC calibration failed and it
   * stamped its first lines on jiffies): kexec-jump then ends late and holds
   * the start of its boot, kernel-init lacks it. Their sum holds, the split
   * does not: those two are kept out of the metrics.
   */
  lateClock?: true;
}

export interface Check {
  name: string;
  status: Status;
  message?: string;
  /** The live-update capability this check is evidence for (memfd, vfio-device, iommufd, ...). */
  capability?: string;
  /** A case within one program's run (a KTAP result): its skip is the program's own choice, the run's verdict is its exit status. */
  scope?: 'case';
}

/** One capability's verdict within a scenario: the worst of its checks, so a pass of one never hides behind another's unsupported. */
export interface CapabilityVerdict {
  name: string;
  status: Status;
  reason?: string;
}

export interface IterationResult {
  index: number;
  status: Status;
  /** What makes this live update unlike the scenario's others (memfd-sizes: the size); its figures are compared only with the same label's. */
  label?: string;
  blackout?: BlackoutTimeline;
  /** Extra figures in ms or counts, e.g. `verifyMs`. Lower is better for the baseline gate. */
  metrics?: Record<string, number>;
}

/** One span of a scenario's waterfall, in ms from the scenario's start (host clock). */
export interface WaterfallSpan {
  name: string;
  /** What the harness waited for: the machine, the guest booting, SSH, an agent call, the kexec's blackout, a check. */
  kind: 'machine' | 'boot' | 'ssh' | 'agent' | 'blackout' | 'verify' | 'harness';
  startMs: number;
  ms: number;
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
  /** Per capability the scenario exercised, when its checks say (see Check.capability). */
  capabilities?: CapabilityVerdict[];
  /** Where the scenario's wall time went (harness/liveupdate/waterfall.ts). */
  waterfall?: WaterfallSpan[];
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

/** The machine under test when it is not a QEMU guest of this host (`run --target ssh://...`). */
export interface TargetInfo {
  kind: 'remote';
  /** `root@lab-host` as given. */
  address: string;
  hostname: string;
  cpu: string;
  cpus: number;
  memoryMiB: number;
  /** The host's own kernel (`uname -r`) before the first hop. */
  kernelBefore: string;
  /** PCI functions lent for vfio-pci, with their IDs and the driver they had. */
  devices?: { bdf: string; vendorDevice?: string; driver?: string }[];
  /** How the host was brought back at the end (`kexec` into its own kernel, `power-cycle`), or what went wrong. */
  after?: string;
  /** What it runs on, from its own words: `bare metal`, `virtual machine (KVM)`, `virtual machine`, `unknown`. */
  platform?: string;
  /** What that was read from: its CPU flags, the kernel's hypervisor line, DMI. */
  platformEvidence?: string;
}

/** "root@lab-host: lab-host, 64 x Xeon..., 257000 MiB, kernel 6.1.0-28-amd64 before the first hop". */
export const targetLine = (t: TargetInfo) =>
  `${t.address}: ${t.hostname}, ${t.cpus} x ${t.cpu || 'CPU'}, ${t.memoryMiB} MiB, kernel ${t.kernelBefore} before the first hop${t.devices?.length ? `, devices ${t.devices.map((d) => d.bdf).join(' ')}` : ''}${t.platformEvidence ? `; ${t.platform} (${t.platformEvidence})` : ''}${t.after ? `; afterwards: ${t.after}` : ''}`;

export interface RunResult {
  schema: typeof RESULT_SCHEMA;
  runId: string;
  startedAt: string;
  finishedAt: string;
  /** The machine the harness ran on. */
  host: HostInfo;
  /** 'kvm' | 'tcg' for QEMU; for a remote target what it runs on (TargetInfo.platform: 'bare metal', 'virtual machine (KVM)', ...). */
  accelerator: string;
  /** A remote target's host, when the scenarios ran there instead of in QEMU. */
  target?: TargetInfo;
  qemuVersion: string;
  /** Kernel manifests by recipe name, kept opaque here. */
  kernels: Record<string, Record<string, unknown>>;
  scenarios: ScenarioResult[];
  /** The baseline gate, when the run was compared with one (`run --baseline`). */
  gate?: GateRecord;
  /** `--coverage`: which lines of the instrumented code ran, per kernel, both sides of every kexec. */
  coverage?: CoverageResult;
}

/** Line and function counts of one file (or a total). */
export interface CoverageCounts {
  lines: { found: number; hit: number };
  functions: { found: number; hit: number };
}

/** One boot's counters: read at its kexec (inside reboot(), at machine_kexec), at the end (debugfs), or missing and why. */
export interface CoverageSide {
  /** Where the capture lies, relative to the results directory. */
  capture: string;
  boot: number;
  when: 'at-kexec' | 'at-end';
  files: number;
  missing?: string;
}

/** One patch's added lines in the instrumented files: which ran, which did not (file -> line numbers). */
export interface PatchCoverage {
  patch: string;
  run: Record<string, number[]>;
  notRun: Record<string, number[]>;
  /** Added lines in files the kernel does not instrument (headers, Kconfig, other objects): not counted. */
  outside: Record<string, number>;
}

export interface KernelCoverage {
  recipe: string;
  release: string;
  key: string;
  sides: CoverageSide[];
  /** The merged lcov tracefile and genhtml's report, relative to the results directory. */
  tracefile?: string;
  html?: string;
  total: CoverageCounts;
  files: (CoverageCounts & { path: string })[];
  patches: PatchCoverage[];
  /** Why no tracefile could be made (no side was read, or lcov failed). */
  error?: string;
  /** With more than two captures (a fuzz campaign): the instrumented lines run so far, after each capture in the order they were read. */
  overTime?: { at: string; lines: number }[];
}

export interface CoverageResult {
  kernels: KernelCoverage[];
}

export interface GateRecord {
  /** The baseline file the run was compared with. */
  baseline: string;
  /** --strict: not enough evidence fails the run. */
  strict: boolean;
  /** The gate's one line for a log. */
  line: string;
  comparison: Comparison;
}

export type Verdict = 'passed' | 'failed' | 'error' | 'skipped';

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
 *   1 failed     — a scenario failed or a regression was found: the kernel is at
 *                  fault, and an infra hiccup elsewhere must not hide that;
 *   3 error      — some scenario hit an infrastructure error: we could not judge;
 *   0 passed     — at least one scenario passed and the rest passed or were skipped;
 *   4 skipped    — nothing ran (every scenario skipped/unsupported, or none at all),
 *                  so a green CI would be a lie.
 */
export function overallVerdict(
  result: { scenarios: readonly Pick<ScenarioResult, 'name' | 'status'>[]; gate?: Pick<GateRecord, 'strict' | 'comparison'> },
): OverallVerdict {
  const counts = countStatuses(result.scenarios);
  const total = result.scenarios.length;
  const regressed = result.gate?.comparison.regressions.map((r) => r.key) ?? [];
  const undecided = result.gate?.comparison.undecided.map((r) => r.key) ?? [];
  const strictlyUndecided = result.gate?.strict && regressed.length === 0 ? undecided : [];
  const names = (st: Status) => result.scenarios.filter((s) => s.status === st).map((s) => s.name);
  if (counts.fail > 0 || regressed.length > 0 || strictlyUndecided.length > 0) {
    const parts: string[] = [];
    if (counts.fail > 0) parts.push(`${counts.fail} of ${total} scenario(s) failed: ${names('fail').join(', ')}`);
    if (regressed.length > 0) parts.push(`${regressed.length} metric regression(s): ${regressed.join(', ')}`);
    if (strictlyUndecided.length > 0) parts.push(`not enough evidence to judge ${strictlyUndecided.join(', ')} (--strict)`);
    if (counts.error > 0) parts.push(`${counts.error} infrastructure error(s): ${names('error').join(', ')}`);
    return { verdict: 'failed', exitCode: EXIT.failed, counts, headline: parts.join('; ') };
  }
  const gateNote = undecided.length ? `; gate: not enough evidence to judge ${undecided.join(', ')}` : '';
  if (counts.error > 0) {
    return {
      verdict: 'error',
      exitCode: EXIT.infra,
      counts,
      headline: `${counts.error} of ${total} scenario(s) hit an infrastructure error: ${names('error').join(', ')}`,
    };
  }
  if (counts.pass > 0) {
    return { verdict: 'passed', exitCode: EXIT.ok, counts, headline: tally(result.scenarios) + gateNote };
  }
  return {
    verdict: 'skipped',
    exitCode: EXIT.allSkipped,
    counts,
    headline: total === 0 ? 'No scenario ran' : `Nothing passed: ${tally(result.scenarios)}`,
  };
}

/** "3 passed, 1 unsupported (iommufd-vfio)": every status that occurred, with the names of all but the passes. */
export function tally(scenarios: readonly Pick<ScenarioResult, 'name' | 'status'>[]): string {
  const order: [Status, string][] = [['pass', 'passed'], ['fail', 'failed'], ['error', 'error'], ['unsupported', 'unsupported'], ['skip', 'skipped']];
  return order
    .map(([status, word]) => {
      const names = scenarios.filter((s) => s.status === status).map((s) => s.name);
      if (names.length === 0) return '';
      return status === 'pass' ? `${names.length} ${word}` : `${names.length} ${word} (${names.join(', ')})`;
    })
    .filter(Boolean)
    .join(', ');
}

/** The status an error stands for, and the reason to show. */
export function classify(error: unknown): { status: Status; reason: string } {
  const reason = error instanceof Error ? error.message : String(error);
  if (error instanceof Unsupported) return { status: 'unsupported', reason };
  if (error instanceof InfraError) return { status: 'error', reason };
  if (error instanceof HarnessError) return { status: 'fail', reason };
  return { status: 'error', reason: `internal error: ${reason}` };
}

/** Precedence of statuses when several decide one: a failure outranks everything, a pass only a skip. */
export const STATUS_PRECEDENCE: readonly Status[] = ['fail', 'error', 'unsupported', 'pass', 'skip'];

/** The status of a set of checks (or iterations): the first of STATUS_PRECEDENCE present; none at all is a skip. */
export function combineStatuses(statuses: readonly Status[]): Status {
  return STATUS_PRECEDENCE.find((s) => statuses.includes(s)) ?? 'skip';
}

/** The verdict of each capability the checks are tagged with, in order of first appearance. */
export function capabilityVerdicts(checks: readonly Check[]): CapabilityVerdict[] {
  const names = [...new Set(checks.map((c) => c.capability).filter((c): c is string => c !== undefined))];
  return names.map((name) => {
    const own = checks.filter((c) => c.capability === name);
    const status = combineStatuses(own.map((c) => c.status));
    const decisive = status === 'pass' ? undefined : own.find((c) => c.status === status);
    return { name, status, ...(decisive ? { reason: `${decisive.name}${decisive.message ? `: ${decisive.message}` : ''}` } : {}) };
  });
}

/** "memfd pass, vfio-device unsupported, iommufd unsupported". */
export const capabilityLine = (verdicts: readonly CapabilityVerdict[]) => verdicts.map((v) => `${v.name} ${v.status}`).join(', ');

/** `kernel-boot` -> `kernelBoot`, for metric keys. */
const camel = (s: string) => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** The metric name a blackout phase is stored under: `blackout.kernelBootMs`. */
export const phaseMetric = (phase: BlackoutPhaseName) => `blackout.${camel(phase)}Ms`;
export const TOTAL_METRIC = 'blackout.totalMs';

/** The phases whose boundary is the new kernel's clock zero: a late clock moves it (BlackoutTimeline.lateClock). */
export const SPLIT_BY_CLOCK: readonly BlackoutPhaseName[] = ['kexec-jump', 'kernel-init'];

/** What a figure split by a late clock is marked with (the CLI's footnote, report.html's title). */
export const LATE_CLOCK_TITLE =
  "the new kernel's clock started late (its TSC calibration failed), so kexec-jump holds the start of its boot and kernel-init lacks it: their sum holds, the split does not";

/** Every number an iteration produced, under the metric names the baseline and history use. */
export function iterationMetrics(it: IterationResult): Record<string, number> {
  const out: Record<string, number> = {};
  if (it.blackout) {
    out[TOTAL_METRIC] = it.blackout.totalMs;
    for (const p of it.blackout.phases) if (!(it.blackout.lateClock && SPLIT_BY_CLOCK.includes(p.name))) out[phaseMetric(p.name)] = p.ms;
    if (it.blackout.guestTscMs !== undefined) out['blackout.guestTscMs'] = it.blackout.guestTscMs;
  }
  for (const [k, v] of Object.entries(it.metrics ?? {})) if (Number.isFinite(v)) out[k] = v;
  return out;
}

/** Total blackout of the iterations that passed (the figures worth comparing). */
export function blackoutSamples(s: ScenarioResult): number[] {
  return s.iterations.filter((i) => i.status === 'pass' && i.blackout).map((i) => i.blackout!.totalMs);
}
