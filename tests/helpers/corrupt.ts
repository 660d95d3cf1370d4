// Cache entries as a bad disk or an interrupted copy leaves them, for the
// tests of the cache's checks; and the entries moved aside after one.
import { closeSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { sha256 } from '../../harness/util/hash.ts';

/** Zeroes 8 bytes of a file in place at `at`; the file's sha256 before and after. */
export function zero8(path: string, at: number): { before: string; after: string } {
  const before = sha256(readFileSync(path));
  const fd = openSync(path, 'r+');
  writeSync(fd, Buffer.alloc(8), 0, 8, at);
  closeSync(fd);
  return { before, after: sha256(readFileSync(path)) };
}

/** The entries of `root` that the entry `key` was moved aside to (`<key>.corrupt-<time>`). */
export const movedAside = (root: string, key: string) => readdirSync(root).filter((f) => f.startsWith(`${key}.corrupt-`));
