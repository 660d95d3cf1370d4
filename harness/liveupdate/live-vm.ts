// A booted guest ready for live-update tests: kernel artifact -> guest image
// with the agent built for that kernel -> a target booting them (a QEMU
// machine, or a remote host kexec'd into them) -> SSH -> agent.
// `liveUpdate()` kexecs through the agent and measures the blackout.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { TestFailure } from '../errors.ts';
import { artifactPath, type KernelArtifact } from '../kernel/artifact.ts';
import { resolveKernelRef } from '../kernel/refs.ts';
import { DEFAULT_RECIPE } from '../kernel/recipe.ts';
import { agentBinaryFor } from '../image/agent-binary.ts';
import { buildGuestImage } from '../image/build.ts';
import { prepareRunInitrd } from '../image/run-initrd.ts';
import type { AccelRequest, DeviceRequest, IommuKind } from '../vm/spec.ts';
import type { GuestDevice } from '../vm/qemu-args/devices.ts';
import { GuestSession, waitForSsh } from '../guest/session.ts';
import { AgentClient } from '../agent/client.ts';
import { AgentRelay } from '../agent/relay.ts';
import { AGENT_BIN } from '../agent/protocol.ts';
import { qemuLauncher, type Target, type TargetLauncher } from '../target/target.ts';
import { explainFailure } from './explain.ts';
import { newRunDir } from './machine-logs.ts';
import { blackoutTimeline } from './timeline.ts';
import { guestArgs, renderCmdline, sharesOf, type KernelCmdline } from './cmdline.ts';
import { Waterfall } from './waterfall.ts';
import { waitForGuestReady, type GuestReady } from './readiness.ts';
import type { BlackoutTimeline } from '../report/result.ts';
import { CoverageCaptures } from './coverage-captures.ts';

type AgentStatus = Awaited<ReturnType<AgentClient['status']>>;

export interface BootOptions {
  /** Recipe name, artifact reference (key, directory) or artifact. Default: the default recipe. */
  kernel?: string | KernelArtifact;
  devices?: DeviceRequest[];
  iommu?: IommuKind;
  accel?: AccelRequest;
  memoryMiB?: number;
  cpus?: number;
  /** Kernel arguments after everything else (they win). */
  cmdline?: string[];
  /** Boot with Live Update on (default) or off (`liveupdate=off`: no /dev/liveupdate). */
  liveUpdate?: boolean;
  /** Where the machine's files go (console logs, keys, initrd). Default: a new directory under the cache's runs/. */
  runDir?: string;
  /** More host directories for the guest: each is mounted read-only at `mount`. */
  shares?: { hostPath: string; tag: string; mount: string }[];
  /** A second serial line (ttyS1) read by the harness with host timestamps (QEMU targets only). */
  auxSerial?: boolean;
  /** Bind the emulated devices to vfio-pci once SSH is up (default true). */
  bindVfio?: boolean;
  /** Deadline for boot to SSH (default 180 s: TCG on a busy host is slow). */
  bootTimeoutMs?: number;
  /** Records where the time goes (default: a waterfall of this machine's own). */
  waterfall?: Waterfall;
  /** Where the machine comes from (default: a new QEMU machine; a remote host: target/remote.ts). */
  target?: TargetLauncher;
  /**
   * A coverage kernel's counters go here, one capture per boot (coverage/capture.ts):
   * read at each kexec through QEMU's debugger stub, and from debugfs when the machine stops.
   */
  coverageDir?: string;
  log?: (message: string) => void;
}

export interface VfioDevice {
  kind: GuestDevice['kind'];
  bdf: string;
  cdev: string;
}

/** A kexec done: from which boot to which, into which kernel. */
export interface Kexec {
  fromBoot: number;
  toBoot: number;
  kernel: KernelArtifact;
}

/** A measured live update: the kexec and its blackout timeline. */
export interface LiveUpdate extends Kexec {
  blackout: BlackoutTimeline;
}

export interface LiveUpdateOptions {
  to?: string | KernelArtifact;
  deadlineMs?: number;
  rebindVfio?: boolean;
  cmdline?: string[];
  /** Expect the agent to restore a plan (default); false when other programs hold the sessions. */
  agentRestores?: boolean;
  /**
   * Read the blackout timeline from the console (default). false: nobody
   * measures this kexec (the fuzzer), so a console that does not tell every
   * phase is no failure of it.
   */
  measure?: boolean;
}

/** A kernel artifact, or one named by a kernel reference (kernel/refs.ts): a recipe is built or found in the cache. */
export async function resolveKernel(ref: string | KernelArtifact | undefined): Promise<KernelArtifact> {
  if (ref && typeof ref === 'object') return ref;
  return resolveKernelRef(ref ?? DEFAULT_RECIPE);
}

export async function boot(options: BootOptions = {}): Promise<LiveVm> {
  const log = options.log ?? (() => {});
  const waterfall = options.waterfall ?? new Waterfall();
  const launcher = options.target ?? qemuLauncher;
  const kernel = await resolveKernel(options.kernel);
  const runDir = options.runDir ?? newRunDir();
  const { initrd, keys } = await waterfall.time('guest image and agent', 'harness', async () => {
    const image = await buildGuestImage({ agentBinary: await agentBinaryFor(kernel) });
    return prepareRunInitrd(image, runDir);
  });

  const parts: Omit<KernelCmdline, 'machine'> = {
    recipe: kernel.manifest.cmdline,
    liveUpdate: options.liveUpdate ?? true,
    shares: (options.shares ?? []).map(({ tag, mount }) => ({ tag, mount })),
    extra: options.cmdline ?? [],
  };
  const target = await waterfall.time(launcher.launchLabel, 'machine', () =>
    launcher.launch({
      kernel: artifactPath(kernel, 'bzImage'),
      initrd,
      args: guestArgs({ ...parts, machine: [] }, 0),
      runDir,
      keys,
      log,
      ...(options.shares ? { shares: options.shares } : {}),
      ...(options.devices ? { devices: options.devices } : {}),
      ...(options.iommu ? { iommu: options.iommu } : {}),
      ...(options.accel ? { accel: options.accel } : {}),
      ...(options.memoryMiB ? { memoryMiB: options.memoryMiB } : {}),
      ...(options.cpus ? { cpus: options.cpus } : {}),
      ...(options.auxSerial ? { auxSerial: true } : {}),
      ...(options.coverageDir ? { debugStub: true } : {}),
    }),
  );
  const deadlineMs = options.bootTimeoutMs ?? 180_000;
  try {
    log(`booting ${kernel.manifest.recipe} (${kernel.manifest.release}) on ${target.kind}, ssh on ${target.ssh.host}:${target.ssh.port}`);
    const ready = waitForGuestReady(target.console, { boot: 0, shares: sharesOf({ ...parts, machine: target.machineCmdline }), agent: true, deadlineMs });
    ready.catch(() => {});
    const connectStart = waterfall.now();
    const ssh = await waitForSsh({
      ...target.ssh,
      keys: { clientPrivateKey: keys.clientPrivateKey, hostPublicKey: keys.hostPublicKey },
      consoleReady: target.console.waitForMarker('sshd-ready', { deadlineMs, boot: 0 }),
      deadlineMs,
    }).catch(async (error: unknown) => {
      // init holds sshd-ready until its shares are mounted: when both waits fail, the readiness
      // error says which resource was missing, where SSH's would only say that it timed out.
      const other = await Promise.race([ready.then(() => undefined, (e: unknown) => e), new Promise((r) => setTimeout(r, 2000).unref())]);
      throw other ?? error;
    });
    const connected = waterfall.now();
    const vm = new LiveVm(target, ssh, kernel, { ...parts, machine: target.machineCmdline }, runDir, log, waterfall, initrd);
    if (options.coverageDir) vm.coverage = new CoverageCaptures(options.coverageDir, target.debugStub);
    // Nothing runs before the guest says everything is in place (SSH answers before the shares are mounted).
    vm.ready = await ready;
    vm.recordBoot(0, connectStart, connected);
    if (options.bindVfio ?? true) await vm.bindVfio();
    return vm;
  } catch (error) {
    const explained = await explainFailure(error, target.console, 0);
    await target.stop();
    throw explained;
  }
}

export class LiveVm implements AsyncDisposable {
  readonly agent: AgentClient;
  /** Devices bound to vfio-pci in the current boot. */
  vfio: VfioDevice[] = [];
  /** The current boot's guest-ready line: what init set up, and when. */
  ready: GuestReady | undefined;
  /** The kernel running now (changes with an A -> B live update). */
  kernel: KernelArtifact;
  /** Where a coverage kernel's counters go, boot by boot (boot() sets it when asked for coverage). */
  coverage: CoverageCaptures | undefined;
  #boot = 0;
  #stopped = false;

  /** The running kernel's command line, in parts: the next kexec's is built from it. */
  #cmdline: KernelCmdline;

  constructor(
    readonly target: Target,
    readonly ssh: GuestSession,
    kernel: KernelArtifact,
    cmdline: KernelCmdline,
    readonly runDir: string,
    readonly log: (message: string) => void,
    readonly waterfall: Waterfall = new Waterfall(),
    /** The per-run initrd (keys included): every kexec loads it again. */
    readonly initrd: string = join(runDir, 'initrd'),
  ) {
    this.kernel = kernel;
    this.#cmdline = cmdline;
    // Refusals are judged against the kernel running now, which an A -> B live update changes.
    this.agent = new AgentClient(new AgentRelay(ssh), () => ({ capabilities: this.kernel.manifest.capabilities, label: `${this.kernel.manifest.recipe} (${this.kernel.manifest.release})` }));
    this.agent.onCall = (verb) => this.waterfall.start(`agent ${verb}`, 'agent');
  }

  /** How many kexecs this guest has been through. */
  get bootIndex(): number {
    return this.#boot;
  }

  get console() {
    return this.target.console;
  }

  exec(command: string, timeoutMs?: number) {
    return this.ssh.exec(command, timeoutMs ? { timeoutMs } : {});
  }

  /** A guest command's stdout; a failure rejects with a GuestCommandError that carries its stderr (30 s at most). */
  readonly stdout = (command: string): Promise<string> => this.ssh.exec(command, { timeoutMs: 30_000 }).then((r) => r.stdout);

  /** Binds every emulated device to vfio-pci (driver_override) and records its /dev/vfio/devices cdev. */
  async bindVfio(): Promise<VfioDevice[]> {
    this.vfio = [];
    for (const d of this.target.devices) {
      const bound = await this.agent.call('vfio-bind', { bdf: d.guestBdf });
      this.vfio.push({ kind: d.kind, bdf: bound.bdf, cdev: bound.cdev });
    }
    return this.vfio;
  }

  /**
   * kexec into `to` (default: the running kernel) through the agent's
   * kexec_file_load, wait for the new kernel's agent and sshd, reconnect,
   * and return the blackout timeline (unless `measure: false`).
   */
  liveUpdate(options: LiveUpdateOptions & { measure: false }): Promise<Kexec>;
  liveUpdate(options?: LiveUpdateOptions): Promise<LiveUpdate>;
  async liveUpdate(options: LiveUpdateOptions = {}): Promise<Kexec | LiveUpdate> {
    const target = options.to ? await resolveKernel(options.to) : this.kernel;
    const deadlineMs = options.deadlineMs ?? 180_000;
    const fromBoot = this.#boot;
    const toBoot = fromBoot + 1;
    const [kernelPath, initrdPath] = await this.waterfall.time('stage the kernel for kexec', 'harness', async () => [
      await this.target.stage(artifactPath(target, 'bzImage'), `bzImage-${target.manifest.key}`, this.ssh),
      await this.target.stage(this.initrd, 'initrd', this.ssh),
    ]);
    const next: KernelCmdline = { ...this.#cmdline, recipe: target.manifest.cmdline, extra: [...this.#cmdline.extra, ...(options.cmdline ?? [])] };
    // The TSC frequency the running kernel measured (its agent's marker; NaN without one): the target may hand it on.
    const tscKhz = Number(this.console.markers('tsc-khz', fromBoot).at(-1)?.fields.khz);
    const cmdline = renderCmdline({ ...next, kexec: this.target.kexecCmdline(tscKhz) }, toBoot);
    await this.agent.call('kexec-load', { kernel: kernelPath!, initrd: initrdPath!, cmdline });

    const restored = this.console.waitForMarker(options.agentRestores === false ? 'agent-ready' : 'agent-restored', { deadlineMs, boot: toBoot });
    const ready = waitForGuestReady(this.console, { boot: toBoot, shares: sharesOf(next), agent: true, deadlineMs });
    // Reconnect eagerly: from the moment the new kernel runs init, every 10 ms, so
    // the handshake starts as soon as sshd listens (it costs more than the restore).
    // The connection alone never means ready: guest-ready below does.
    const userspace = this.console.waitForMarker('init', { deadlineMs, boot: toBoot });
    for (const p of [restored, ready, userspace]) p.catch(() => {});
    this.log(`kexec ${this.kernel.manifest.release} -> ${target.manifest.release} (boot ${fromBoot} -> ${toBoot})`);
    // A coverage kernel: stop at machine_kexec and read its counters there (the reboot path included).
    const probe = this.coverage ? await this.coverage.armKexec(this.kernel, fromBoot, this.stdout) : undefined;
    // The reply leaves before the freeze; the pause only lets it reach the host.
    await this.agent.call('kexec-exec', { 'delay-ms': 20 }).catch(async (e: unknown) => {
      await probe?.cancel(`the kexec was not started: ${(e as Error).message}`);
      throw e;
    });
    const captured = probe?.collect(deadlineMs);
    await this.ssh.reconnect({ consoleReady: userspace, deadlineMs, retryEveryMs: 10, attemptTimeoutMs: 3000 });
    await captured;
    await this.ssh.exec('true');
    const sshReadyMs = Number(process.hrtime.bigint() - this.console.origin) / 1e6;
    await restored.catch((e: unknown) => {
      throw new TestFailure(`the agent did not report its restore after the kexec into boot ${toBoot}`, { cause: e });
    });
    this.ready = await ready;
    this.#boot = toBoot;
    this.kernel = target;
    this.#cmdline = { ...next, extra: this.#cmdline.extra };
    const blackout = options.measure === false ? undefined : blackoutTimeline({ lines: this.console.lines(), fromBoot, sshReadyMs, guestReadyMs: this.ready.ms });
    if (blackout) this.#recordBlackout(fromBoot, blackout);
    if (options.rebindVfio ?? true) await this.bindVfio();
    return { fromBoot, toBoot, kernel: target, ...(blackout ? { blackout } : {}) };
  }

  /**
   * SIGKILL the agent and start a new one, as a crashed VMM is replaced: every
   * fd the old one held closes at once. The old one is waited for (its fds
   * released) before the new one opens /dev/liveupdate, which admits one
   * opener. Returns the new agent's status (whether it holds /dev/liveupdate).
   */
  async restartAgent(): Promise<AgentStatus> {
    const { pid } = await this.agent.status();
    await this.exec(`kill -9 ${pid}; while kill -0 ${pid} 2>/dev/null; do usleep 5000; done; ${AGENT_BIN} daemon`, 30_000);
    this.agent.forgetAll();
    return this.agent.status();
  }

  /** The cold boot's spans: QEMU up -> the kernel reaches init -> sshd -> SSH connected. */
  recordBoot(boot: number, connectStart: number, connected: number): void {
    const at = (name: string) => this.console.markers(name, boot)[0]?.line.ms;
    const on = (ms: number | undefined) => (ms === undefined ? undefined : this.waterfall.fromConsole(this.console.origin, ms));
    const init = on(at('init'));
    const sshd = on(at('sshd-ready'));
    const spawned = on(0)!;
    if (init !== undefined) this.waterfall.add('kernel boot to init', 'boot', spawned, init);
    if (init !== undefined && sshd !== undefined) this.waterfall.add('init to sshd-ready', 'boot', init, sshd);
    this.waterfall.add('SSH connect', 'ssh', Math.max(connectStart, sshd ?? connectStart), connected);
  }

  /** A live update's phases on the waterfall, each where it happened. */
  #recordBlackout(fromBoot: number, blackout: BlackoutTimeline): void {
    const freeze = this.console.markers('freeze', fromBoot)[0]?.line.ms;
    if (freeze === undefined) return;
    let at = this.waterfall.fromConsole(this.console.origin, freeze);
    for (const p of blackout.phases) {
      this.waterfall.add(`blackout: ${p.name}`, 'blackout', at, at + p.ms);
      at += p.ms;
    }
  }

  /**
   * What an error met while this machine ran really was, as the console tells
   * it: a lost connection while the kernel crashed is that KernelFault; a
   * machine that stopped answering is an InfraError that carries the console tail.
   */
  explain(error: unknown): Promise<unknown> {
    return explainFailure(error, this.console, this.#boot);
  }

  /** Console log files written so far, one per boot. */
  consoleLogs(): { name: string; path: string }[] {
    return Array.from({ length: this.console.boot + 1 }, (_, i) => ({ name: `console boot ${i}`, path: join(this.runDir, `console-boot${i}.log`) }));
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    // The last kernel's counters, while its SSH still answers (a crashed kernel's miss is recorded).
    await this.coverage?.atEnd(this.kernel, this.#boot, this.stdout);
    await this.ssh.stop().catch(() => {});
    await this.target.stop();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /** Removes the run directory (keys, initrd copies) once its logs are saved elsewhere. */
  async discard(): Promise<void> {
    await this.stop();
    await rm(this.runDir, { recursive: true, force: true });
  }
}
