// A remote host's serial console as the output of a user's command (an IPMI
// serial-over-LAN session, a console server, `nc host port`), started once
// per run and started again when it ends (a power cycle, a console server
// that dropped the session). Its bytes go to whichever console monitors are
// attached: one per boot of a scenario, each writing that boot's logs.
// Spawned like QEMU: its own process group, dying with the harness.
import { spawn, type ChildProcess } from 'node:child_process';
import type { ConsoleMonitor } from '../vm/console-monitor.ts';
import { registerLive, unregisterLive, type Killable } from '../vm/live-machines.ts';
import { killGroup } from '../util/kill-group.ts';

/** What is kept of everything the console said, for errors outside any boot (first hop checks, recovery). */
const TAIL_BYTES = 64 * 1024;
const STDERR_BYTES = 4096;

export class ConsoleCommand {
  readonly #monitors = new Set<ConsoleMonitor>();
  #child: ChildProcess | undefined;
  #tail = '';
  #stderr = '';
  #stopped = false;
  #restarts = 0;
  #timer: NodeJS.Timeout | undefined;
  #exited: Promise<void> = Promise.resolve();
  readonly #listeners = new Set<(text: string) => void>();

  constructor(
    readonly command: string,
    readonly log: (message: string) => void = () => {},
  ) {}

  start(): void {
    if (this.#child || this.#stopped) return;
    // stdin stays an open pipe: a session tool reading its keyboard (ipmitool sol) must not see end-of-file.
    const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'sh', '-c', this.command], { detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    this.#child = child;
    const killable: Killable = { killNow: () => killGroup(child, 'SIGKILL') };
    if (child.pid !== undefined) registerLive(killable);
    child.stdin!.on('error', () => {});
    child.stdout!.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1');
      this.#tail = (this.#tail + text).slice(-TAIL_BYTES);
      for (const m of this.#monitors) m.push(chunk);
      for (const l of this.#listeners) l(text);
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString('utf8')).slice(-STDERR_BYTES);
    });
    this.#exited = new Promise((resolve) => {
      child.once('error', () => {});
      child.once('close', (code, signal) => {
        unregisterLive(killable);
        this.#child = undefined;
        const how = signal ? `killed by ${signal}` : `status ${code}`;
        const said = this.#stderr.trim().split('\n').pop();
        for (const m of [...this.#monitors]) {
          m.end({
            description: `the console command exited (${how})`,
            infra: `the console command \`${this.command}\` exited (${how}${said ? `: ${said}` : ''}): the host's console is gone (it lost power, or the console server dropped the session)`,
          });
        }
        this.#monitors.clear();
        resolve();
        if (!this.#stopped) {
          // Again, with a backoff: a console server refuses while the host is down, and comes back with it.
          const wait = Math.min(10_000, 500 * 2 ** Math.min(this.#restarts++, 5));
          if (this.#restarts === 1 || this.#restarts % 10 === 0) this.log(`console command exited (${how}); starting it again every ${wait / 1000} s or so`);
          this.#timer = setTimeout(() => this.start(), wait);
          this.#timer.unref();
        }
      });
    });
  }

  /** Whether the command is running now. */
  get running(): boolean {
    return this.#child !== undefined;
  }

  /** Feed `monitor` from now on; a console that ends ends it too. Returns the detach. */
  attach(monitor: ConsoleMonitor): () => void {
    if (!this.#child) {
      monitor.end({ description: 'the console command is not running', infra: `the console command \`${this.command}\` is not running (it exited; see above): the host's console is gone` });
      return () => {};
    }
    this.#monitors.add(monitor);
    return () => this.#monitors.delete(monitor);
  }

  /** Resolves once the console's output contains `text` (from now on), or with false after `ms`. */
  waitForText(text: string, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      let seen = '';
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.#listeners.delete(onText);
        resolve(ok);
      };
      const onText = (chunk: string) => {
        seen = (seen + chunk).slice(-4 * text.length - 4096);
        if (seen.includes(text)) done(true);
      };
      const timer = setTimeout(() => done(false), ms);
      this.#listeners.add(onText);
    });
  }

  /** The last lines the console showed, across boots (what an error outside a scenario carries). */
  tail(lines = 40): string {
    return this.#tail.replaceAll('\r', '').split('\n').slice(-lines).join('\n');
  }

  get stderr(): string {
    return this.#stderr;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    const child = this.#child;
    if (!child) return;
    killGroup(child, 'SIGTERM');
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 2000);
    await this.#exited;
    clearTimeout(timer);
  }
}
