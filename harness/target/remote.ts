// A physical host as the machine under test: reached over SSH, its serial
// console read through a command, power-cycled through another. Opened once
// per run: log in as the host's own root (pinned host key), check it is not
// this machine, learn what it has, check its console, keep its own kernel for
// the way back. Each scenario's boot is a setup kexec ("first hop") into the
// test kernel and a fresh per-run initrd; from there the scenario runs as in
// QEMU. A host that stops answering is power-cycled (when a command is given)
// and waited for; at the end it is kexec'd back into its own kernel, or
// power-cycled.
import { randomBytes } from 'node:crypto';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BootError, ConfigError, InfraError, Unsupported } from '../errors.ts';
import { GuestAuthError, type GuestCredentials } from '../guest/connect.ts';
import { waitForSsh, type GuestSession } from '../guest/session.ts';
import type { RunKeys } from '../image/run-keys.ts';
import type { TargetInfo } from '../report/result.ts';
import { RUN_LOG, ConsoleLogWriter } from '../vm/console-log.ts';
import { ConsoleMonitor } from '../vm/console-monitor.ts';
import { EMULATED_IDS, type GuestDevice } from '../vm/qemu-args/devices.ts';
import { ConsoleCommand } from './console-command.ts';
import { platformOf, readHostFacts, type HostFacts } from './host-facts.ts';
import { hostMachineCmdline } from './host-cmdline.ts';
import { execLoaded, loadKernel } from './hop.ts';
import { localIdentity, refuseSelf, type MachineIdentity } from './identity.ts';
import { runPowerCycle } from './power-cycle.ts';
import { assertPreflight, hostKernel } from './preflight.ts';
import type { RemoteOptions } from './remote-options.ts';
import type { LaunchRequest, Target, TargetLauncher } from './target.ts';

/** Where kernels are staged for the agent's kexec_file_load (the initramfs's /tmp is tmpfs). */
const STAGE_DIR = '/tmp/luo-harness-kexec';
/** How long a quick "are you there?" takes before it says no. */
const PROBE_MS = 10_000;
/** A plain log hears from a long wait at least this often. */
const PROGRESS_MS = 30_000;

export interface RemoteHostOptions extends RemoteOptions {
  /** Scratch files: the host's own kernel and initrd, for the way back. */
  workDir: string;
  /** `run --cmdline`: an ip= there stands in for the derived one. */
  userCmdline?: readonly string[];
  log?: (message: string) => void;
  /** This machine's ids (default: read here); tests inject them. */
  self?: MachineIdentity;
}

type State =
  /** The host's own system, reached with the user's key and the pinned host key. */
  | { kind: 'own' }
  /** A test kernel with one of this run's initrds, reached with that boot's keys. */
  | { kind: 'ours'; keys: GuestCredentials }
  /** Not answering, and no power cycle brought it back (yet). */
  | { kind: 'lost'; why: string };

const runCredentials = (keys: RunKeys): GuestCredentials => ({ clientPrivateKey: keys.clientPrivateKey, hostPublicKey: keys.hostPublicKey });

export class RemoteHost implements TargetLauncher, AsyncDisposable {
  readonly launchLabel = 'first hop (upload, kexec into the test kernel)';
  readonly #o: RemoteHostOptions;
  readonly #console: ConsoleCommand;
  readonly #log: (message: string) => void;
  #state: State = { kind: 'own' };
  /** The host's own system as it was before the first hop. */
  #facts: HostFacts | undefined;
  #own: { kernel: string; initrd: string | undefined } | undefined;
  #busy = false;
  #after: string | undefined;
  #released: Promise<void> | undefined;

  private constructor(options: RemoteHostOptions) {
    this.#o = options;
    this.#log = options.log ?? (() => {});
    this.#console = new ConsoleCommand(options.console, (m) => this.#log(`${this.label}: ${m}`));
  }

  /** Connect, check, learn, and keep the host's own kernel: nothing reboots here. */
  static async open(options: RemoteHostOptions): Promise<RemoteHost> {
    const host = new RemoteHost(options);
    try {
      await host.#open();
      return host;
    } catch (error) {
      await host.#console.stop();
      await rm(options.workDir, { recursive: true, force: true });
      throw error;
    }
  }

  get label(): string {
    return this.#o.url.label;
  }

  /** What results record of the target. */
  record(): TargetInfo {
    const f = this.#facts!;
    const platform = platformOf(f.platform);
    const devices = this.#o.devices.map((bdf) => {
      const d = f.pci.find((p) => p.bdf === bdf);
      return { bdf, ...(d?.vendorDevice ? { vendorDevice: d.vendorDevice } : {}), ...(d?.driver ? { driver: d.driver } : {}) };
    });
    return {
      kind: 'remote',
      address: this.label,
      hostname: f.hostname,
      cpu: f.cpuModel,
      cpus: f.cpus,
      memoryMiB: f.memTotalMiB,
      kernelBefore: f.release,
      ...(devices.length ? { devices } : {}),
      ...(this.#after ? { after: this.#after } : {}),
      platform: platform.label,
      platformEvidence: platform.evidence,
    };
  }

  #ownCredentials(): GuestCredentials {
    const { login, hostKeys } = this.#o;
    return {
      ...(login.privateKey ? { clientPrivateKey: login.privateKey } : {}),
      ...(login.agent ? { agent: login.agent } : {}),
      hostPublicKey: hostKeys.keys,
      hostKeySource: hostKeys.source,
    };
  }

  #connect(state: Exclude<State, { kind: 'lost' }>, deadlineMs: number): Promise<GuestSession> {
    const own = state.kind === 'own';
    return waitForSsh({
      host: this.#o.url.host,
      port: this.#o.url.port,
      username: own ? this.#o.url.user : 'root',
      keys: own ? this.#ownCredentials() : state.keys,
      deadlineMs,
      // A real network and a real sshd: slower to answer than a loopback guest, never kexec'd under us.
      keepaliveIntervalMs: 2000,
      keepaliveCountMax: 5,
    });
  }

  /**
   * Whether the host answers in `state` within `deadlineMs` (a shell command
   * runs). The other host key (or login) means the other state, which a host
   * in the middle of a reboot may still be in: asked again until the deadline.
   */
  async #probe(state: Exclude<State, { kind: 'lost' }>, deadlineMs: number, what?: string): Promise<boolean> {
    const started = performance.now();
    const left = () => deadlineMs - (performance.now() - started);
    const beat = what ? setInterval(() => this.#log(`${this.label}: still waiting for ${what} (${Math.round((performance.now() - started) / 1000)} s of ${Math.round(deadlineMs / 1000)} s)`), PROGRESS_MS) : undefined;
    try {
      while (left() > 0) {
        try {
          const ssh = await this.#connect(state, left());
          try {
            await ssh.exec('true', { timeoutMs: PROBE_MS });
            return true;
          } finally {
            await ssh.stop();
          }
        } catch (error) {
          if (!(error instanceof GuestAuthError)) return false;
          await new Promise((r) => setTimeout(r, Math.max(0, Math.min(1000, left()))));
        }
      }
      return false;
    } finally {
      clearInterval(beat);
    }
  }

  async #open(): Promise<void> {
    const o = this.#o;
    this.#log(`${this.label}: console from \`${o.console}\`, host key pinned by ${o.hostKeys.source}, logging in with ${o.login.source}`);
    this.#console.start();
    const ssh = await this.#connect({ kind: 'own' }, 30_000);
    try {
      const facts = await readHostFacts(ssh, o.devices, this.label);
      refuseSelf(facts, o.self ?? localIdentity(), this.label);
      // The staged files' sizes are known per boot; here, the floor of free memory.
      assertPreflight(facts, { stagedBytes: 0, devices: o.devices, after: o.after, ...(o.kernelConsole ? { kernelConsole: o.kernelConsole } : {}), userCmdline: o.userCmdline ?? [] }, this.label);
      this.#facts = facts;
      this.#log(`${this.label}: ${facts.hostname}, ${facts.cpus} x ${facts.cpuModel || 'CPU'}, ${facts.memTotalMiB} MiB, kernel ${facts.release}`);
      await this.#checkConsole(ssh);
      if (o.after === 'kexec') {
        const own = hostKernel(facts)!;
        await mkdir(o.workDir, { recursive: true });
        const kernel = join(o.workDir, 'host-kernel');
        await ssh.download(own.kernel, kernel);
        const initrd = own.initrd ? join(o.workDir, 'host-initrd') : undefined;
        if (own.initrd) await ssh.download(own.initrd, initrd!);
        this.#own = { kernel, initrd };
        this.#log(`${this.label}: kept its own kernel for the way back (${own.kernel}${own.initrd ? `, ${own.initrd}` : ''})`);
      }
    } finally {
      await ssh.stop();
    }
  }

  /** A line written to the host's kernel log must come out of the console command: then it is that host's console. */
  async #checkConsole(ssh: GuestSession): Promise<void> {
    const nonce = `luo-harness console check ${randomBytes(6).toString('hex')}`;
    const seen = this.#console.waitForText(nonce, 20_000);
    // Written again until seen: a console session (nc, sol activate) may still be connecting.
    for (let i = 0; i < 7; i++) {
      await ssh.exec(`echo '<2>${nonce}' > /dev/kmsg`);
      if (await Promise.race([seen, new Promise<false>((r) => setTimeout(() => r(false), 3000))])) return;
    }
    if (await seen) return;
    const said = this.#console.stderr.trim();
    throw new ConfigError(
      `The console command \`${this.#o.console}\` did not show a line written to ${this.label}'s kernel log within 20 s: it is not that host's serial console, or the host's kernel does not print there (console=ttyS... on its command line).${said ? ` The command said: ${said.split('\n').pop()}` : ''}`,
      { detail: this.#console.tail(20) || '(the console command printed nothing)' },
    );
  }

  async launch(request: LaunchRequest): Promise<Target> {
    const facts = this.#facts!;
    if (this.#busy) throw new InfraError(`${this.label} runs one test kernel at a time, and the last one was not let go.`);
    if (request.shares?.length) throw new ConfigError(`A remote target has no 9p shares (${request.shares.map((s) => s.tag).join(', ')}); run this on the QEMU target.`);
    if (request.memoryMiB && facts.memTotalMiB < request.memoryMiB) throw new Unsupported(`${this.label} has ${facts.memTotalMiB} MiB of memory and this scenario needs ${request.memoryMiB} MiB`);
    if (request.devices?.length && !this.#o.devices.length) throw new Unsupported(`this scenario binds a device to vfio-pci and ${this.label} lends none: pass --devices vfio:<BDF>`);
    this.#busy = true;
    try {
      return await this.#launch(request);
    } catch (error) {
      this.#busy = false;
      throw error;
    }
  }

  async #launch(r: LaunchRequest): Promise<Target> {
    const log = r.log ?? (() => {});
    const o = this.#o;
    await this.#available(log);
    const ssh = await this.#reconnect(log);
    const from = this.#state as Exclude<State, { kind: 'lost' }>;
    const machineCmdline = hostMachineCmdline(this.#facts!, { ...(o.kernelConsole ? { kernelConsole: o.kernelConsole } : {}), ...(o.netIface ? { netIface: o.netIface } : {}) });
    const monitor = new ConsoleMonitor({ joinedMidway: true, sink: new ConsoleLogWriter(r.runDir), logHint: `full console log: ${join(r.runDir, RUN_LOG)}` });
    let detach = () => {};
    let issued = false;
    try {
      const now = await readHostFacts(ssh, o.devices, this.label);
      refuseSelf(now, o.self ?? localIdentity(), this.label);
      const stagedBytes = (await stat(r.kernel)).size + (await stat(r.initrd)).size;
      assertPreflight(now, { stagedBytes, devices: o.devices, ...(o.kernelConsole ? { kernelConsole: o.kernelConsole } : {}), userCmdline: o.userCmdline ?? [] }, this.label);
      log(`first hop: upload the test kernel and this boot's initrd to ${this.label}`);
      await loadKernel(ssh, { kernel: r.kernel, initrd: r.initrd, cmdline: [...machineCmdline, ...r.args].join(' '), systemd: now.systemd }, this.label, now.lockdown);
      detach = this.#console.attach(monitor);
      log(`first hop: kexec ${this.label} (${from.kind === 'own' ? `its own ${now.release}` : `test kernel ${now.release}`}) into the test kernel`);
      await execLoaded(ssh, now.systemd);
      issued = true;
      // From here on the host answers, if at all, with this boot's keys.
      this.#state = { kind: 'ours', keys: runCredentials(r.keys) };
      await ssh.stop();
      await this.#waitForBanner(monitor, machineCmdline);
    } catch (error) {
      await ssh.stop();
      detach();
      monitor.end({ description: 'the first hop failed' });
      if (issued) await this.#settle(log).catch((e: unknown) => log(`${this.label}: ${(e as Error).message}`));
      throw error;
    }
    return this.#target(monitor, detach, machineCmdline, r.devices?.length ? this.#devices() : [], log);
  }

  /**
   * A session in the state the host should be in. A host that rebooted
   * behind the harness's back (its own host key answers) is taken as it is;
   * one that does not answer is recovered first.
   */
  async #reconnect(log: (m: string) => void): Promise<GuestSession> {
    const state = this.#state as Exclude<State, { kind: 'lost' }>;
    try {
      return await this.#connect(state, 60_000);
    } catch (error) {
      if (state.kind === 'ours' && error instanceof GuestAuthError && (await this.#probe({ kind: 'own' }, PROBE_MS))) {
        this.#state = { kind: 'own' };
      } else if (error instanceof InfraError && !(error instanceof GuestAuthError)) {
        this.#state = { kind: 'lost', why: 'did not answer SSH' };
        await this.#recover(log);
      } else throw error;
      return this.#connect({ kind: 'own' }, 60_000);
    }
  }

  /** Boot 0 of the test kernel on the console; without it, say whether the console or the kexec failed. */
  async #waitForBanner(monitor: ConsoleMonitor, machineCmdline: readonly string[]): Promise<void> {
    try {
      await monitor.waitForBoot(0, { deadlineMs: this.#o.rebootTimeoutMs });
    } catch (error) {
      if (!(error instanceof BootError)) throw error;
      if (this.#state.kind === 'ours' && (await this.#probe(this.#state, PROBE_MS))) {
        const consoles = machineCmdline.filter((a) => a.startsWith('console=')).join(' ');
        throw new ConfigError(
          `The test kernel booted on ${this.label} (its sshd answers) but nothing of it came out of the console command: build the host's serial driver into the test kernel and check that ${consoles || 'console='} is the port the command reads (--kernel-console).`,
          { cause: error },
        );
      }
      if (await this.#probe({ kind: 'own' }, PROBE_MS)) {
        this.#state = { kind: 'own' };
        throw new InfraError(`${this.label} did not kexec: it still runs its own system ${Math.round(this.#o.rebootTimeoutMs / 1000)} s after the reboot into the test kernel was issued (did its shutdown hang?).`, { cause: error, detail: monitor.tail() });
      }
      throw error;
    }
  }

  #devices(): GuestDevice[] {
    return this.#o.devices.map((bdf) => {
      const ids = this.#facts!.pci.find((p) => p.bdf === bdf)?.vendorDevice;
      // A kind the agent has a driver for gets the DMA checks; any other is a plain vfio-pci device.
      const kind = (Object.entries(EMULATED_IDS).find(([, id]) => id === ids)?.[0] ?? 'vfio-host') as GuestDevice['kind'];
      return { kind, guestBdf: bdf, vendorDevice: ids, hostBdf: bdf };
    });
  }

  #target(monitor: ConsoleMonitor, detach: () => void, machineCmdline: readonly string[], devices: GuestDevice[], log: (m: string) => void): Target {
    let stopping: Promise<void> | undefined;
    return {
      kind: `bare-metal:${this.#facts!.hostname || this.#o.url.host}`,
      console: monitor,
      ssh: { host: this.#o.url.host, port: this.#o.url.port, username: 'root' },
      devices,
      machineCmdline,
      // A host's own firmware tells its kernel the TSC frequency; nothing to add.
      kexecCmdline: () => [],
      async stage(file, name, ssh) {
        const path = `${STAGE_DIR}/${name}`;
        await ssh.upload(file, path);
        return path;
      },
      stop: () => {
        stopping ??= (async () => {
          detach();
          monitor.end({ description: 'the scenario let the host go' });
          // Never throws: the scenario's logs are saved after this, and a lost host fails the next launch at once.
          await this.#settle(log).catch((e: unknown) => log((e as Error).message));
          this.#busy = false;
        })();
        return stopping;
      },
    };
  }

  /** After a boot is let go: still answering on the test kernel, or recovered. */
  async #settle(log: (m: string) => void): Promise<void> {
    if (this.#state.kind !== 'ours') return;
    if (await this.#probe(this.#state, PROBE_MS)) return;
    this.#state = { kind: 'lost', why: 'stopped answering' };
    await this.#recover(log);
  }

  /** A lost host: back by itself (a panic reboots it), through the power-cycle command, or lost for good. */
  async #recover(log: (m: string) => void): Promise<void> {
    if (this.#state.kind !== 'lost') return;
    const why = this.#state.why;
    const say = (m: string) => {
      log(m);
      this.#log(m);
    };
    if (await this.#probe({ kind: 'own' }, 5000)) {
      this.#state = { kind: 'own' };
      say(`${this.label} ${why}, and is back on its own system (it rebooted by itself)`);
      return;
    }
    const seconds = Math.round(this.#o.rebootTimeoutMs / 1000);
    if (this.#o.powerCycle) {
      say(`${this.label} ${why}: power-cycling it with \`${this.#o.powerCycle}\``);
      await runPowerCycle(this.#o.powerCycle);
    } else say(`${this.label} ${why}: waiting up to ${seconds} s for it to come back by itself (no --power-cycle)`);
    if (await this.#probe({ kind: 'own' }, this.#o.rebootTimeoutMs, `${this.label} to come back`)) {
      this.#state = { kind: 'own' };
      say(`${this.label} is back on its own system`);
      return;
    }
    this.#state = { kind: 'lost', why: `${why} and did not come back within ${seconds} s${this.#o.powerCycle ? ' of a power cycle' : ''}` };
    throw new InfraError(`${this.label} ${this.#state.why}: look at it (its console is below), power it on by hand${this.#o.powerCycle ? '' : ', or give --power-cycle CMD'}.`, { detail: this.#console.tail() });
  }

  /** Before a launch: a host lost earlier gets one quick look, else the launch fails at once. */
  async #available(log: (m: string) => void): Promise<void> {
    if (this.#state.kind !== 'lost') return;
    if (await this.#probe({ kind: 'own' }, PROBE_MS)) {
      this.#state = { kind: 'own' };
      return;
    }
    if (this.#o.powerCycle) return this.#recover(log);
    throw new InfraError(`${this.label} ${this.#state.why} earlier in this run and does not answer now; bring it back by hand, or give --power-cycle CMD.`);
  }

  /** The end of the run: the host back on its own kernel (kexec, or a power cycle), the console closed. Idempotent. */
  release(): Promise<void> {
    this.#released ??= this.#release();
    return this.#released;
  }

  async #release(): Promise<void> {
    try {
      if (this.#state.kind === 'ours') {
        if (this.#o.after === 'kexec' && this.#own) await this.#kexecBack();
        else await this.#powerCycleBack();
      } else if (this.#state.kind === 'lost') {
        this.#after = `lost: ${this.#state.why}`;
        if (this.#o.powerCycle) await this.#recover(this.#log);
      } else this.#after ??= 'back on its own system';
    } finally {
      await this.#console.stop();
      await rm(this.#o.workDir, { recursive: true, force: true });
    }
  }

  async #kexecBack(): Promise<void> {
    const facts = this.#facts!;
    this.#log(`${this.label}: kexec back into its own kernel ${facts.release}`);
    try {
      const ssh = await this.#connect(this.#state as Exclude<State, { kind: 'lost' }>, 60_000);
      try {
        await loadKernel(ssh, { kernel: this.#own!.kernel, initrd: this.#own!.initrd, cmdline: facts.cmdline, systemd: false }, this.label, undefined);
        await execLoaded(ssh, false);
      } finally {
        await ssh.stop();
      }
      this.#state = { kind: 'lost', why: 'was on its way back to its own kernel' };
      if (!(await this.#probe({ kind: 'own' }, this.#o.rebootTimeoutMs, `${this.label} to come back on its own kernel`))) {
        throw new InfraError(`${this.label} did not come back on its own kernel within ${Math.round(this.#o.rebootTimeoutMs / 1000)} s of the kexec.`, { detail: this.#console.tail() });
      }
      this.#state = { kind: 'own' };
      this.#after = 'kexec';
      this.#log(`${this.label} is back on its own kernel`);
    } catch (error) {
      if (!this.#o.powerCycle) {
        this.#after = `kexec back failed: ${(error as Error).message}`;
        throw error;
      }
      this.#log(`${this.label}: the kexec back failed (${(error as Error).message}); power-cycling it instead`);
      await this.#powerCycleBack();
    }
  }

  async #powerCycleBack(): Promise<void> {
    if (!this.#o.powerCycle) {
      this.#after = 'left on the test kernel (no way back was given)';
      throw new InfraError(`${this.label} is left on the test kernel: its own kernel could not be kept and no --power-cycle was given; power-cycle it by hand.`);
    }
    this.#log(`${this.label}: power-cycling it back to its own system with \`${this.#o.powerCycle}\``);
    await runPowerCycle(this.#o.powerCycle);
    this.#state = { kind: 'lost', why: 'was power-cycled' };
    if (!(await this.#probe({ kind: 'own' }, this.#o.rebootTimeoutMs, `${this.label} to come back from the power cycle`))) {
      this.#after = 'power cycle: the host did not come back';
      throw new InfraError(`${this.label} did not come back within ${Math.round(this.#o.rebootTimeoutMs / 1000)} s of the power cycle.`, { detail: this.#console.tail() });
    }
    this.#state = { kind: 'own' };
    this.#after = 'power-cycle';
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }
}
