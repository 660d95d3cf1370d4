// The machines programs run on: one booted guest serves program after
// program (a kexec costs ~2 s under TCG, a cold boot about as much again);
// it is replaced after a divergence, a crash or a hang (its state is no
// longer the model's), and every so many kexecs (the console is kept in
// memory). The agent runs with luo_agent.restore=off: it opens
// /dev/liveupdate and retrieves nothing, so the program does all of it.
import { copyFile, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { KernelArtifact } from '../kernel/artifact.ts';
import { boot, type LiveVm } from '../liveupdate/live-vm.ts';
import { newRunDir } from '../liveupdate/machine-logs.ts';
import { agentWire, parseAgentReply } from '../agent/protocol.ts';
import type { AgentVerb } from '../agent/protocol.ts';
import type { CallOptions, FuzzVerb } from './ops.ts';
import type { Outcome } from './model.ts';
import { KexecRefused, type FaultReport, type FuzzTarget } from './executor.ts';

/** What every fuzz guest boots with: no restore by the agent, and huge pages for hugetlb memfds. */
const FUZZ_CMDLINE = ['luo_agent.restore=off', 'hugepages=8'];

/** A reply's top-level scalars, as the model compares them. */
function fieldsOf(value: Record<string, unknown>): Record<string, string | number | null> {
  const out: Record<string, string | number | null> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v === 'bigint') out[k] = Number(v);
    else if (typeof v === 'string' || typeof v === 'number' || v === null) out[k] = v;
    else if (typeof v === 'boolean') out[k] = v ? 1 : 0;
  }
  return out;
}

/** A booted guest as the executor sees it. */
export class VmTarget implements FuzzTarget {
  /** Console faults before this sequence number belong to earlier programs. */
  #fromSeq = -1;

  constructor(readonly vm: LiveVm, readonly kexecDeadlineMs = 120_000) {
    // The waterfall would grow by a span per call for hours: a fuzz machine does not keep one.
    vm.agent.onCall = undefined;
  }

  /** Faults from now on count. */
  mark(): void {
    this.#fromSeq = this.vm.console.lines().at(-1)?.seq ?? -1;
  }

  get bootIndex(): number {
    return this.vm.console.boot;
  }

  async call(verb: FuzzVerb, options: CallOptions, timeoutMs: number): Promise<Outcome> {
    const v = verb as AgentVerb;
    const line = await this.vm.agent.transport.request(verb, agentWire(v, options as never), { timeoutMs });
    const reply = parseAgentReply(v, line);
    if (reply.ok) return { ok: true, fields: fieldsOf(reply.value as Record<string, unknown>) };
    return { ok: false, op: reply.error.op, errno: reply.error.errnoName };
  }

  async kexec(): Promise<void> {
    const console = this.vm.console;
    const boot = console.boot;
    // A refused reboot leaves the old kernel running: it says so on the console, and nothing else would end the wait.
    const refused = console.waitForMarker('kexec-failed', { deadlineMs: this.kexecDeadlineMs, boot, afterSeq: console.lines().at(-1)?.seq ?? -1 }).then(
      (m) => { throw new KexecRefused(m.fields.errno_name ?? 'EUNKNOWN', `reboot(LINUX_REBOOT_CMD_KEXEC) failed with ${m.fields.errno_name ?? '?'}: the kernel refused the live update`); },
      () => new Promise<never>(() => {}),
    );
    // The blackout is not the fuzzer's to measure: a console that does not tell every phase fails nothing here.
    const update = this.vm.liveUpdate({ agentRestores: false, rebindVfio: false, deadlineMs: this.kexecDeadlineMs, measure: false });
    update.catch(() => {});
    await Promise.race([update, refused]);
  }

  async kill(): Promise<Outcome> {
    const s = await this.vm.restartAgent();
    if (s.liveupdate.open) return { ok: true, fields: {} };
    return { ok: false, op: s.liveupdate.error?.op ?? 'open', errno: s.liveupdate.error?.errno_name ?? 'EUNKNOWN' };
  }

  async fault(settleMs = 0): Promise<FaultReport | undefined> {
    const find = () => this.vm.console.faults.find((f) => f.line.seq > this.#fromSeq);
    let f = find();
    if (!f && settleMs > 0) {
      await new Promise((r) => setTimeout(r, settleMs));
      f = find();
    }
    if (!f) return undefined;
    // The report runs on after its first line; give it a moment to arrive whole.
    await new Promise((r) => setTimeout(r, 500));
    const lines = this.vm.console.lines().filter((l) => l.seq >= f.line.seq - 5).slice(0, 80);
    return { kind: f.kind, line: f.line.text.trim(), report: lines.map((l) => l.text).join('\n') };
  }
}

export interface MachinePoolOptions {
  kernel: KernelArtifact;
  /** Replace a machine after this many kexecs (default 150). */
  recycleAfterKexecs?: number;
  /** Replaced machines, and why. */
  log?: (message: string) => void;
  /** The machines' own chatter (booting, each kexec). */
  detail?: (message: string) => void;
  /** A coverage kernel: each machine's counters, every boot's, under <coverageDir>/vm<N>/. */
  coverageDir?: string;
}

/** Hands out a guest in a clean state: the one from before when nothing tainted it, else a fresh boot. */
export class MachinePool implements AsyncDisposable {
  #current: { target: VmTarget; kexecsAtBoot: number; tainted: string | undefined } | undefined;
  boots = 0;

  constructor(readonly options: MachinePoolOptions) {}

  async clean(): Promise<VmTarget> {
    const c = this.#current;
    const recycle = this.options.recycleAfterKexecs ?? 150;
    if (c && !c.tainted && c.target.vm.bootIndex - c.kexecsAtBoot < recycle && !c.target.vm.console.ended) {
      c.target.mark();
      return c.target;
    }
    if (c) this.options.log?.(`replacing the machine (${c.tainted ?? (c.target.vm.console.ended ? 'QEMU exited' : `recycled after ${c.target.vm.bootIndex} kexecs`)})`);
    await this.stop();
    const coverage = this.options.coverageDir ? { coverageDir: join(this.options.coverageDir, `vm${this.boots}`) } : {};
    const vm = await boot({ kernel: this.options.kernel, cmdline: FUZZ_CMDLINE, bindVfio: false, runDir: newRunDir('fuzz'), log: this.options.detail ?? (() => {}), ...coverage });
    this.boots++;
    const target = new VmTarget(vm);
    this.#current = { target, kexecsAtBoot: vm.bootIndex, tainted: undefined };
    target.mark();
    return target;
  }

  /** The machine the last program ran on, if it is still up. */
  get current(): LiveVm | undefined {
    return this.#current?.target.vm;
  }

  /** The current machine's state is unknown now: the next program gets a fresh one. */
  taint(reason: string): void {
    if (this.#current) this.#current.tainted = reason;
  }

  /** Copies the console logs of boots `fromBoot`.. of the current machine into `dir`; returns the files' names. */
  async saveConsoleLogs(dir: string, prefix: string, fromBoot: number): Promise<string[]> {
    const vm = this.#current?.target.vm;
    if (!vm) return [];
    await mkdir(dir, { recursive: true });
    const saved: string[] = [];
    for (const { path } of vm.consoleLogs().slice(fromBoot)) {
      if (!existsSync(path)) continue;
      const name = `${prefix}-${path.split('/').at(-1)!}`;
      await copyFile(path, join(dir, name));
      saved.push(name);
    }
    return saved;
  }

  async stop(): Promise<void> {
    const c = this.#current;
    this.#current = undefined;
    if (c) await c.target.vm.discard();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
