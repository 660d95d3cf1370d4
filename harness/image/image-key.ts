// The content key of a guest image: a digest of every entry that goes into
// the archive (path, type, mode, content digest) and the builder's format
// version. Equal inputs give equal keys; any change to the recipe, init,
// a binary, a library or the agent gives a new one.
import { contentKey } from '../util/hash.ts';
import type { RootfsManifestEntry } from './rootfs.ts';

/** Bump when the archive layout changes in a way the entries do not show (e.g. compression). */
export const IMAGE_FORMAT = 2;

export function imageKey(entries: readonly RootfsManifestEntry[]): string {
  return contentKey({ format: IMAGE_FORMAT, entries: entries.map((e) => [e.path, e.type, e.mode ?? '', e.content]) });
}
