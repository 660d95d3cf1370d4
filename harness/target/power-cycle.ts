// The user's power-cycle command (`ipmitool ... chassis power cycle`, a PDU's
// API, a lab's reset script): run through sh, bounded, its output kept for
// the error it becomes when it fails.
import { execa } from 'execa';
import { InfraError } from '../errors.ts';

export const POWER_CYCLE_TIMEOUT_MS = 120_000;

export async function runPowerCycle(command: string, timeoutMs = POWER_CYCLE_TIMEOUT_MS): Promise<void> {
  const r = await execa('sh', ['-c', command], { reject: false, all: true, timeout: timeoutMs, stdin: 'ignore', killSignal: 'SIGKILL' });
  if (r.timedOut) throw new InfraError(`The power-cycle command \`${command}\` did not finish within ${timeoutMs / 1000} s; check it by hand.`, { detail: r.all });
  if (r.exitCode !== 0) throw new InfraError(`The power-cycle command \`${command}\` failed (status ${r.exitCode}); check it by hand.`, { detail: r.all });
}
