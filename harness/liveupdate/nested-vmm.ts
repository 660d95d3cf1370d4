// A real VMM inside the guest: the host's own QEMU, reached over a read-only
// 9p share of the host's /usr (nothing is added to the guest image), runs
// the nested guest (image/nested-guest.ts) on RAM that is a memfd the agent
// holds. Its human monitor is a pair of FIFOs in the guest, driven over SSH;
// its serial port is the guest's ttyS1, which the harness reads with host
// timestamps (vm/aux-serial.ts), so the VM's own output times its downtime
// across the kexec.
import { execa } from 'execa';
import { realpath } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { InfraError, TestFailure } from '../errors.ts';
import { shellQuote } from '../guest/shell-quote.ts';
import { NESTED_GUEST } from '../image/nested-guest.ts';
import type { LiveVm } from './live-vm.ts';

/** The host directory the guest sees at GUEST_HOST_ROOT: every path of the host's QEMU must lie under it. */
export const HOST_USR = '/usr';
const GUEST_HOST_ROOT = '/host';
export const HOST_USR_SHARE = { hostPath: HOST_USR, tag: 'hostusr', mount: `${GUEST_HOST_ROOT}${HOST_USR}` } as const;
const DIR = '/tmp/vmm';

/** The host's QEMU as the guest runs it: its dynamic loader, its library directories and its firmware, all under the share. */
export interface HostQemu {
  /** The whole command prefix in the guest: `<ld.so> --library-path <dirs> <qemu>`. */
  command: string;
  dataDir: string;
  /** Where it loads its modules from (QEMU_MODULE_DIR). */
  moduleDir: string;
  version: string;
}

const inGuest = (hostPath: string) => `${GUEST_HOST_ROOT}${hostPath}`;

/** Finds the host's qemu-system-x86_64 and what it loads; an InfraError says what is missing or outside /usr. */
export async function hostQemu(binary = 'qemu-system-x86_64'): Promise<HostQemu> {
  const which = await execa('sh', ['-c', `command -v ${binary}`], { reject: false });
  if (which.exitCode !== 0 || !which.stdout.trim()) throw new InfraError(`No QEMU for the nested VM: ${binary} is not on this host's PATH (setup-host.sh installs qemu-system-x86).`);
  const qemu = await realpath(which.stdout.trim());
  const ldd = await execa('ldd', [qemu], { reject: false });
  if (ldd.exitCode !== 0) throw new InfraError(`No QEMU for the nested VM: ldd ${qemu} failed: ${ldd.stderr.trim()}`);
  const libs: string[] = [];
  let loader: string | undefined;
  for (const line of ldd.stdout.split('\n')) {
    const resolved = /=>\s+(\/\S+)/.exec(line)?.[1] ?? /^\s*(\/\S+)\s+\(0x/.exec(line)?.[1];
    if (!resolved) continue;
    const real = await realpath(resolved);
    if (/\bld-linux[^/]*\.so/.test(real)) loader = real;
    else libs.push(real);
  }
  if (!loader) throw new InfraError(`No QEMU for the nested VM: ldd ${qemu} names no dynamic loader.`);
  const dataDir = await realpath('/usr/share/qemu').catch(() => undefined);
  if (!dataDir) throw new InfraError('No QEMU for the nested VM: /usr/share/qemu (its firmware) is missing on this host.');
  const outside = [qemu, loader, dataDir, ...libs].filter((p) => !p.startsWith(`${HOST_USR}/`));
  if (outside.length) throw new InfraError(`No QEMU for the nested VM: the guest sees only this host's ${HOST_USR}, and ${outside.join(', ')} lie outside it.`);
  const dirs = [...new Set(libs.map((l) => inGuest(dirname(l))))];
  // Debian's QEMU keeps its accelerators and some devices as modules beside its libraries.
  const moduleDir = await realpath(join(dirname(libs.find((l) => /libc\.so/.test(l)) ?? loader), 'qemu')).catch(() => undefined);
  if (!moduleDir || !moduleDir.startsWith(`${HOST_USR}/`)) throw new InfraError(`No QEMU for the nested VM: its module directory (beside ${dirname(loader)}) is missing or outside ${HOST_USR}.`);
  const version = (await execa(qemu, ['--version'])).stdout.split('\n')[0] ?? '';
  return { command: `${inGuest(loader)} --library-path ${dirs.join(':')} ${inGuest(qemu)}`, dataDir: inGuest(dataDir), moduleDir: inGuest(moduleDir), version };
}

export interface NestedVmStart {
  /** /proc/<agent pid>/fd/<fd> of the RAM memfd, as the guest opens it. */
  ramPath: string;
  /** The firmware, already in the guest. */
  romPath: string;
  /** Start waiting for device state (`-incoming defer`) instead of booting. */
  incoming?: boolean;
}

/** One QEMU process in the guest and its monitor. */
export class NestedVmm {
  /** The QEMU started last (each start gets its own monitor, log and pidfile). */
  #n = 0;
  constructor(
    readonly vm: LiveVm,
    readonly qemu: HostQemu,
  ) {}

  /** Checks that the host's QEMU runs in the guest at all (the share mounted, its libraries load); says why not. */
  async probe(): Promise<string> {
    const r = await this.vm.ssh.run(`${this.qemu.command} --version`, { timeoutMs: 120_000 });
    if (r.exitCode !== 0) {
      throw new InfraError(`The host's QEMU does not run inside the guest (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
    }
    return r.stdout.split('\n')[0] ?? '';
  }

  /** Starts QEMU on the RAM memfd; resolves once its monitor answers. A QEMU that exits is an InfraError with its own message. */
  async start(o: NestedVmStart): Promise<void> {
    const n = ++this.#n;
    const mib = NESTED_GUEST.ramMiB;
    const args = [
      '-L', this.qemu.dataDir,
      '-M', 'pc,memory-backend=ram0', '-nodefaults', '-no-user-config', '-display', 'none', '-accel', 'tcg', '-m', `${mib}M`,
      // share=on: the VM's RAM is the memfd itself (what LUO preserves); x-ignore-shared then leaves it out of the migration stream.
      '-object', `memory-backend-file,id=ram0,size=${mib}M,mem-path=${o.ramPath},share=on`,
      '-bios', o.romPath,
      '-chardev', 'serial,id=s0,path=/dev/ttyS1', '-serial', 'chardev:s0',
      '-chardev', `pipe,id=mon,path=${DIR}/mon${n}`, '-mon', 'chardev=mon,mode=readline',
      '-pidfile', `${DIR}/qemu${n}.pid`,
      ...(o.incoming ? ['-incoming', 'defer'] : []),
    ];
    const q = shellQuote;
    const mon = `${DIR}/mon${n}`;
    const script = [
      `mkdir -p ${DIR}`,
      `rm -f ${mon}.in ${mon}.out ${mon}.log ${DIR}/qemu${n}.pid`,
      `mkfifo ${mon}.in ${mon}.out`,
      `: > ${mon}.log`,
      // The monitor's output, kept whole: each command's answer is read from where the log ended before it.
      `setsid cat ${mon}.out >> ${mon}.log 2>/dev/null < /dev/null &`,
      // Its accelerator and devices are modules (Debian builds TCG as one): from the share too.
      `QEMU_MODULE_DIR=${this.qemu.moduleDir} setsid ${this.qemu.command} ${args.map(q).join(' ')} < /dev/null > ${DIR}/qemu${n}.log 2>&1 &`,
      `pid=$!`,
      // Up when its monitor prints the first prompt; gone: its own message.
      `i=0; while ! grep -q '(qemu)' ${mon}.log; do kill -0 $pid 2>/dev/null || { echo QEMU-EXITED; cat ${DIR}/qemu${n}.log; exit 3; }; [ $i -ge 6000 ] && { echo QEMU-SILENT; exit 2; }; usleep 20000; i=$((i + 1)); done`,
    ].join('\n');
    const r = await this.vm.ssh.run(script, { timeoutMs: 150_000 });
    if (r.exitCode === 3) throw new TestFailure(`the nested VM's QEMU exited at start: ${r.stdout.replace('QEMU-EXITED', '').trim().split('\n').slice(-4).join(' | ') || '(no output)'}`);
    if (r.exitCode !== 0) throw new TestFailure(`the nested VM's QEMU did not bring up its monitor within 120 s (exit ${r.exitCode}): ${(r.stdout + r.stderr).trim().slice(-400)}`);
    // A QEMU that printed its prompt and then died (a module it could not load) shows here.
    await this.hmp('info status', 60_000);
  }

  /**
   * Sends one monitor command and waits (in the guest, no round trip per poll) for the
   * monitor's next prompt; returns what it printed in between. QEMU gone: its log in the error.
   */
  async hmp(command: string, timeoutMs = 60_000): Promise<string> {
    const n = this.#n;
    const log = `${DIR}/mon${n}.log`;
    const polls = Math.ceil(timeoutMs / 20);
    const script = [
      `off=$(wc -c < ${log})`,
      // Read-write: opening a FIFO so never blocks, even when no QEMU reads it any more.
      `printf '%s\\n' ${shellQuote(command)} 1<> ${DIR}/mon${n}.in`,
      `pid=$(cat ${DIR}/qemu${n}.pid 2>/dev/null)`,
      `i=0`,
      `while [ $i -lt ${polls} ]; do`,
      `  tail -c +$((off + 1)) ${log} | grep -q '(qemu)' && { tail -c +$((off + 1)) ${log}; exit 0; }`,
      `  [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null && exit 3`,
      `  usleep 20000; i=$((i + 1))`,
      `done`,
      `exit 2`,
    ].join('\n');
    const r = await this.vm.ssh.run(script, { timeoutMs: timeoutMs + 30_000 });
    if (r.exitCode === 0) return r.stdout.replaceAll('\r', '');
    const qemuLog = await this.#qemuLog();
    if (r.exitCode === 3) throw new TestFailure(`the nested VM's QEMU exited while \`${command}\` ran: ${qemuLog || '(no output)'}`);
    const seen = (await this.vm.ssh.run(`tail -c 400 ${log}`)).stdout.trim();
    throw new TestFailure(`the nested VM's monitor did not answer \`${command}\` within ${timeoutMs} ms; monitor: ${seen || '(nothing)'}; QEMU: ${qemuLog || '(no output)'}`);
  }

  /** The VM's device state into `statePath` (RAM stays where it is: x-ignore-shared); the VM stays stopped. */
  async saveState(statePath: string): Promise<void> {
    await this.hmp('migrate_set_capability x-ignore-shared on');
    // Without -d the monitor answers once the migration is over.
    const out = await this.hmp(`migrate "exec:cat > ${statePath}"`, 120_000);
    const status = await this.hmp('info migrate');
    const state = /Migration status: ([a-z-]+)/.exec(status)?.[1];
    if (state !== 'completed') throw new TestFailure(`saving the nested VM's device state ended ${state ?? 'in an unknown state'}: ${(out + status).trim().split('\n').slice(-4).join(' | ')}`);
  }

  /** Loads device state from `statePath` into a QEMU started with `incoming`, then continues the VM (it was saved stopped). */
  async loadState(statePath: string): Promise<void> {
    await this.hmp('migrate_set_capability x-ignore-shared on');
    await this.hmp(`migrate_incoming "exec:cat ${statePath}"`);
    const deadline = performance.now() + 120_000;
    for (;;) {
      const s = await this.hmp('info status');
      const status = /VM status: ([a-z-]+(?: \([a-z-]+\))?)/.exec(s)?.[1] ?? '';
      if (status === 'running') return;
      // The VM was stopped when its state was saved, and the state says so: once in, it is continued.
      if (status === 'paused') {
        await this.hmp('cont');
        continue;
      }
      if (!/inmigrate/.test(status) || performance.now() > deadline) {
        const qemuLog = await this.#qemuLog();
        throw new TestFailure(`the nested VM did not resume from its saved device state (VM status: ${status || 'unknown'}); QEMU: ${qemuLog || '(no output)'}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The last lines QEMU printed (its own words on why it failed). */
  async #qemuLog(): Promise<string> {
    return (await this.vm.ssh.run(`tail -n 20 ${DIR}/qemu${this.#n}.log`)).stdout.trim();
  }

  async quit(): Promise<void> {
    const n = this.#n;
    await this.vm.ssh.run(`printf 'quit\\n' 1<> ${DIR}/mon${n}.in; pid=$(cat ${DIR}/qemu${n}.pid 2>/dev/null); i=0; while [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ $i -lt 250 ]; do usleep 20000; i=$((i+1)); done; [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; true`, { timeoutMs: 30_000 });
  }
}
