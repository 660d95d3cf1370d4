// Errors of the guest SSH layer.
//
// A command that ran and exited non-zero is a TestFailure: SSH and the guest
// worked, an expectation about the guest did not hold, and retrying it would
// hide a bug (so it must not be an InfraError, the only retried kind).
// Scenarios that expect a failure (e.g. PRESERVE_FD on a kernel without the
// handler) use the non-throwing `run()` and decide themselves.
//
// Losing the connection or running out of time is an InfraError: the host
// side (SSH, QEMU networking) or a guest that stopped answering; the machine
// layer's console monitor is what tells a kernel fault apart.
import { InfraError, TestFailure } from '../errors.ts';

const tail = (text: string, max = 2000) => (text.length > max ? '...' + text.slice(-max) : text);

export class GuestCommandError extends TestFailure {
  constructor(
    readonly command: string,
    readonly exitCode: number | null,
    readonly signal: string | undefined,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    const how = exitCode !== null ? `exited with status ${exitCode}` : `was killed by ${signal ?? 'a signal'}`;
    super(`Guest command \`${command}\` ${how}.`, {
      detail: stderr.trim() !== '' ? 'stderr:\n' + tail(stderr.trimEnd()) : stdout.trim() !== '' ? 'stdout:\n' + tail(stdout.trimEnd()) : undefined,
    });
  }
}

/** The SSH connection closed before the command finished (e.g. the guest kexec'd or died). */
export class GuestConnectionLost extends InfraError {}

/** A guest command did not finish within its time limit. */
export class GuestTimeout extends InfraError {}
