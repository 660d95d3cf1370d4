// What an error met while a machine ran really was. A crashing kernel takes
// its SSH connection with it, and the harness often hears of the lost
// connection before it reads the panic: the console decides. A machine that
// stops answering with no crash on its console is an InfraError that carries
// the console tail (what it printed last is the best clue there is).
import { InfraError, KernelFault } from '../errors.ts';
import type { ConsoleMonitor, Fault } from '../vm/console-monitor.ts';

/** How long a crash report may take to reach the console after the connection went. */
const FAULT_GRACE_MS = 1500;

/**
 * `boot` is the boot the harness was working in: its faults and any later
 * boot's count (a crashed host may have rebooted by the time the lost
 * connection is noticed); an earlier boot's do not.
 */
export async function explainFailure(error: unknown, monitor: ConsoleMonitor, boot = monitor.boot, graceMs = FAULT_GRACE_MS): Promise<unknown> {
  if (!(error instanceof InfraError)) return error;
  const fault = monitor.faults.find((f) => f.boot >= boot) ?? (await nextFault(monitor, boot, graceMs));
  if (fault) {
    return new KernelFault(`The kernel crashed (${fault.kind}) on boot ${fault.boot}: ${fault.line.text.trim()} (the harness saw: ${error.message})`, { cause: error, detail: monitor.tail() });
  }
  if (error.detail) return error;
  return new InfraError(`${error.message} The machine stopped answering (the last lines of its console follow).`, { cause: error, detail: monitor.tail(40) });
}

/** The first fault of `boot` or later within `ms`, or undefined (at once if the console has ended). */
function nextFault(monitor: ConsoleMonitor, boot: number, ms: number): Promise<Fault | undefined> {
  if (monitor.ended) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const done = (f: Fault | undefined) => {
      clearTimeout(timer);
      monitor.off('fault', onFault);
      monitor.off('end', onEnd);
      resolve(f);
    };
    const onFault = (f: Fault) => f.boot >= boot && done(f);
    const onEnd = () => done(monitor.faults.find((f) => f.boot >= boot));
    const timer = setTimeout(() => done(undefined), ms);
    monitor.on('fault', onFault);
    monitor.on('end', onEnd);
  });
}
