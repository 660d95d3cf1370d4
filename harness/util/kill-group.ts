// Signalling a child we spawned as the leader of its own process group.
import type { ChildProcess } from 'node:child_process';

/** Signal the child's whole process group (it leads it), falling back to the pid. Never after it was reaped: the pid may be reused. */
export function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // Already gone.
    }
  }
}
