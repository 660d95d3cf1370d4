// What the agent's restore after a kexec reported, as checks: every item it
// could not bring back is a failed check naming the item, the ioctl and the
// errno, tagged with the capability it belongs to. (The agent also prints
// each as an `agent-restore-error` console marker; a marker alone is seen by
// nobody.)
import type { Check } from '../report/result.ts';

export interface RestoreError {
  /** The agent's name for the item: `memfd:<id>`, `fd:<kind>:<session>:<token>`, `device:<bdf>:<session>:<token>`, `session:<name>`, `state-memfd`, ... */
  what: string;
  op: string;
  errno: number;
  errno_name: string;
  message: string;
}

/** The capability an item of the plan belongs to. */
export function capabilityOf(what: string): string {
  const [kind, sub] = what.split(':');
  if (kind === 'memfd') return 'memfd';
  if (kind === 'device') return 'vfio-device';
  if (kind === 'fd') return sub === 'vfio' ? 'vfio-device' : sub === 'iommufd' ? 'iommufd' : sub ?? 'fd';
  return 'session';
}

/** A readable name of the item: "memfd 'guest-ram'", "VFIO device 0000:00:10.0 (session vmm, token 0x3000)". */
function describe(what: string): string {
  const parts = what.split(':');
  switch (parts[0]) {
    case 'memfd':
      return `memfd '${parts.slice(1).join(':')}'`;
    case 'session':
      return `session '${parts.slice(1).join(':')}'`;
    case 'device': {
      // device:<domain>:<bus>:<slot.fn>:<session>:<token>: the BDF holds colons itself.
      const token = parts.at(-1);
      const session = parts.at(-2);
      return `VFIO device ${parts.slice(1, -2).join(':')} (session ${session}, token ${token})`;
    }
    case 'fd':
      return `${parts[1]} fd (session ${parts[2]}, token ${parts[3]})`;
    default:
      return `the agent's ${what}`;
  }
}

export function restoreErrorChecks(errors: readonly RestoreError[], label: string): Check[] {
  return errors.map((e) => ({
    name: `${label}: the agent restores ${describe(e.what)}`,
    status: 'fail' as const,
    message: `${e.op} failed with ${e.errno_name} (${e.errno}): ${e.message}`,
    capability: capabilityOf(e.what),
  }));
}
