// Cache entries as a bad disk or an interrupted copy leaves them, for the
// tests of the cache's checks; and the entries moved aside after one.
import { closeSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { sha256 } from '../../harness/util/hash.ts';

/**
 * Zeroes 8 bytes of a file in place, at `at` or at the first 8 bytes after it
 * that are not zero already (so the file always changes: a plain cpio has
 * runs of zero padding); the file's sha256 before and after.
 */
export function zero8(path: string, at: number): { before: string; after: string } {
  const data = readFileSync(path);
  const before = sha256(data);
  let from = at;
  while (from + 8 <= data.length && data.subarray(from, from + 8).every((b) => b === 0)) from += 8;
  if (from + 8 > data.length) throw new Error(`zero8: ${path} holds only zeros from byte ${at} on`);
  const fd = openSync(path, 'r+');
  writeSync(fd, Buffer.alloc(8), 0, 8, from);
  closeSync(fd);
  return { before, after: sha256(readFileSync(path)) };
}

/** The entries of `root` that the entry `key` was moved aside to (`<key>.corrupt-<time>`). */
export const movedAside = (root: string, key: string) => readdirSync(root).filter((f) => f.startsWith(`${key}.corrupt-`));
