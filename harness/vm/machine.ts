// A QEMU machine: spawned in its own process group under a parent-death signal,
// its console monitored, its ssh forward on a free loopback port, its pidfile in
// the run dir. `stop()` is idempotent; `await using` stops it on scope exit.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, truncateSync, writeFileSync, openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, InfraError } from '../errors.ts';
import { chooseAccel, detectAccelerator, type AccelChoice, type AccelHost } from './accel.ts';
import { ConsoleLogWriter, RUN_LOG } from './console-log.ts';
import { ConsoleMonitor } from './console-monitor.ts';
import { AuxSerial } from './aux-serial.ts';
import { AUX_SERIAL_FD } from './qemu-args/console.ts';
import { qemuArgs } from './qemu-args/command.ts';
import { NVME_BACKING_BYTES, planDevices, type GuestDevice } from './qemu-args/devices.ts';
import { registerLive, unregisterLive } from './live-machines.ts';
import { processStartTime, removePidfile, writePidfile } from './pidfile.ts';
import { freeLoopbackPort, isHostForwardFailure } from './ports.ts';
import { resolveSpec, type Accel, type MachineSpec, type ResolvedSpec } from './spec.ts';
import { killGroup } from '../util/kill-group.ts';

export interface MachineOptions {
  /** Host facts for `accel: auto` (default: the real host, with a KVM probe guest). */
  accelHost?: AccelHost;
  /** Host ports tried before giving up when another process grabs the one probed (default 5). */
  portAttempts?: number;
  /** How long QEMU must stay up, silent, before its startup counts as done (default 2000 ms). */
  startupSettleMs?: number;
  /** SIGTERM to SIGKILL grace in stop() (default 3000 ms). */
  stopGraceMs?: number;
  /** Picks the host port for the ssh forward (default: a free loopback port; tests inject a taken one). */
  pickPort?: () => Promise<number>;
  /** Reads a host PCI device's `vendor:device` (default: from sysfs). */
  hostIds?: (hostBdf: string) => string | undefined;
}

export interface QemuExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** QEMU's stderr (last 64 KiB). */
  stderr: string;
}

/** What start() reports; `accel` belongs in every result record. */
export interface StartInfo {
  accel: Accel;
  accelReason: string;
  sshPort: number;
  devices: readonly GuestDevice[];
  qemuPid: number;
}

interface Running {
  child: ChildProcess;
  console: ConsoleMonitor;
  auxSerial: AuxSerial | undefined;
  sshPort: number;
  exited: Promise<QemuExit>;
  argv: string[];
}

const STDERR_LIMIT = 64 * 1024;

function hostIdsFromSysfs(hostBdf: string): string | undefined {
  try {
    const read = (file: string) => readFileSync(`/sys/bus/pci/devices/${hostBdf}/${file}`, 'utf8').trim().replace(/^0x/, '');
    return `${read('vendor')}:${read('device')}`;
  } catch {
    return undefined;
  }
}

function describeExit(exit: QemuExit): string {
  const how = exit.signal ? `was killed by ${exit.signal}` : `exited with status ${exit.code}`;
  const last = exit.stderr.trim().split('\n').filter(Boolean).pop();
  return `QEMU ${how}${last ? ` (${last})` : ''}`;
}

/** A host-side reason an exit is not the kernel's fault, if any. */
function infraReason(exit: QemuExit): string | undefined {
  if (/KVM internal error/.test(exit.stderr)) return 'KVM failed to run the guest (try accel tcg)';
  if (isHostForwardFailure(exit.stderr)) return 'QEMU could not bind the ssh forward port';
  return undefined;
}

export class Machine implements AsyncDisposable {
  readonly spec: ResolvedSpec;
  readonly #options: MachineOptions;
  #running: Running | undefined;
  #accel: AccelChoice | undefined;
  #devices: GuestDevice[] = [];
  #starting: Promise<StartInfo> | undefined;
  #stopping: Promise<void> | undefined;

  constructor(spec: MachineSpec, options: MachineOptions = {}) {
    this.spec = resolveSpec(spec);
    this.#options = options;
  }

  /** Boot a machine and return it started (convenience for `await using vm = await Machine.boot(spec)`). */
  static async boot(spec: MachineSpec, options?: MachineOptions): Promise<Machine> {
    const machine = new Machine(spec, options);
    await machine.start();
    return machine;
  }

  /** Spawn QEMU. Resolves once QEMU is past its own startup (the guest then boots on its own). Once only. */
  start(): Promise<StartInfo> {
    this.#starting ??= this.#start();
    return this.#starting;
  }

  get accel(): Accel {
    return this.#started().accel;
  }

  /** Why this accelerator was chosen (for the result record). */
  get accelReason(): string {
    this.#started();
    return this.#accel!.reason;
  }

  get sshPort(): number {
    return this.#started().sshPort;
  }

  get console(): ConsoleMonitor {
    return this.#started().console;
  }

  /** ttyS1, when the spec asked for it (auxSerial). */
  get auxSerial(): AuxSerial | undefined {
    return this.#started().auxSerial;
  }

  /** Where the guest finds each requested device, in request order. */
  get devices(): readonly GuestDevice[] {
    return this.#devices;
  }

  /** Resolves (never rejects) when QEMU exits. */
  get exited(): Promise<QemuExit> {
    return this.#started().exited;
  }

  get qemuPid(): number {
    return this.#started().child.pid!;
  }

  /** QEMU's argv (without the binary), as spawned. */
  get argv(): readonly string[] {
    return this.#started().argv;
  }

  get runDir(): string {
    return this.spec.runDir;
  }

  /**
   * Stop QEMU: SIGTERM (QEMU's clean "quit", the same as QMP `quit`), then SIGKILL to
   * the whole process group after a grace period. Idempotent; safe before start.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  #started(): Running & { accel: Accel } {
    if (!this.#running || !this.#accel) throw new InfraError('The machine has not been started; call start() first.');
    return { ...this.#running, accel: this.#accel.accel };
  }

  async #start(): Promise<StartInfo> {
    const spec = this.spec;
    for (const [what, path] of [['kernel', spec.kernel], ['initrd', spec.initrd]] as const) {
      if (path !== undefined && !existsSync(path)) throw new ConfigError(`The ${what} image ${path} does not exist.`);
    }
    mkdirSync(spec.runDir, { recursive: true });
    this.#accel = this.#options.accelHost
      ? await chooseAccel(spec.accel, this.#options.accelHost)
      : await detectAccelerator(spec.accel, spec.qemuBinary);
    this.#devices = planDevices(spec.devices, spec.runDir, this.#options.hostIds ?? hostIdsFromSysfs);
    for (const device of this.#devices) {
      if (!device.backingFile) continue;
      closeSync(openSync(device.backingFile, 'w'));
      truncateSync(device.backingFile, NVME_BACKING_BYTES);
    }
    const attempts = this.#options.portAttempts ?? 5;
    let lastExit: QemuExit | undefined;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (this.#stopping) throw new InfraError('The machine was stopped while it was starting.');
      const sshPort = await (this.#options.pickPort ?? freeLoopbackPort)();
      const running = this.#spawn(this.#accel.accel, sshPort);
      const early = await this.#startupOutcome(running);
      if (!early) {
        this.#running = running;
        return {
          accel: this.#accel.accel,
          accelReason: this.#accel.reason,
          sshPort,
          devices: this.#devices,
          qemuPid: running.child.pid!,
        };
      }
      lastExit = early;
      if (!isHostForwardFailure(early.stderr)) break;
    }
    throw new InfraError(`QEMU failed to start: ${describeExit(lastExit!)}.`, {
      detail: `${lastExit!.stderr.trim()}\n(run dir: ${spec.runDir})`,
    });
  }

  #spawn(accel: Accel, sshPort: number): Running {
    const spec = this.spec;
    const argv = qemuArgs({ spec, accel, sshPort, devices: this.#devices });
    writeFileSync(join(spec.runDir, 'qemu-argv.json'), JSON.stringify([spec.qemuBinary, ...argv], null, 1) + '\n');
    // setpriv execs QEMU in place: same pid, and the parent-death signal survives the exec,
    // so QEMU dies with us even on SIGKILL. `detached` makes QEMU a process group leader.
    // pdeathsig fires when the *thread* that forked exits: start machines from the main
    // thread, not from a worker thread that may end before the machine should.
    const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', spec.qemuBinary, ...argv], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe', ...(spec.auxSerial ? (['pipe'] as const) : [])],
    });
    const origin = process.hrtime.bigint();
    const auxSerial = spec.auxSerial ? new AuxSerial(origin, join(spec.runDir, 'aux-serial.log')) : undefined;
    if (auxSerial) (child.stdio[AUX_SERIAL_FD] as NodeJS.ReadableStream).on('data', (chunk: Buffer) => auxSerial.push(chunk));
    const monitor = new ConsoleMonitor({
      origin,
      sink: new ConsoleLogWriter(spec.runDir),
      logHint: `full console log: ${join(spec.runDir, RUN_LOG)}`,
    });
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => monitor.push(chunk));
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_LIMIT);
      // KVM errors pause the guest instead of ending QEMU; end it so waits fail now, not at their deadline.
      if (/KVM internal error/.test(stderr)) killGroup(child, 'SIGKILL');
    });
    const killable = { killNow: () => killGroup(child, 'SIGKILL') };
    const exited = new Promise<QemuExit>((resolve) => {
      let spawnError: Error | undefined;
      child.once('error', (error) => (spawnError = error));
      // 'close' comes after stdout and stderr are drained, so the console is complete.
      child.once('close', (code, signal) => {
        const exit: QemuExit = { code, signal, stderr: spawnError ? `${stderr}\n${spawnError.message}` : stderr };
        unregisterLive(killable);
        removePidfile(spec.runDir);
        writeFileSync(join(spec.runDir, 'qemu-stderr.log'), exit.stderr);
        const infra = infraReason(exit);
        monitor.end(infra ? { description: describeExit(exit), infra } : { description: describeExit(exit) });
        auxSerial?.end();
        resolve(exit);
      });
    });
    if (child.pid !== undefined) {
      registerLive(killable);
      const self = processStartTime(process.pid);
      const qemuStart = processStartTime(child.pid);
      if (self !== undefined && qemuStart !== undefined) {
        writePidfile(spec.runDir, {
          schema: 1,
          harnessPid: process.pid,
          harnessStart: self,
          qemuPid: child.pid,
          qemuStart,
          qemuPgid: child.pid,
        });
      }
    }
    return { child, console: monitor, auxSerial, sshPort, exited, argv };
  }

  /**
   * QEMU binds the ssh forward before the guest runs, and exits at once if it cannot.
   * So the first console byte, or QEMU still up after the settle time, means started;
   * an exit before that is returned for the caller to judge (retry on a taken port).
   */
  async #startupOutcome(running: Running): Promise<QemuExit | undefined> {
    const settleMs = this.#options.startupSettleMs ?? 2000;
    let timer: NodeJS.Timeout | undefined;
    let onLine: (() => void) | undefined;
    const up = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), settleMs);
      onLine = () => resolve(undefined);
      running.child.stdout!.once('data', onLine);
    });
    try {
      return await Promise.race([running.exited, up]);
    } finally {
      clearTimeout(timer);
      running.child.stdout!.off('data', onLine!);
    }
  }

  async #stop(): Promise<void> {
    if (this.#starting) await this.#starting.catch(() => undefined);
    const running = this.#running;
    if (!running || running.child.exitCode !== null || running.child.signalCode !== null) {
      if (running) await running.exited;
      return;
    }
    killGroup(running.child, 'SIGTERM');
    const grace = this.#options.stopGraceMs ?? 3000;
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), grace)));
    const outcome = await Promise.race([running.exited, graceOver]);
    clearTimeout(timer);
    if (outcome === 'timeout') killGroup(running.child, 'SIGKILL');
    await running.exited;
  }
}
