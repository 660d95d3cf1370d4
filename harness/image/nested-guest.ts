// The nested VM's whole guest (images/nested-guest/guest.S): a 64 KiB
// firmware image that passes over its RAM forever, assembled with the host's
// GNU as and ld into a flat binary, cached by its source and the assembler
// (with its sha256, checked whenever it is used).
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { BuildFailure } from '../errors.ts';
import { cacheLayout, cacheRoot, repoRoot } from '../paths.ts';
import { contentKey, sha256 } from '../util/hash.ts';
import { cachedBuild } from '../util/cache-entry.ts';

export const NESTED_GUEST_SOURCE = () => join(repoRoot, 'images', 'nested-guest', 'guest.S');
/** What the firmware assumes of its VM: RAM size (-m), the pages it writes, where it counts its passes. */
export const NESTED_GUEST = { ramMiB: 16, firstPage: 256, pages: 3840, counterPage: 7, romBytes: 65536 } as const;

/** The path of the assembled firmware; built on first use, and again when the cached one is corrupt. */
export async function nestedGuestRom(cache = cacheRoot(), options: { warn?: (message: string) => void } = {}): Promise<string> {
  const source = NESTED_GUEST_SOURCE();
  const asVersion = (await execa('as', ['--version'])).stdout.split('\n')[0];
  const key = contentKey({ source: sha256(await readFile(source)), as: asVersion });
  return cachedBuild({
    root: cacheLayout(cache).nestedGuests,
    key,
    file: 'guest.rom',
    what: "nested VM's firmware",
    ...(options.warn ? { warn: options.warn } : {}),
    build: async (out) => {
      const obj = `${out}.o`;
      try {
        await execa('as', ['--32', '-o', obj, source], { all: true });
        await execa('ld', ['-m', 'elf_i386', '-Ttext=0', '--oformat', 'binary', '-o', out, obj], { all: true });
        const size = (await stat(out)).size;
        if (size !== NESTED_GUEST.romBytes) throw new Error(`the image is ${size} bytes, not ${NESTED_GUEST.romBytes}`);
      } catch (cause) {
        const output = (cause as { all?: string }).all ?? (cause as Error).message;
        throw new BuildFailure(`the nested VM's firmware (${source}) does not assemble`, { cause, detail: output.split('\n').slice(-20).join('\n') });
      } finally {
        await rm(obj, { force: true });
      }
    },
  });
}
