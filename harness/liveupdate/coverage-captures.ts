// A live VM's coverage: each boot's kernel counted once, at its kexec or at
// the end, into one directory. Nothing here fails a run: a boot whose
// counters cannot be read is recorded as missing, with the reason, and the
// report says which side it lacks.
import type { KernelArtifact } from '../kernel/artifact.ts';
import { armKexecProbe, captureAtEnd, coverageKernel, writeMissing, type GuestShell, type KexecProbe } from '../coverage/capture.ts';
import type { StubAddress } from '../coverage/gdb-remote.ts';

export class CoverageCaptures {
  /** Boots already captured (at their kexec). */
  #done = new Set<number>();

  constructor(
    readonly dir: string,
    readonly stub: StubAddress | undefined,
  ) {}

  /**
   * How far the running kernel sits from its System.map (KASLR): `_text` in
   * /proc/kallsyms against the map's. A kernel that hides its addresses
   * (zeros) is taken at the map's own.
   */
  async #offset(kernel: KernelArtifact, shell: GuestShell): Promise<bigint> {
    const mapped = (await coverageKernel(kernel.dir)).symbols.text;
    const line = (await shell("grep ' _text$' /proc/kallsyms")).trim().split(/\s+/)[0] ?? '';
    const running = /^[0-9a-f]+$/.test(line) ? BigInt(`0x${line}`) : 0n;
    return running === 0n ? 0n : running - mapped;
  }

  /** Arms the probe for this boot's kexec; without a stub or on a failure, the boot is recorded as missing. */
  async armKexec(kernel: KernelArtifact, boot: number, shell: GuestShell): Promise<KexecProbe | undefined> {
    this.#done.add(boot);
    if (!this.stub) {
      await writeMissing(this.dir, kernel, boot, 'at-kexec', 'the target has no debugger stub (a remote host): its counters up to the kexec cannot be read');
      return undefined;
    }
    try {
      return await armKexecProbe(this.stub, kernel, this.dir, boot, await this.#offset(kernel, shell));
    } catch (e) {
      await writeMissing(this.dir, kernel, boot, 'at-kexec', `the probe at machine_kexec could not be set: ${(e as Error).message}`);
      return undefined;
    }
  }

  /** The running kernel's counters when the machine stops, unless its kexec already took them. */
  async atEnd(kernel: KernelArtifact, boot: number, shell: GuestShell): Promise<void> {
    if (this.#done.has(boot)) return;
    this.#done.add(boot);
    await captureAtEnd(shell, kernel, this.dir, boot);
  }
}
