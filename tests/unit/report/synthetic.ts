// Synthetic run results for the report tests: deterministic, shaped like what
// the scenarios produce.
import { BLACKOUT_PHASES, type IterationResult, type RunResult, type ScenarioResult, type Status } from '../../../harness/report/result.ts';
import { seededRandom } from '../../../harness/report/stats.ts';

/** Phase shares of a TCG blackout, roughly as measured: boot dominates. */
const SHARES = [0.01, 0.3, 0.45, 0.04, 0.05, 0.15];

export function iteration(index: number, totalMs: number, status: Status = 'pass'): IterationResult {
  const phases = BLACKOUT_PHASES.map((name, i) => ({ name, ms: Math.round(totalMs * SHARES[i]! * 10) / 10 }));
  const sum = phases.reduce((a, p) => a + p.ms, 0);
  return { index, status, blackout: { totalMs: Math.round(sum * 10) / 10, phases, guestTscMs: Math.round(sum * 0.8), agreement: { deltaMs: 3, ok: true } } };
}

export function scenario(name: string, status: Status, totals: number[], extra: Partial<ScenarioResult> = {}): ScenarioResult {
  return {
    name,
    status,
    durationMs: 5000 + totals.reduce((a, b) => a + b, 0),
    checks: [
      { name: 'memfd contents survived', status: status === 'fail' ? 'fail' : status === 'pass' ? 'pass' : status },
      { name: 'sessions restored', status: status === 'fail' ? 'pass' : status },
    ],
    iterations: totals.map((t, i) => iteration(i + 1, t, status === 'fail' ? (i === totals.length - 1 ? 'fail' : 'pass') : status)),
    artifacts: totals.flatMap((_, i) => [
      { name: `boot-${2 * i + 1}`, path: `consoles/${name}/boot-${2 * i + 1}.log` },
      { name: `boot-${2 * i + 2}`, path: `consoles/${name}/boot-${2 * i + 2}.log` },
    ]),
    kernel: 'luo-7.2',
    to: 'luo-7.2',
    ...extra,
  };
}

/** `n` samples around `center` with relative spread `spread`, seeded. */
export function samples(n: number, center: number, spread: number, seed: number): number[] {
  const r = seededRandom(seed);
  return Array.from({ length: n }, () => Math.round(center * (1 + spread * (2 * r() - 1)) * 10) / 10);
}

export function run(overrides: Partial<RunResult> = {}, slowdown = 1): RunResult {
  return {
    schema: 1,
    runId: 'run-20261125-1700',
    startedAt: '2026-11-25T17:00:00.000Z',
    finishedAt: '2026-11-25T17:03:20.500Z',
    host: { hostname: 'ci-runner-3', kernel: '6.1.0-28-amd64', cpus: 2 },
    accelerator: 'tcg',
    qemuVersion: '7.2.15',
    kernels: { 'luo-7.2': { schema: 1, recipe: 'luo-7.2', release: '7.2.13-luo' } },
    scenarios: [
      scenario('memfd-basic', 'pass', samples(5, 1900 * slowdown, 0.04, 1)),
      scenario('memfd-64m', 'pass', samples(5, 2100 * slowdown, 0.04, 2), { params: { memfdSizeBytes: 64 * 1048576 } }),
      scenario('memfd-256m', 'pass', samples(5, 2600 * slowdown, 0.04, 3), { params: { memfdSizeBytes: 256 * 1048576 } }),
      scenario('memfd-1g', 'fail', samples(3, 4100 * slowdown, 0.04, 4), {
        params: { memfdSizeBytes: 1024 * 1048576 },
        reason: 'memfd contents differ after kexec at offset 0x3ff000',
      }),
      scenario('iommufd-ioas', 'unsupported', [], { reason: 'PRESERVE_FD on an iommufd fails: this kernel has no iommufd live update handler', checks: [] }),
    ],
    ...overrides,
  };
}

/** A history of `runs` earlier runs, one per day, with a step up in the last few. */
export function historyRuns(runs: number): RunResult[] {
  return Array.from({ length: runs }, (_, i) => {
    const day = new Date(Date.UTC(2026, 10, 10 + i, 17)).toISOString();
    const r = run({ runId: `run-${i + 1}`, startedAt: day, finishedAt: day }, i >= runs - 3 ? 1.15 : 1);
    return r;
  });
}
