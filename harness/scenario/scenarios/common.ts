// Steps most scenarios share: boot a machine the runner will stop, check
// that the kernel can live-update at all, and one verified live update.
import { join } from 'node:path';
import type { ScenarioContext } from '../scenario.ts';
import { boot, type BootOptions, type LiveUpdate, type LiveVm } from '../../liveupdate/live-vm.ts';
import type { PreservedMemfd } from '../../agent/client.ts';
import { TestFailure, Unsupported } from '../../errors.ts';
import { collectMachineLogs, newRunDir } from '../../liveupdate/machine-logs.ts';
import { restoreErrorChecks } from '../../liveupdate/restore-checks.ts';
import { LATE_CLOCK_TITLE } from '../../report/result.ts';

/** Boots `ctx.kernel` (or options.kernel) for a scenario; its console logs become the scenario's artifacts. */
export async function bootFor(ctx: ScenarioContext<any>, options: BootOptions): Promise<LiveVm> {
  const n = machines.get(ctx) ?? 0;
  machines.set(ctx, n + 1);
  const runDir = newRunDir(`${ctx.name}-${n}`);
  const saveLogs = async () => {
    for (const { boot, path } of await collectMachineLogs(runDir, ctx.dir, `vm${n}`)) ctx.artifact(`vm${n} console, boot ${boot}`, path);
  };
  let vm: LiveVm;
  try {
    // A coverage kernel's counters, both sides of every kexec, land with the scenario's results.
    const coverage = ctx.kernel.manifest.coverage ? { coverageDir: join(ctx.dir, 'coverage', `vm${n}`) } : {};
    vm = await boot({ kernel: ctx.kernel, log: ctx.log, runDir, liveUpdate: ctx.liveUpdate, waterfall: ctx.waterfall, ...(ctx.target ? { target: ctx.target } : {}), ...coverage, ...options, cmdline: [...(options.cmdline ?? []), ...ctx.cmdline] });
  } catch (error) {
    await saveLogs();
    throw error;
  }
  ctx.own({
    stop: async () => {
      await vm.stop();
      await saveLogs();
    },
    explain: (error) => vm.explain(error),
  });
  return vm;
}

const machines = new WeakMap<object, number>();

/** A kernel without /dev/liveupdate makes the scenario unsupported (never a pass), with the reason. */
export async function requireLiveUpdate(ctx: ScenarioContext<any>, vm: LiveVm): Promise<void> {
  await ctx.check('/dev/liveupdate is present and the agent holds it', async () => {
    const s = await vm.agent.status();
    if (!s.liveupdate.present || !s.liveupdate.open) {
      const why = s.liveupdate.error ? `${s.liveupdate.error.op}: ${s.liveupdate.error.errno_name} (${s.liveupdate.error.message})` : 'the agent could not open it';
      throw new Unsupported(`no /dev/liveupdate on ${vm.kernel.manifest.recipe} (${vm.kernel.manifest.release}): ${why}`);
    }
  });
}

/** kexec, then verify every memfd fully; records the iteration with its blackout. */
export async function liveUpdateAndVerify(
  ctx: ScenarioContext<any>,
  vm: LiveVm,
  label: string,
  memfds: PreservedMemfd[],
  metrics: Record<string, number> = {},
  options: Parameters<LiveVm['liveUpdate']>[0] = {},
  /** Further figures to record with this live update, measured after the verification. */
  more?: () => Promise<Record<string, number>>,
  /** Set when this live update is unlike the scenario's others (a size): the gate compares like with like. */
  iterationLabel?: string,
): Promise<LiveUpdate> {
  const lu = await ctx.check(`${label}: kexec ${vm.kernel.manifest.recipe} -> ${options.to ? String(typeof options.to === 'string' ? options.to : options.to.manifest.recipe) : 'same kernel'}`, () => vm.liveUpdate(options));
  await checkRestore(ctx, vm, label);
  const started = performance.now();
  await ctx.check(`${label}: ${memfds.length} memfd(s) intact after the kexec`, () => ctx.waterfall.time(`${label}: verify ${memfds.length} memfd(s)`, 'verify', async () => {
    for (const m of memfds) await vm.agent.verify(m);
  }), { capability: 'memfd' });
  const verifyMs = Math.round(performance.now() - started);
  if (lu.blackout.lateClock) ctx.log(`${label}: ${LATE_CLOCK_TITLE}`);
  if (lu.blackout.agreement && !lu.blackout.agreement.ok) {
    ctx.log(`${label}: host and guest clocks disagree on freeze -> restored by ${lu.blackout.agreement.deltaMs} ms (host ${lu.blackout.phases.slice(0, 4).reduce((a, p) => a + p.ms, 0)} ms, guest TSC ${lu.blackout.guestTscMs} ms)`);
  }
  ctx.iteration({ blackout: lu.blackout, metrics: { verifyMs, ...metrics, ...(more ? await more() : {}) }, ...(iterationLabel ? { label: iterationLabel } : {}) });
  return lu;
}

export function expect(condition: boolean, message: string): void {
  if (!condition) throw new TestFailure(message);
}

/** Every item the agent could not restore after the kexec is a failed check of its own; any ends the scenario. */
export async function checkRestore(ctx: ScenarioContext<any>, vm: LiveVm, label: string): Promise<void> {
  const { restore } = await vm.agent.status();
  const failed = restoreErrorChecks(restore.errors, label);
  for (const c of failed) ctx.record(c);
  // The agent lists the first errors; the rest are counted, and counted here too.
  const total = failed.length + (restore.errors_not_listed ?? 0);
  if (total) throw new TestFailure(`${label}: the agent's restore after the kexec reported ${total} error(s)${restore.errors_not_listed ? ` (${restore.errors_not_listed} not listed; the console has each as agent-restore-error)` : ''}; first: ${failed[0]?.name ?? '?'}: ${failed[0]?.message ?? ''}`);
}
