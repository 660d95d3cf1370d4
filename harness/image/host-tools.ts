// Finding host programs the image is made from. The sbin directories are
// searched too: an ordinary user's PATH often lacks them.
import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { InfraError } from '../errors.ts';

const SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** Where each command of the image comes from on a Debian host. */
const PACKAGE_HINT: Record<string, string> = {
  busybox: 'busybox-static',
  dropbear: 'dropbear-bin',
  dropbearkey: 'dropbear-bin',
  kexec: 'kexec-tools',
};

export async function findCommand(name: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const dirs = [...(env.PATH ?? '').split(delimiter).filter(Boolean), ...SBIN_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  const hint = PACKAGE_HINT[name] ? ` (Debian package ${PACKAGE_HINT[name]})` : '';
  throw new InfraError(`The host has no \`${name}\` command${hint}; the guest image needs it.`);
}
