// What a scenario is and how one is run into a ScenarioResult. A scenario
// is plain async code over a ScenarioContext: it boots machines, records
// checks and iterations; the runner turns what it throws into a status.
import { relative } from 'node:path';
import { ConfigError, HarnessError } from '../errors.ts';
import type { KernelArtifact } from '../kernel/artifact.ts';
import { Waterfall } from '../liveupdate/waterfall.ts';
import type { TargetLauncher } from '../target/target.ts';
import { checkParams, defaultParams, type ParamSpecs, type ParamValues } from './params.ts';
import { capabilityVerdicts, classify, combineStatuses, type BlackoutTimeline, type Check, type IterationResult, type ScenarioResult, type Status } from '../report/result.ts';

export interface ScenarioDefinition<S extends ParamSpecs = ParamSpecs> {
  name: string;
  description: string;
  /** Its parameters, typed, with defaults; a suite may set them (checked before anything boots). */
  params: S;
  /** It makes one measured live update per iteration (`--iterations`); others make a fixed number. */
  iterates?: boolean;
  /** It live-updates into a second kernel (A -> B): the plan gives it one (`to`), a matrix every ordered pair. */
  needsTarget?: boolean;
  run(ctx: ScenarioContext<ParamValues<S>>): Promise<void>;
}

/** A scenario, with its parameters' types inferred from their declarations. */
export const defineScenario = <S extends ParamSpecs>(def: ScenarioDefinition<S>): ScenarioDefinition<S> => def;

export interface CheckOptions {
  /** Record an Unsupported outcome and go on (default: the scenario ends as unsupported). */
  continueIfUnsupported?: boolean;
  /** The capability the check is evidence for: results give each capability its own verdict. */
  capability?: string;
}

export interface ScenarioContext<P = Record<string, unknown>> {
  readonly name: string;
  readonly params: P;
  /** The kernel to boot first, resolved when the run was planned. */
  readonly kernel: KernelArtifact;
  /** The kernel to live-update into, when the scenario goes A -> B. */
  readonly to: KernelArtifact | undefined;
  readonly iterations: number;
  /** Kernel arguments added to every boot of this scenario (after the recipe's: last wins). */
  readonly cmdline: readonly string[];
  /** Boot with Live Update on (the default) or switched off on the command line (the negative control). */
  readonly liveUpdate: boolean;
  /** Where its machines come from: a new QEMU machine each (undefined), or a remote host (`run --target`). */
  readonly target: TargetLauncher | undefined;
  /** This scenario's own directory inside the results directory. */
  readonly dir: string;
  /** Where its wall time goes: machines boot with it, and it lands in the result. */
  readonly waterfall: Waterfall;
  /** Runs `fn` as a named check; a failure is recorded and ends the scenario. Returns what fn returned. */
  check<T>(name: string, fn: () => Promise<T> | T, options?: CheckOptions): Promise<T>;
  /** Records a check decided elsewhere (e.g. one per error the agent's restore reported); it does not end the scenario. */
  record(check: Check): void;
  /** Records one live update (or one measured repetition). */
  iteration(record: { blackout?: BlackoutTimeline; metrics?: Record<string, number>; status?: Status; label?: string }): void;
  /** Registers a console log (or other file) to list in the result. */
  artifact(name: string, path: string): void;
  /** Registers a resource the runner stops when the scenario ends, whatever happens; `explain` says what an error the scenario ended on really was (a machine's console knows). */
  own(resource: OwnedResource): void;
  log(message: string): void;
}

export interface OwnedResource {
  stop(): Promise<void>;
  explain?(error: unknown): Promise<unknown>;
}

export interface RunScenarioOptions {
  kernel: KernelArtifact;
  to?: KernelArtifact;
  iterations?: number;
  params?: Record<string, unknown>;
  /** Raw values (a suite's), checked against the scenario's parameters. */
  /** Kernel arguments for every boot. */
  cmdline?: string[];
  /** false: boot with `liveupdate=off`. */
  liveUpdate?: boolean;
  /** Where machines come from (default: QEMU). */
  target?: TargetLauncher;
  /** The scenario's directory; artifact paths are written relative to `resultsDir`. */
  dir: string;
  resultsDir: string;
  log?: (message: string) => void;
}


/**
 * A scenario that ran to its end: any failed check fails it; an unsupported
 * check (a handler the kernel lacks) makes it unsupported even when the
 * rest passed, since part of what it tests did not happen (each capability's
 * own verdict is kept in the result, so that hides no pass).
 */
export const scenarioStatus = combineStatuses;

export async function runScenario<S extends ParamSpecs>(def: ScenarioDefinition<S>, options: RunScenarioOptions): Promise<ScenarioResult> {
  const started = performance.now();
  const waterfall = new Waterfall();
  const checks: Check[] = [];
  const iterations: IterationResult[] = [];
  const artifacts: { name: string; path: string }[] = [];
  const owned: OwnedResource[] = [];
  const given = options.params ?? {};
  const values = checkParams(def.params, given, `scenario ${def.name} params`);
  const params = { ...defaultParams(def.params), ...given };
  const log = options.log ?? (() => {});
  // What an error really was, as the machines that saw it tell (a lost connection during a panic is the panic). Once per error.
  const explained = new WeakMap<object, unknown>();
  const explain = async (error: unknown): Promise<unknown> => {
    if (typeof error !== 'object' || error === null) return error;
    if (explained.has(error)) return explained.get(error);
    let e = error as unknown;
    for (const r of owned) if (r.explain) e = await r.explain(e);
    explained.set(error, e);
    if (typeof e === 'object' && e !== null) explained.set(e, e);
    return e;
  };

  const ctx: ScenarioContext<ParamValues<S>> = {
    name: def.name,
    params: values,
    kernel: options.kernel,
    to: options.to,
    iterations: options.iterations ?? 1,
    cmdline: options.cmdline ?? [],
    liveUpdate: options.liveUpdate ?? true,
    target: options.target,
    dir: options.dir,
    waterfall,
    async check(name, fn, checkOptions = {}) {
      const tag = checkOptions.capability ? { capability: checkOptions.capability } : {};
      try {
        const value = await fn();
        checks.push({ name, status: 'pass', ...tag });
        return value;
      } catch (thrown) {
        const error = await explain(thrown);
        const { status, reason } = classify(error);
        checks.push({ name, status, message: reason, ...tag });
        if (status === 'unsupported' && checkOptions.continueIfUnsupported) return undefined as never;
        throw error;
      }
    },
    record(check) {
      checks.push(check);
    },
    iteration(record) {
      const status = record.status ?? 'pass';
      iterations.push({ index: iterations.length, status, ...(record.label ? { label: record.label } : {}), ...(record.blackout ? { blackout: record.blackout } : {}), ...(record.metrics ? { metrics: record.metrics } : {}) });
    },
    artifact(name, path) {
      artifacts.push({ name, path: relative(options.resultsDir, path) });
    },
    own(resource) {
      owned.push(resource);
    },
    log: (m) => log(`[${def.name}] ${m}`),
  };

  let status: Status;
  let reason: string | undefined;
  try {
    await def.run(ctx);
    status = scenarioStatus(checks.map((c) => c.status).concat(iterations.map((i) => i.status)));
    if (checks.length === 0) {
      status = 'error';
      reason = 'the scenario recorded no checks, so it proved nothing';
    }
    const soft = checks.find((c) => c.status === status && c.message);
    if (status !== 'pass' && soft && !reason) reason = `${soft.name}: ${soft.message}`;
  } catch (thrown) {
    if (thrown instanceof ConfigError) throw thrown;
    const error = await explain(thrown);
    ({ status, reason } = classify(error));
    const detail = error instanceof HarnessError && error.detail ? error.detail : undefined;
    if (detail) ctx.log(`${reason}\n${detail}`);
  } finally {
    const stopping = waterfall.start('stop machines, collect logs', 'machine');
    for (const r of owned.reverse()) await r.stop().catch(() => {});
    stopping();
  }
  return {
    name: def.name,
    status,
    ...(reason ? { reason } : {}),
    durationMs: Math.round(performance.now() - started),
    checks,
    iterations,
    artifacts,
    ...(capabilityVerdicts(checks).length ? { capabilities: capabilityVerdicts(checks) } : {}),
    waterfall: waterfall.spans(),
    kernel: options.kernel.manifest.recipe,
    ...(options.to ? { to: options.to.manifest.recipe } : {}),
    params,
  };
}
