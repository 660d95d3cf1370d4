// A fuzzing campaign: programs from one seed, run on one reused machine
// until the budget (a duration or a number of programs) is spent. A
// divergence is re-run on a fresh machine to confirm it, minimized (every
// candidate really run), and written as a finding; later divergences with
// the same signature only count as more occurrences.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, InfraError } from '../errors.ts';
import type { KernelArtifact } from '../kernel/artifact.ts';
import type { Progress } from '../util/progress.ts';
import { executeProgram, type Divergence, type ProgramRun } from './executor.ts';
import { DEFAULT_LIMITS, generateProgram, mutateProgram, type GeneratorLimits } from './generator.ts';
import { CoverageGuide } from './guidance.ts';
import { FINDING_SCHEMA, findingTitle, replayProgram, writeFinding, type Finding } from './finding.ts';
import { MachinePool } from './machine.ts';
import { minimize } from './minimize.ts';
import type { Op } from './ops.ts';
import { programSeed } from './rng.ts';

export interface CampaignOptions {
  kernel: KernelArtifact;
  /** How the user named the kernel (a recipe, a recipe file, a key): replays resolve it again. */
  kernelRef: string;
  seed: number;
  /** Stop starting programs after this long (ms). */
  budgetMs?: number;
  /** Stop after this many programs. */
  programs?: number;
  /** Where finding files and their console logs go. */
  findingsDir: string;
  /** Minimize findings (default true). */
  minimize?: boolean;
  maxMinimizeRuns?: number;
  /** Stop once this many findings are confirmed. */
  maxFindings?: number;
  limits?: GeneratorLimits;
  /**
   * A coverage kernel: every machine's counters go under `dir`; after each
   * program the edges it took are counted, and with `guided` a program that
   * took new ones joins the corpus, half the programs after that being one
   * of it carried on differently.
   */
  coverage?: { dir: string; guided: boolean };
  progress?: Progress;
  /** What a person should see as it happens: divergences, findings, replaced machines. */
  log?: (message: string) => void;
}

export interface CampaignStats {
  programs: number;
  kexecs: number;
  calls: number;
  /** Cold boots (the first, and one after every divergence, crash or recycle). */
  boots: number;
  /** Candidate and confirmation runs spent on findings. */
  findingRuns: number;
  /** Programs re-run on a fresh machine after the host (QEMU, SSH) failed them, and why. */
  infraRetries: string[];
  elapsedMs: number;
  /** Distinct "operation -> outcome" pairs reached. */
  pairs: string[];
  /** With coverage: the gcov arcs (control-flow edges) of the instrumented code taken so far, over time. */
  coverage?: { guided: boolean; edges: number; corpus: number; mutated: number; overTime: { ms: number; programs: number; edges: number; pairs: number }[] };
}

export interface CampaignResult {
  stats: CampaignStats;
  findings: Finding[];
  stoppedBy: 'budget' | 'programs' | 'findings' | 'infra';
  /** Why the campaign stopped early, when the host failed it. */
  infraError?: string;
}

/** Three infrastructure failures in a row end the campaign: the host, not the kernel, is broken. */
const INFRA_RETRIES = 3;

export async function runCampaign(options: CampaignOptions): Promise<CampaignResult> {
  const started = performance.now();
  const log = options.log ?? (() => {});
  const limits = options.limits ?? DEFAULT_LIMITS;
  const pool = new MachinePool({ kernel: options.kernel, log, detail: (m) => options.progress?.update(m), ...(options.coverage ? { coverageDir: options.coverage.dir } : {}) });
  const guide = options.coverage ? new CoverageGuide() : undefined;
  const corpus: Op[][] = [];
  let mutated = 0;
  const overTime: NonNullable<CampaignStats['coverage']>['overTime'] = [];
  const stats: CampaignStats = { programs: 0, kexecs: 0, calls: 0, boots: 0, findingRuns: 0, infraRetries: [], elapsedMs: 0, pairs: [] };
  const pairs = new Set<string>();
  const findings: Finding[] = [];
  const bySignature = new Map<string, Finding>();
  let stoppedBy: CampaignResult['stoppedBy'] = 'programs';
  let infraError: string | undefined;
  const elapsed = () => performance.now() - started;
  const show = () => options.progress?.update(`${stats.programs} programs, ${stats.kexecs} kexecs, ${findings.length} finding(s), ${pairs.size} (operation, outcome) pairs${guide ? `, ${guide.edges.size} edges${options.coverage!.guided ? ` (corpus ${corpus.length})` : ''}` : ''}`);

  /** One program on a clean machine; a divergence taints the machine. Infrastructure failures are retried. */
  const run = async (ops: readonly Op[], keepSteps = false): Promise<{ run: ProgramRun; fromBoot: number }> => {
    for (let attempt = 1; ; attempt++) {
      try {
        const target = await pool.clean();
        const fromBoot = target.bootIndex;
        const r = await executeProgram(target, ops, { keepSteps });
        stats.kexecs += r.kexecs;
        stats.calls += r.calls;
        for (const p of r.pairs) pairs.add(p);
        if (r.divergence) pool.taint(r.divergence.signature);
        return { run: r, fromBoot };
      } catch (error) {
        // Bad input is the user's to fix; anything else the executor did not
        // turn into a divergence (QEMU or SSH broke, the harness tripped) says
        // nothing about the kernel: the program runs again on a fresh machine.
        if (error instanceof ConfigError) throw error;
        const why = error instanceof Error ? error.message : String(error);
        if (attempt >= INFRA_RETRIES) throw error instanceof InfraError ? error : new InfraError(`the harness failed the same program ${attempt} times: ${why}`, { cause: error });
        stats.infraRetries.push(why);
        log(`host or harness failure (${why}); running the program again on a fresh machine`);
        pool.taint('a host or harness failure');
      }
    }
  };
  const same = (d: Divergence | undefined, signature: string) => d !== undefined && d.signature === signature;

  /** A new divergence: its console kept, confirmed on a fresh machine, minimized, written as a finding. */
  const study = async (index: number, pseed: number, ops: Op[], d: Divergence, fromBoot: number): Promise<Finding> => {
    log(`program ${index} (seed ${pseed}) diverged: ${d.summary}`);
    const id = findings.length + 1;
    const dir = options.findingsDir;
    await mkdir(dir, { recursive: true });
    const consoleLogs = await pool.saveConsoleLogs(dir, `finding-${id}-program`, fromBoot);
    // Confirm on a fresh machine: a divergence that does not come back is not reported as the kernel's.
    const again = await run(ops);
    stats.findingRuns++;
    const reproduced = same(again.run.divergence, d.signature);
    const finding: Finding = {
      schema: FINDING_SCHEMA,
      id,
      title: findingTitle(d),
      kernel: { ref: options.kernelRef, recipe: options.kernel.manifest.recipe, release: options.kernel.manifest.release, key: options.kernel.manifest.key },
      seed: options.seed,
      programIndex: index,
      programSeed: pseed,
      program: ops,
      divergence: d,
      reproduced,
      consoleLogs,
      occurrences: 1,
      foundAtMs: Math.round(elapsed()),
    };
    if (reproduced && (options.minimize ?? true)) {
      options.progress?.update(`minimizing finding ${id} (${ops.length} operations): ${d.summary}`);
      const t0 = performance.now();
      // Nothing after the diverging operation ran: it cannot have mattered.
      const prefix = d.phase === 'audit' ? ops : ops.slice(0, d.opIndex + 1);
      const m = await minimize(prefix, async (candidate) => {
        stats.findingRuns++;
        const r = await run(candidate);
        show();
        return same(r.run.divergence, d.signature);
      }, { maxRuns: options.maxMinimizeRuns ?? 60, seeds: d.entities, ...(d.phase === 'op' ? { diverging: d.opIndex } : {}), log: (msg) => options.progress?.update(`finding ${id}: ${msg}`) });
      // The minimized program, run once more to record what it shows (and its console).
      const last = await run(m.ops, true);
      stats.findingRuns++;
      if (last.run.divergence && same(last.run.divergence, d.signature)) {
        finding.consoleLogs.push(...(await pool.saveConsoleLogs(dir, `finding-${id}-minimized`, last.fromBoot)));
        finding.minimized = { ops: m.ops, runs: m.runs + 1, ms: Math.round(performance.now() - t0), divergence: last.run.divergence, complete: m.complete };
      }
    }
    await writeFinding(join(dir, `finding-${id}.json`), finding);
    return finding;
  };

  try {
    for (let index = 0; ; index++) {
      if (options.programs !== undefined && index >= options.programs) {
        stoppedBy = 'programs';
        break;
      }
      if (options.budgetMs !== undefined && elapsed() >= options.budgetMs) {
        stoppedBy = 'budget';
        break;
      }
      if (options.maxFindings !== undefined && findings.length >= options.maxFindings) {
        stoppedBy = 'findings';
        break;
      }
      const pseed = programSeed(options.seed, index);
      // Guided: every other program carries on one of the corpus (picked by the program's seed, so a campaign replays).
      const parent = options.coverage?.guided && corpus.length && pseed % 2 === 0 ? corpus[pseed % corpus.length] : undefined;
      const program = parent ? mutateProgram(parent, pseed, limits) : generateProgram(pseed, limits);
      if (parent) mutated++;
      try {
        const outcome = await run(program.ops);
        stats.programs++;
        if (guide && pool.current) {
          const fresh = await guide.afterProgram(pool.current, outcome.fromBoot);
          if (fresh > 0 && options.coverage!.guided) corpus.push(program.ops);
          overTime.push({ ms: Math.round(elapsed()), programs: stats.programs, edges: guide.edges.size, pairs: pairs.size });
        }
        show();
        const d = outcome.run.divergence;
        if (!d) continue;
        const known = bySignature.get(d.signature);
        if (known) {
          known.occurrences++;
          continue;
        }
        const finding = await study(index, pseed, program.ops, d, outcome.fromBoot);
        findings.push(finding);
        bySignature.set(d.signature, finding);
        log(`finding ${finding.id}: ${finding.title}${finding.minimized ? ` (minimized to ${finding.minimized.ops.length} operations)` : ''}${finding.reproduced ? '' : ' (did not reproduce)'}`);
        show();
      } catch (error) {
        if (!(error instanceof InfraError)) throw error;
        stoppedBy = 'infra';
        infraError = error.message;
        break;
      }
    }
  } finally {
    stats.boots = pool.boots;
    await pool.stop();
  }
  // Occurrence counts grew after the files were written.
  for (const f of findings) await writeFinding(join(options.findingsDir, `finding-${f.id}.json`), f);
  stats.elapsedMs = Math.round(elapsed());
  stats.pairs = [...pairs].sort();
  if (guide) stats.coverage = { guided: options.coverage!.guided, edges: guide.edges.size, corpus: corpus.length, mutated, overTime };
  return { stats, findings, stoppedBy, ...(infraError ? { infraError } : {}) };
}

export interface ReplayResult {
  finding: Finding;
  ops: Op[];
  run: ProgramRun;
  reproduced: boolean;
  consoleLogs: string[];
}

/** Runs a finding's program (the minimized one when there is one) on a fresh machine; reproduced when it diverges the same way. */
export async function replay(finding: Finding, kernel: KernelArtifact, logsDir: string, log: (m: string) => void = () => {}): Promise<ReplayResult> {
  const ops = replayProgram(finding);
  const signature = (finding.minimized?.divergence ?? finding.divergence).signature;
  const pool = new MachinePool({ kernel, log, detail: log });
  try {
    const target = await pool.clean();
    const fromBoot = target.bootIndex;
    const r = await executeProgram(target, ops, { keepSteps: true });
    const consoleLogs = await pool.saveConsoleLogs(logsDir, `replay-${finding.id}`, fromBoot);
    return { finding, ops, run: r, reproduced: r.divergence?.signature === signature, consoleLogs };
  } finally {
    await pool.stop();
  }
}
