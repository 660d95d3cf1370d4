// A probe guest for KVM: 64 KiB of firmware whose reset vector writes to QEMU's
// isa-debug-exit port, so QEMU exits with status (1 << 1) | 1 = 3 within
// milliseconds if KVM really runs guest code. Any other outcome, or no exit
// within the deadline (KVM errors pause the guest instead of exiting), means no.
// It proves KVM executes code; it does not prove a full kernel boots (kvm_pvm
// passes it), which is why accel.ts checks the modules first.
import { execa } from 'execa';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const EXIT_PORT = 0xf4;
const SUCCESS_STATUS = 3;

/** The firmware image: 0xff filler, and at 0xfff0 (the reset vector) `mov al,1; out 0xf4,al; hlt; jmp $-1`. */
export function probeFirmware(): Buffer {
  const image = Buffer.alloc(64 * 1024, 0xff);
  Buffer.from([0xb0, 0x01, 0xe6, EXIT_PORT, 0xf4, 0xeb, 0xfd]).copy(image, 0xfff0);
  return image;
}

/** Run the probe; resolves to a failure reason, or undefined when KVM ran it. */
export async function probeKvm(qemuBinary = 'qemu-system-x86_64', deadlineMs = 3000): Promise<string | undefined> {
  const dir = await mkdtemp(join(tmpdir(), 'luo-kvm-probe-'));
  try {
    const firmware = join(dir, 'probe.bin');
    await writeFile(firmware, probeFirmware());
    const result = await execa(
      qemuBinary,
      ['-accel', 'kvm', '-machine', 'q35', '-nodefaults', '-no-user-config', '-display', 'none',
        '-serial', 'none', '-no-reboot', '-m', '16M', '-bios', firmware,
        '-device', `isa-debug-exit,iobase=${EXIT_PORT},iosize=0x04`],
      { reject: false, timeout: deadlineMs, killSignal: 'SIGKILL', stdin: 'ignore' },
    );
    if (result.exitCode === SUCCESS_STATUS) return undefined;
    if (result.timedOut) return `no exit within ${deadlineMs} ms`;
    const why = result.stderr.trim().split('\n').pop() ?? '';
    return `QEMU exited with ${result.exitCode ?? result.signal}${why ? `: ${why}` : ''}`;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
