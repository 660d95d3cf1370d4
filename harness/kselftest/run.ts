// Runs the kernel's own Live Update selftests (built into every kernel
// artifact) in a harness guest, staged around kexec as kselftest-plan.ts
// plans them: stage 1 of a batch, one live update through the agent, stage 2
// of the batch, the next round chained on the same machine. One
// ScenarioResult per selftest, with the blackout of its kexec.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { BootError, BuildFailure, ConfigError, HarnessError, KernelFault, TestFailure } from '../errors.ts';
import { artifactPath, type KernelArtifact } from '../kernel/artifact.ts';
import { ensureIntact } from '../kernel/integrity.ts';
import { cacheRoot } from '../paths.ts';
import { readSelftestBuild, type SelftestBuild } from './discovery.ts';
import { parseKconfig } from '../kernel/kconfig.ts';
import { collectMachineLogs, newRunDir } from '../liveupdate/machine-logs.ts';
import type { Artifact, Check, IterationResult, ScenarioResult, Status } from '../report/result.ts';
import { GuestTimeout } from '../guest/errors.ts';
import { shellQuote } from '../guest/shell-quote.ts';
import { DEFAULT_GUEST_SELFTEST_DIR, optionsNamed, planKselftests, type GuestCommand } from './plan.ts';
import { commandChecks, consoleExcerpt, stageLabel, testReason, testStatus } from './results.ts';
import { boot, resolveKernel, type LiveVm } from '../liveupdate/live-vm.ts';
import { judgeSelftestSkip } from '../kernel/capabilities.ts';

/** Leaves /dev/liveupdate to the selftests: the agent otherwise opens it at start and holds it. */
export const AGENT_DEVICE_OFF = 'luo_agent.device=off';
const SELFTEST_SHARE_TAG = 'selftests';
/** A stage command's own check that its binary is there (exit status and first line), so a missing one is a sentence, never a shell's 127. */
const MISSING_EXIT = 125;
const MISSING_LINE = 'LUO-HARNESS-MISSING';
/** Guest memory when a device test runs: the series' kexec test fallocates 1 GiB + 1 MiB and carries it across the kexec. */
const DEVICE_TEST_MEMORY_MIB = 2560;

export interface RunKselftestsOptions {
  /** Recipe, artifact reference or artifact: stage 1 (and the tests without stages) run on it. */
  kernel: string | KernelArtifact;
  /** Live-update into this kernel for stage 2 (default: the same kernel). */
  to?: string | KernelArtifact;
  /** Only these selftests (default: all the artifact built). */
  tests?: readonly string[];
  /** false: every staged test gets a kexec of its own (default true: batches share one). */
  batch?: boolean;
  /** Skip every test when the kernel lacks an option of the selftests' own config, as vmtest.sh does (default: warn). */
  strictConfig?: boolean;
  /** Results directory: console logs and outputs go to its kselftest/ folder; artifact paths are relative to it. */
  resultsDir: string;
  log?: (message: string) => void;
  /** Appended to every result name, e.g. ` [luo-7.2 -> luo-7.3]`. */
  nameSuffix?: string;
  /** Run the tests without stages (`liveupdate`) too (default true). */
  direct?: boolean;
  /** Where the binaries appear in the guest (default /opt/selftests). */
  guestDir?: string;
  /** Deadline of one selftest command (default 180 s; past it the test counts as hung). */
  commandTimeoutMs?: number;
  /** Deadline of a boot and of a kexec to SSH (default 180 s). */
  bootTimeoutMs?: number;
}

/**
 * A test's way through the run: `pending` (nothing ran yet, or a test
 * without stages before its run), `holding` (stage 1 passed: its child holds
 * the sessions until the kexec), `kexeced` (the kexec passed: stage 2 may
 * run), `done` (nothing more will run). Only these moves happen:
 * pending -> holding -> kexeced -> done, and any phase -> done.
 */
type Phase = 'pending' | 'holding' | 'kexeced' | 'done';

interface TestRecord {
  name: string;
  staged: boolean;
  startedAt?: number;
  endedAt?: number;
  checks: Check[];
  iterations: IterationResult[];
  artifacts: Artifact[];
  params: Record<string, unknown>;
  /** Where the test is; see Phase. */
  phase: Phase;
  /** Set when stage 2 ran on another kernel than stage 1. */
  to?: string;
}

/** Why a guest stopped answering, judged from its console: a kernel at fault is `fail`, anything else `error`. */
async function judgeGuestLoss(vm: LiveVm, afterSeq: number, waitMs: number): Promise<{ status: Status; message: string }> {
  try {
    // Never matches: it settles when the console shows a fault, QEMU exits, or the wait ends.
    await vm.console.waitForLine(/(?!)/, { deadlineMs: waitMs, afterSeq });
  } catch (error) {
    const fault = vm.console.faults.find((f) => f.line.seq > afterSeq);
    if (error instanceof KernelFault && fault) {
      // The report from its first line on: the panic/oops line and its trace.
      const report = vm.console.lines().filter((l) => l.seq >= fault.line.seq).slice(0, 25).map((l) => l.text).join('\n');
      return { status: 'fail', message: `the kernel crashed (${fault.kind}) on boot ${fault.boot}; the console from its report on:\n${report}` };
    }
    if (error instanceof KernelFault) return { status: 'fail', message: `${error.message}\n${consoleExcerpt(error.detail ?? '')}` };
    if (vm.console.ended && !vm.console.ended.infra) {
      return { status: 'fail', message: `the guest died (${vm.console.ended.description}); console tail:\n${consoleExcerpt(vm.console.tail())}` };
    }
  }
  return { status: 'error', message: `the guest stopped answering over SSH without a kernel fault on the console; console tail:\n${consoleExcerpt(vm.console.tail())}` };
}

/** A live update that did not complete: a kernel fault or a hang is the kernel's failure, the host's trouble is an error. */
function judgeKexecError(error: unknown, vm: LiveVm): { status: Status; message: string } {
  const message = error instanceof Error ? error.message : String(error);
  const tail = error instanceof HarnessError && error.detail ? error.detail : vm.console.tail();
  const kernelAtFault = error instanceof KernelFault || error instanceof BootError || error instanceof TestFailure || vm.console.faults.some((f) => f.boot > vm.bootIndex);
  return { status: kernelAtFault ? 'fail' : 'error', message: `${message}\n${consoleExcerpt(tail)}` };
}

/** Why a selftest binary was not there to run, from the boot's readiness line. */
function missingBinary(vm: LiveVm, binary: string, guestDir: string): string {
  const ready = vm.ready;
  const where = `the share '${SELFTEST_SHARE_TAG}' at ${guestDir}`;
  if (!ready || !ready.shares.includes(SELFTEST_SHARE_TAG)) {
    return `${binary} was missing in boot ${vm.bootIndex}: ${where} was not mounted (the guest's readiness line lists ${ready?.shares.join(', ') || 'no share'})`;
  }
  return `${binary} was missing in boot ${vm.bootIndex}: ${where} was mounted (guest-ready ${(ready.ms / 1000).toFixed(1)} s after the machine started) but does not hold it (an incomplete selftest build in the artifact?)`;
}

/**
 * Every option the selftests ask about (their requirements, their modes',
 * their config fragment's), from the kernel's own .config: the manifest
 * records a fixed few, and an option the file does not set is off.
 */
async function optionsAsked(kernel: KernelArtifact, build: SelftestBuild): Promise<Record<string, boolean>> {
  const { values } = parseKconfig(await readFile(artifactPath(kernel, 'config'), 'utf8'));
  const asked = new Set([
    ...optionsNamed(build.tests),
    ...Object.keys(build.configRequirements),
  ]);
  const options: Record<string, boolean> = { ...kernel.manifest.capabilities };
  for (const opt of asked) options[opt] = values.get(opt) === 'y' || values.get(opt) === 'm';
  return options;
}

/** A check per IOMMU mode a command left out: unsupported, with the options the kernel lacks. */
function leftOutChecks(cmd: GuestCommand): Check[] {
  return (cmd.leftOut ?? []).map((l) => ({
    name: `${stageLabel(cmd)}/${l.mode}`,
    status: 'unsupported' as const,
    message: `the ${l.mode} IOMMU mode was left out (-V ${l.mode}): it needs ${l.missing.join(', ')}, which this kernel lacks`,
  }));
}

const lastSeq = (vm: LiveVm) => vm.console.lines().at(-1)?.seq ?? -1;
const slug = (s: string) => s.replace(/[^A-Za-z0-9._-]+/g, '-');

/** Runs the selected selftests of `kernel`'s artifact; one result per selftest, named `kselftest/<test>`. */
export async function runKselftests(options: RunKselftestsOptions): Promise<ScenarioResult[]> {
  const log = options.log ?? (() => {});
  const first = await resolveKernel(options.kernel);
  const second = options.to ? await resolveKernel(options.to) : first;
  const crossing = second.manifest.key !== first.manifest.key;
  const st = first.manifest.selftests;
  if (!st) throw new ConfigError(`kernel ${first.manifest.recipe} (${first.manifest.key}) carries no selftests; rebuild it with the current pipeline`);
  if ('error' in st) throw new BuildFailure(`the liveupdate selftests of ${first.manifest.recipe} did not build: ${st.error}`);
  const guestDir = options.guestDir ?? DEFAULT_GUEST_SELFTEST_DIR;
  // The programs the guest runs, as the manifest recorded them: a corrupt one is named and moved aside, never run.
  await ensureIntact(cacheRoot(), first, { parts: ['selftests'], rebuildable: false });
  const build = await readSelftestBuild(artifactPath(first, 'selftests'));
  const plan = planKselftests(build, await optionsAsked(first, build), {
    ...(options.tests ? { tests: options.tests } : {}),
    ...(options.batch === false ? { batch: false } : {}),
    ...(options.strictConfig ? { strictConfig: true } : {}),
    guestDir,
  });
  for (const w of plan.warnings) log(`warning: ${w}`);
  const runDirect = options.direct ?? true;
  const commandTimeoutMs = options.commandTimeoutMs ?? 180_000;
  const bootTimeoutMs = options.bootTimeoutMs ?? 180_000;
  const suffix = options.nameSuffix ?? '';
  const outDir = join(options.resultsDir, 'kselftest', slug(crossing ? `${first.manifest.recipe}-to-${second.manifest.recipe}` : first.manifest.recipe));
  await mkdir(outDir, { recursive: true });
  const kexecLabel = `kexec ${first.manifest.release} -> ${second.manifest.release}`;

  const records = new Map<string, TestRecord>();
  const record = (name: string, staged: boolean, params: Record<string, unknown> = {}) => {
    const r: TestRecord = { name, staged, checks: [], iterations: [], artifacts: [], params, phase: 'pending' };
    records.set(name, r);
    return r;
  };
  if (runDirect) for (const name of plan.direct) record(name, false, { stages: 'none (no kexec)' });
  plan.rounds.forEach((round, i) => {
    for (const name of round.tests) {
      const alone = plan.alone.find((a) => a.test === name);
      record(name, true, {
        round: i + 1,
        rounds: plan.rounds.length,
        batchedWith: round.tests.filter((t) => t !== name),
        roundReason: round.reason,
        ...(alone ? { alone: alone.reason } : {}),
        ...(i > 0 && !crossing ? { chained: `stage 1 ran in boot ${i} of the machine that ran round ${i}, after its kexec` } : {}),
        stage1Kernel: first.manifest.release,
        stage2Kernel: second.manifest.release,
      });
    }
  });
  // A run without the direct tests reports only the staged ones, skipped or not.
  const skipped = runDirect ? plan.skipped : plan.skipped.filter((s) => build.tests.find((t) => t.name === s.test)?.staged !== false);
  const pending = () => [...records.values()].filter((r) => r.phase !== 'done');
  const finish = (r: TestRecord, check: Check) => {
    r.checks.push(check);
    r.phase = 'done';
    r.endedAt = performance.now();
  };

  // ---- the machine ------------------------------------------------------
  let vm: LiveVm | undefined;
  let vmAlive = false;
  let vmCount = 0;
  /** The tests that ran in (or waited through) each boot of the current machine: they get its console logs. */
  let touched = new Map<string, Set<number>>();
  const touch = (test: string, ...boots: number[]) => {
    const seen = touched.get(test) ?? new Set<number>();
    touched.set(test, seen);
    for (const b of boots) seen.add(b);
  };
  let vmRunDir = '';

  const saveLogs = async (runDir: string, n: number, tests: Map<string, Set<number>>) => {
    for (const { boot, path } of await collectMachineLogs(runDir, outDir, `vm${n}`)) {
      const artifact = { name: `vm${n} console, boot ${boot}`, path: relative(options.resultsDir, path) };
      for (const [t, boots] of tests) {
        // A test that never got to run (the boot failed) gets every log of the machine.
        if (boots.size === 0 || boots.has(boot)) records.get(t)?.artifacts.push(artifact);
      }
    }
  };

  const stopVm = async () => {
    if (!vm) return;
    const [old, dir, tests] = [vm, vmRunDir, touched];
    // Tests that were meant for this machine but never ran in it (it was lost first) get the logs of the machine they ran in.
    for (const [t, boots] of tests) if (boots.size === 0) tests.delete(t);
    vm = undefined;
    vmAlive = false;
    touched = new Map();
    await old.stop();
    await saveLogs(dir, vmCount - 1, tests);
  };

  const startVm = async (forTests: string[]) => {
    await stopVm();
    const n = vmCount++;
    vmRunDir = newRunDir(`kselftest-${n}`);
    touched = new Map();
    for (const t of forTests) touch(t);
    log(`booting ${first.manifest.recipe} (${first.manifest.release}) for ${forTests.join(', ')}`);
    try {
      vm = await boot({
        kernel: first,
        runDir: vmRunDir,
        // The VFIO series' tests drive a PCI device behind the vIOMMU: QEMU's edu.
        // Their kexec test also preserves a 1 GiB + 1 MiB memfd (MEMFD_SIZE) as its DMA buffer: room for it and a kernel on each side.
        ...(plan.boots.some((b) => b.commands.some((c) => c.device)) ? { devices: ['edu' as const], iommu: 'intel' as const, memoryMiB: DEVICE_TEST_MEMORY_MIB } : {}),
        shares: [{ hostPath: artifactPath(first, 'selftests'), tag: SELFTEST_SHARE_TAG, mount: guestDir }],
        cmdline: [AGENT_DEVICE_OFF],
        bindVfio: false,
        bootTimeoutMs,
        log,
        // A coverage kernel's counters, both sides of every kexec, land with the results.
        ...(first.manifest.coverage ? { coverageDir: join(options.resultsDir, 'kselftest', 'coverage', `${suffix.replace(/[^A-Za-z0-9._-]+/g, '_')}vm${n}`) } : {}),
      });
      vmAlive = true;
    } catch (error) {
      await saveLogs(vmRunDir, n, touched);
      throw error;
    }
  };

  /** Runs one command in the foreground; false when the guest was lost doing it (the machine is then given up). */
  const runCommand = async (cmd: GuestCommand): Promise<boolean> => {
    const rec = records.get(cmd.test)!;
    const guest = vm!;
    touch(cmd.test, guest.bootIndex);
    rec.startedAt ??= performance.now();
    const label = stageLabel(cmd);
    const afterSeq = lastSeq(guest);
    log(`${guest.kernel.manifest.release} boot ${guest.bootIndex}: ${cmd.shell}`);
    try {
      // A device test gets its device bound to vfio-pci first, in every boot (the series' own kexec test rebinds before stage 2).
      const env = cmd.device ? `VFIO_SELFTESTS_BDF=${(await guest.agent.call('vfio-bind', {})).bdf} ` : '';
      // 2>&1 in the guest keeps the test's stdout and stderr in their order.
      const bin = shellQuote(cmd.argv[0]!);
      const r = await guest.ssh.run(`if [ ! -x ${bin} ]; then echo ${MISSING_LINE}; exit ${MISSING_EXIT}; fi; ${env}${cmd.shell} 2>&1`, { timeoutMs: commandTimeoutMs });
      const output = r.stdout + r.stderr;
      const file = join(outDir, `${slug(cmd.test)}-boot${guest.bootIndex}-${cmd.stage === null ? 'run' : `stage${cmd.stage}`}.out`);
      await writeFile(file, output);
      rec.artifacts.push({ name: `${label} output`, path: relative(options.resultsDir, file) });
      const missing = r.exitCode === MISSING_EXIT && output.startsWith(MISSING_LINE);
      const checks = missing ? [{ name: label, status: 'error' as const, message: missingBinary(guest, cmd.argv[0]!, guestDir) }] : [...commandChecks(cmd, r.exitCode, output), ...leftOutChecks(cmd)];
      // A skip for a missing /dev/liveupdate on a kernel configured with it is a regression (one function decides).
      const blamesDevice = checks.filter((c) => c.status === 'skip' && /\/dev\/liveupdate/.test(c.message ?? ''));
      if (blamesDevice.length && guest.kernel.manifest.capabilities.LIVEUPDATE) {
        const exists = (await guest.ssh.run('test -e /dev/liveupdate')).exitCode === 0;
        for (const c of blamesDevice) {
          const judged = judgeSelftestSkip(guest.kernel.manifest.capabilities, c.message ?? '', exists);
          if (judged) Object.assign(c, judged);
        }
      }
      const faults = guest.console.faults.filter((f) => f.line.seq > afterSeq);
      if (faults.length > 0) {
        checks.push({
          name: `${label}: kernel log`,
          status: 'fail',
          message: `the kernel reported ${faults.map((f) => f.kind).join(', ')} while it ran: ${faults[0]!.line.text.trim()}\n${consoleExcerpt(guest.console.tail())}`,
        });
      }
      rec.checks.push(...checks);
      rec.endedAt = performance.now();
      const status = testStatus(checks);
      rec.phase = cmd.stage === 1 && status === 'pass' ? 'holding' : 'done';
      return true;
    } catch (error) {
      const hung = error instanceof GuestTimeout;
      const judged = await judgeGuestLoss(guest, afterSeq, hung ? 1_000 : 5_000);
      const status: Status = hung ? 'fail' : judged.status;
      const what = hung ? `${cmd.shell} did not finish within ${commandTimeoutMs / 1000} s (hung)` : `the guest was lost while ${cmd.shell} ran`;
      const why = hung && judged.status !== 'fail' ? `no kernel fault on the console; console tail:\n${consoleExcerpt(guest.console.tail())}` : judged.message;
      finish(rec, { name: label, status, message: `${what}: ${why}` });
      // Whoever waits for stage 2 in this machine lost its sessions with it.
      for (const other of pending()) {
        if (other.phase === 'holding' || other.phase === 'kexeced') {
          touch(other.name, guest.bootIndex);
          finish(other, { name: 'stage 2', status, message: `not run: its sessions went with the machine, ${hung ? `given up after ${cmd.test} ${label} hung` : `lost while ${cmd.test} ${label} ran`}: ${why}` });
        }
      }
      vmAlive = false;
      return false;
    }
  };

  const liveUpdate = async () => {
    const guest = vm!;
    const waiting = pending().filter((r) => r.phase === 'holding');
    try {
      const lu = await guest.liveUpdate({
        ...(crossing ? { to: second } : {}),
        cmdline: [AGENT_DEVICE_OFF],
        agentRestores: false,
        rebindVfio: false,
        deadlineMs: bootTimeoutMs,
      });
      for (const r of waiting) {
        r.checks.push({ name: kexecLabel, status: 'pass' });
        r.iterations.push({ index: r.iterations.length, status: 'pass', blackout: lu.blackout });
        r.params.boots = { stage1: lu.fromBoot, stage2: lu.toBoot };
        touch(r.name, lu.fromBoot, lu.toBoot);
        r.phase = 'kexeced';
        if (crossing) r.to = second.manifest.recipe;
      }
    } catch (error) {
      const judged = judgeKexecError(error, guest);
      for (const r of waiting) {
        touch(r.name, guest.bootIndex, guest.bootIndex + 1);
        finish(r, { name: kexecLabel, status: judged.status, message: judged.message });
      }
      vmAlive = false;
    }
  };

  const started = performance.now();
  try {
    for (const step of plan.boots) {
      const stage2 = step.commands.filter((c) => c.stage === 2 && records.get(c.test)?.phase === 'kexeced');
      const rest = step.commands.filter((c) => c.stage !== 2 && records.has(c.test) && records.get(c.test)!.phase !== 'done');
      // Stage 2 only where stage 1 and the kexec passed, in the machine that kexec'd.
      for (const cmd of stage2) if (vmAlive && !(await runCommand(cmd))) break;
      if (rest.length === 0) continue;
      for (const cmd of rest) {
        if (records.get(cmd.test)!.phase === 'done') continue;
        // A fresh machine when the last one was lost, or when it now runs the second kernel of an A -> B pair.
        if (!vm || !vmAlive || (crossing && vm.kernel.manifest.key !== first.manifest.key)) {
          const left = rest.filter((c) => records.get(c.test)!.phase !== 'done').map((c) => c.test);
          try {
            await startVm(left);
          } catch (error) {
            const judged = error instanceof KernelFault || error instanceof BootError ? 'fail' : 'error';
            const message = `the guest did not boot: ${error instanceof Error ? error.message : String(error)}${error instanceof HarnessError && error.detail ? `\n${consoleExcerpt(error.detail)}` : ''}`;
            for (const r of pending()) finish(r, { name: 'boot', status: judged, message });
            break;
          }
        }
        await runCommand(cmd);
      }
      if (step.kexecAfter && vmAlive && pending().some((r) => r.phase === 'holding')) await liveUpdate();
    }
  } finally {
    await stopVm();
  }

  // Anything left undecided did not get its turn (an earlier machine was lost).
  for (const r of pending()) finish(r, { name: 'not run', status: 'error', message: 'the selftest did not get to run: the guest was lost before its turn' });
  log(`selftests done in ${((performance.now() - started) / 1000).toFixed(1)} s`);

  const kernel = first.manifest.recipe;
  const results: ScenarioResult[] = [];
  for (const s of skipped) {
    results.push({ name: `kselftest/${s.test}${suffix}`, status: s.status, reason: s.reason, durationMs: 0, checks: [], iterations: [], artifacts: [], kernel });
  }
  for (const r of records.values()) {
    const status = testStatus(r.checks);
    const reason = testReason(r.checks);
    results.push({
      name: `kselftest/${r.name}${suffix}`,
      status,
      ...(reason ? { reason } : {}),
      durationMs: r.startedAt !== undefined && r.endedAt !== undefined ? Math.round(r.endedAt - r.startedAt) : 0,
      checks: r.checks,
      iterations: r.iterations,
      artifacts: r.artifacts,
      kernel,
      ...(r.to ? { to: r.to } : {}),
      params: r.params,
    });
  }
  return results;
}
