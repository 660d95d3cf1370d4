// --coverage: every kernel a run boots becomes its coverage twin (a recipe
// built again with gcov on the live-update code, kernel/coverage-build.ts);
// a built artifact must already be one. Entries pinned to a kernel of their
// own (the negative control on nolu-7.2) keep it: their kernel has no
// live-update code to count.
import { execa } from 'execa';
import { ConfigError } from '../errors.ts';
import { cacheRoot } from '../paths.ts';
import { coverageRecipe } from '../kernel/derived-recipes.ts';
import { findArtifact, parseKernelRef } from '../kernel/refs.ts';
import type { PlannedScenario } from './plan.ts';

/** The coverage kernel for a reference: a recipe's twin, or the artifact itself when it was built for coverage. */
export async function coverageRef(ref: string): Promise<string> {
  const parsed = parseKernelRef(ref);
  if (parsed.kind === 'recipe') return coverageRecipe(parsed.ref, { cache: cacheRoot() });
  const found = await findArtifact(cacheRoot(), ref);
  if (found && !found.manifest.coverage) {
    throw new ConfigError(
      `--coverage: kernel ${ref} (${found.manifest.recipe}, ${found.manifest.release}) was not built for coverage: ${found.manifest.capabilities.GCOV_KERNEL ? 'it has CONFIG_GCOV_KERNEL but no coverage notes' : 'CONFIG_GCOV_KERNEL is not set'}; give its recipe instead and --coverage builds it with gcov`,
    );
  }
  return ref;
}

/** The plan with every kernel a scenario may choose replaced by its coverage twin. */
export async function coveragePlan(planned: readonly PlannedScenario[]): Promise<PlannedScenario[]> {
  const twins = new Map<string, string>();
  const twin = async (ref: string) => {
    if (!twins.has(ref)) twins.set(ref, await coverageRef(ref));
    return twins.get(ref)!;
  };
  const out: PlannedScenario[] = [];
  for (const p of planned) {
    if (p.entry.kernel && !p.to) out.push(p);
    else out.push({ ...p, kernel: await twin(p.kernel), ...(p.to ? { to: await twin(p.to) } : {}) });
  }
  return out;
}

/** The field's tools the report needs: refused before anything builds when one is missing. */
export async function checkCoverageTools(): Promise<void> {
  const missing: string[] = [];
  for (const tool of ['geninfo', 'lcov', 'genhtml']) {
    const r = await execa(tool, ['--version'], { reject: false });
    if (r.exitCode !== 0) missing.push(tool);
  }
  if (missing.length) throw new ConfigError(`--coverage needs ${missing.join(', ')} (Debian's lcov package): run scripts/setup-host.sh, or apt-get install lcov`);
}
