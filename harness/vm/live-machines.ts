// Machines alive in this process, killed at once if the process is interrupted or
// exits without stopping them. (SIGKILL of the harness is covered by pdeathsig.)

export interface Killable {
  /** Synchronously SIGKILL the QEMU process group. */
  killNow(): void;
}

const live = new Set<Killable>();
const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

function killAll(): void {
  for (const machine of live) machine.killNow();
  live.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  killAll();
  uninstall();
  // Re-raise so the process ends as the signal intended, unless someone else handles it.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function install(): void {
  for (const signal of SIGNALS) process.on(signal, onSignal);
  process.on('exit', killAll);
}

function uninstall(): void {
  for (const signal of SIGNALS) process.off(signal, onSignal);
  process.off('exit', killAll);
}

export function registerLive(machine: Killable): void {
  if (live.size === 0) install();
  live.add(machine);
}

export function unregisterLive(machine: Killable): void {
  if (!live.delete(machine)) return;
  if (live.size === 0) uninstall();
}

/** How many machines this process holds (for tests and diagnostics). */
export function liveCount(): number {
  return live.size;
}
