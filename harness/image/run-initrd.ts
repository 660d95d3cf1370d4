// The per-run initrd: the cached image followed by a small cpio archive
// with this run's keys. Linux unpacks concatenated
// archives in order, so the second one adds the keys to the first one's tree.
// A kexec reloads this same file, so the keys survive a kexec.
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { InfraError } from '../errors.ts';
import { writeCpio } from './cpio.ts';
import type { GuestImage } from './build.ts';
import { generateRunKeys, type RunKeys } from './run-keys.ts';

/** Guest paths the keys land on; their directories must exist in the image. */
export const GUEST_KEY_PATHS = {
  authorizedKeys: 'root/.ssh/authorized_keys',
  hostKey: 'etc/dropbear/dropbear_ed25519_host_key',
} as const;

export interface RunInitrd {
  /** runDir/initrd: pass it to QEMU's -initrd and to `kexec --initrd`. */
  initrd: string;
  keys: RunKeys;
}

export async function prepareRunInitrd(image: GuestImage, runDir: string): Promise<RunInitrd> {
  for (const p of Object.values(GUEST_KEY_PATHS)) {
    const parent = p.slice(0, p.lastIndexOf('/'));
    if (!image.manifest.entries.some((e) => e.path === parent && e.type === 'dir')) {
      throw new InfraError(`The guest image ${image.key} has no /${parent} directory for the run's keys; check images/recipe.json.`);
    }
  }
  await mkdir(runDir, { recursive: true });
  const keys = await generateRunKeys(join(runDir, 'keys'));
  const keyArchive = writeCpio([
    { type: 'file', path: GUEST_KEY_PATHS.authorizedKeys, mode: 0o600, data: Buffer.from(keys.clientPublicKey + '\n') },
    { type: 'file', path: GUEST_KEY_PATHS.hostKey, mode: 0o600, data: await readFile(keys.hostPrivateKeyPath) },
  ]);
  const initrd = join(runDir, 'initrd');
  await writeFile(initrd, concatArchives(await readFile(image.initramfs), keyArchive), { mode: 0o600 });
  return { initrd, keys };
}

/**
 * Append an uncompressed newc archive to an archive (compressed or not). The
 * kernel only looks for a cpio header at a 4-byte aligned offset (and skips
 * zero padding), so pad the first archive with zeros to that boundary.
 */
export function concatArchives(first: Buffer, uncompressedCpio: Buffer): Buffer {
  const pad = (4 - (first.length % 4)) % 4;
  return Buffer.concat([first, Buffer.alloc(pad), uncompressedCpio]);
}
