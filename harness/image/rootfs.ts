// The guest file tree before it becomes an archive: adds missing parent
// directories, rejects conflicting entries, and lists entries in a fixed
// order (sorted paths put every parent before its children), so the archive
// does not depend on the order things were added.
import { sha256 } from '../util/hash.ts';
import { normalizeArchivePath, type CpioEntry } from './cpio.ts';

/** One line of the image manifest: what lands where, and a digest of its content. */
export interface RootfsManifestEntry {
  path: string;
  type: CpioEntry['type'];
  /** Permission bits, octal string; absent for symlinks. */
  mode?: string;
  /** sha256 of a file's bytes or a symlink's target; "c <major>:<minor>" for a device. */
  content: string;
}

export class RootfsTree {
  readonly #entries = new Map<string, CpioEntry>();

  /** Add an entry; `ifAbsent` keeps an existing one (busybox applets yield to real files). */
  add(entry: CpioEntry, options: { ifAbsent?: boolean } = {}): void {
    const path = normalizeArchivePath(entry.path);
    const existing = this.#entries.get(path);
    if (existing) {
      if (options.ifAbsent) return;
      if (existing.type === 'dir' && entry.type === 'dir') {
        this.#entries.set(path, { ...entry, path }); // an explicit mode wins over an implied parent
        return;
      }
      throw new Error(`the image has two entries for /${path}`);
    }
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      const p = this.#entries.get(parent);
      if (!p) this.#entries.set(parent, { type: 'dir', path: parent, mode: 0o755 });
      else if (p.type !== 'dir') throw new Error(`/${parent} is not a directory but /${path} is inside it`);
    }
    this.#entries.set(path, { ...entry, path });
  }

  has(path: string): boolean {
    return this.#entries.has(normalizeArchivePath(path));
  }

  entries(): CpioEntry[] {
    return [...this.#entries.keys()].sort().map((k) => this.#entries.get(k)!);
  }

  manifest(): RootfsManifestEntry[] {
    return this.entries().map((e): RootfsManifestEntry => {
      switch (e.type) {
        case 'dir':
          return { path: e.path, type: e.type, mode: octal(e.mode), content: '' };
        case 'file':
          return { path: e.path, type: e.type, mode: octal(e.mode), content: sha256(e.data) };
        case 'symlink':
          return { path: e.path, type: e.type, content: sha256(e.target) };
        case 'char':
          return { path: e.path, type: e.type, mode: octal(e.mode), content: `c ${e.major}:${e.minor}` };
      }
    });
  }
}

const octal = (mode: number) => mode.toString(8).padStart(4, '0');
