// The harness never reboots the machine it runs on. Before anything on a
// remote target reboots, its boot id (a fresh random id per kernel boot: the
// same only for the very same running kernel, which a container on this
// machine shares) and its machine id (one per installation) are compared
// with this machine's; either one the same, and the run stops.
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.ts';

export interface MachineIdentity {
  /** /etc/machine-id; undefined where the system has none. */
  machineId: string | undefined;
  /** /proc/sys/kernel/random/boot_id. */
  bootId: string | undefined;
}

const norm = (id: string | undefined) => {
  const v = id?.trim().toLowerCase().replace(/-/g, '');
  return v ? v : undefined;
};

/** This machine's ids. */
export function localIdentity(read: (path: string) => string = (p) => readFileSync(p, 'utf8')): MachineIdentity {
  const get = (path: string) => {
    try {
      return norm(read(path));
    } catch {
      return undefined;
    }
  };
  return { machineId: get('/etc/machine-id'), bootId: get('/proc/sys/kernel/random/boot_id') };
}

/** Throws a ConfigError when `target` may be this machine (`self`); returns quietly when it is another. */
export function refuseSelf(target: MachineIdentity, self: MachineIdentity, label: string): void {
  const [tb, sb, tm, sm] = [norm(target.bootId), norm(self.bootId), norm(target.machineId), norm(self.machineId)];
  if (!tb) throw new ConfigError(`${label} did not say its boot id (/proc/sys/kernel/random/boot_id), so the harness cannot tell it from the machine it runs on; it reboots nothing there.`);
  if (!sb) throw new ConfigError('This machine has no /proc/sys/kernel/random/boot_id to compare a remote target with; run the harness on Linux.');
  if (tb === sb) {
    throw new ConfigError(
      `${label} is the machine the harness runs on (the same boot id ${tb}: this very kernel, or a container on it); the harness never reboots its own machine. Run it from another machine, or point --target at the lab host.`,
    );
  }
  if (tm && sm && tm === sm) {
    throw new ConfigError(
      `${label} has this machine's machine id (${tm}); it may be this machine, or a clone of its installation. The harness reboots neither: give the host its own /etc/machine-id (systemd-machine-id-setup) if it is a clone.`,
    );
  }
}
