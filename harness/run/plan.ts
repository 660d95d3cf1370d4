// A run's plan: which scenario runs on which kernel, into which kernel, with
// which iterations and parameters, and the kernels themselves, resolved once
// (built or found in the cache) before anything boots. Everything after the
// plan receives artifacts, never names to resolve again.
import { isAbsolute, join, dirname } from 'node:path';
import { ConfigError, HarnessError } from '../errors.ts';
import type { KernelArtifact } from '../kernel/artifact.ts';
import { DEFAULT_RECIPE, loadRecipe } from '../kernel/recipe.ts';
import { parseKernelRef, resolveKernelRef } from '../kernel/refs.ts';
import type { ScenarioDefinition } from '../scenario/scenario.ts';
import type { SuiteEntry } from '../scenario/suite.ts';
import { matrixPairs, pairSuffix } from './matrix.ts';

export interface PlannedScenario {
  entry: SuiteEntry;
  definition: ScenarioDefinition;
  /** Kernel references, as given; the artifacts are in the plan's `kernels`. */
  kernel: string;
  to?: string;
  /** Appended to the result's name when a matrix runs a scenario more than once. */
  suffix: string;
}

export interface PlanFlags {
  kernel?: string;
  to?: string;
  matrix?: string[];
  /** The suite's kernel, for entries that pin none. */
  suiteKernel?: string;
}

/** The upgrade target a recipe names for itself (`upgradeTo`), relative to its file when it is a path. */
async function recipeTarget(ref: string): Promise<string | undefined> {
  const parsed = parseKernelRef(ref);
  if (parsed.kind !== 'recipe') return undefined;
  const recipe = await loadRecipe(parsed.ref);
  if (!recipe.upgradeTo) return undefined;
  return recipe.upgradeTo.endsWith('.json') && !isAbsolute(recipe.upgradeTo) ? join(dirname(recipe.file), recipe.upgradeTo) : recipe.upgradeTo;
}

/**
 * The runs a suite makes: one per entry, or with --matrix one per kernel (an
 * entry pinned to a kernel, like the full suite's negative control on
 * nolu-7.2, stays as is) and, for a scenario that needs a target kernel,
 * one per ordered pair. Pairings are data: a target comes from --to, the
 * entry's `to`, or the recipe's `upgradeTo`, in that order.
 */
export async function planScenarios(entries: readonly SuiteEntry[], scenarios: Record<string, ScenarioDefinition>, flags: PlanFlags): Promise<PlannedScenario[]> {
  const def = (e: SuiteEntry) => scenarios[e.name]!;
  if (flags.matrix) {
    if (flags.kernel || flags.to) throw new ConfigError('--matrix names the kernels itself; leave out --kernel and --to');
    const kernels = flags.matrix;
    if (kernels.length === 0) throw new ConfigError('--matrix names no kernel; give recipes like luo-7.2,luo-7.3');
    return entries.flatMap((entry): PlannedScenario[] => {
      if (def(entry).needsTarget) return matrixPairs(kernels).map((p) => ({ entry, definition: def(entry), kernel: p.from, to: p.to, suffix: pairSuffix(p) }));
      if (entry.kernel) return [{ entry, definition: def(entry), kernel: entry.kernel, suffix: '' }];
      return kernels.map((kernel) => ({ entry, definition: def(entry), kernel, suffix: ` [${kernel}]` }));
    });
  }
  const planned: PlannedScenario[] = [];
  for (const entry of entries) {
    const kernel = entry.kernel ?? flags.kernel ?? flags.suiteKernel ?? DEFAULT_RECIPE;
    let to = flags.to ?? entry.to;
    if (def(entry).needsTarget) {
      to ??= await recipeTarget(kernel);
      if (!to) throw new ConfigError(`${entry.name} live-updates into a second kernel, and none is named: give --to, the suite entry's "to", or the recipe's "upgradeTo"`);
    }
    planned.push({ entry, definition: def(entry), kernel, ...(to ? { to } : {}), suffix: '' });
  }
  return planned;
}

/** Every kernel the plan needs, resolved once: an artifact, or the error its build or lookup met (bad input throws at once). */
export async function resolveKernels(refs: readonly string[], say: (m: string) => void = () => {}): Promise<Map<string, KernelArtifact | HarnessError>> {
  const out = new Map<string, KernelArtifact | HarnessError>();
  for (const ref of [...new Set(refs)]) {
    try {
      const a = await resolveKernelRef(ref);
      say(`kernel ${ref}: ${a.manifest.release} (${a.manifest.key.slice(0, 12)})`);
      for (const s of a.manifest.series ?? []) say(`  series v${s.version} "${s.subject}": ${s.applied} of ${s.total} patch(es)${s.messageId ? ` <${s.messageId}>` : ''}`);
      // Never silent: a patch that needed fuzz is named wherever the kernel is.
      for (const f of a.manifest.fuzzed ?? []) say(`  patch ${f.patch} applied only with fuzz: ${f.hunks.join('; ')}`);
      out.set(ref, a);
    } catch (error) {
      if (error instanceof ConfigError || !(error instanceof HarnessError)) throw error;
      // A kernel that did not build fails the scenarios that need it, not the whole run.
      say(`kernel ${ref}: ${error.message}`);
      out.set(ref, error);
    }
  }
  return out;
}

/** The kernels a plan boots, in order of first use. */
export const plannedKernels = (planned: readonly PlannedScenario[]) => [...new Set(planned.flatMap((p) => [p.kernel, ...(p.to ? [p.to] : [])]))];
