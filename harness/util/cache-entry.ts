// Checks of what the cache hands out. An entry records the sha256 of its
// files when it is written; when it is used, the files it hands out are
// hashed again (once per process while a file stays the same) and compared.
// A bad entry is moved aside, never deleted and never read again, so that
// it can be looked at. `cachedBuild` is the whole life of an entry that is
// one built file (the in-guest agent, the nested VM's firmware).
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256File } from './hash.ts';

/** A file of an entry whose bytes are not what the entry recorded (`actual` undefined: the file is missing). */
export interface Mismatch {
  /** The file's path. */
  path: string;
  expected: string;
  actual: string | undefined;
}

// Keyed by path; a hash counts only while the file's identity and times are the ones it was taken from.
const hashed = new Map<string, { stamp: string; sha256: string }>();
/**
 * A file changed this recently is hashed again on every use: a write within
 * the same tick of the file system's clock would leave its times as they
 * were (git's "racy" files), so its times cannot vouch for its bytes yet.
 */
const SETTLED_MS = 2000;
let hashes = 0;

/** How many times this process has read a file through to hash it (for tests and measurements). */
export const filesHashed = () => hashes;

/** The sha256 of a file (undefined when it does not exist), hashed at most once per process while the file is unchanged. */
export async function fileSha256(path: string): Promise<string | undefined> {
  let s;
  try {
    s = await stat(path, { bigint: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw e;
  }
  if (!s.isFile()) return undefined;
  const stamp = `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  const known = hashed.get(path);
  if (known?.stamp === stamp) return known.sha256;
  const settled = Number(s.mtimeMs > s.ctimeMs ? s.mtimeMs : s.ctimeMs) < Date.now() - SETTLED_MS;
  const sum = await sha256File(path);
  hashes++;
  if (settled) hashed.set(path, { stamp, sha256: sum });
  else hashed.delete(path);
  return sum;
}

/** The files of `expected` (sha256 by path) whose bytes differ from it, in its order. */
export async function checkFiles(expected: Record<string, string>): Promise<Mismatch[]> {
  const out: Mismatch[] = [];
  for (const [path, sum] of Object.entries(expected)) {
    const actual = await fileSha256(path);
    if (actual !== sum) out.push({ path, expected: sum, actual });
  }
  return out;
}

/** One mismatch as a clause: "<path> has sha256 <actual>, <recorder> says <expected>". */
export function describeMismatch(m: Mismatch, recorder = 'its manifest'): string {
  return m.actual === undefined ? `${m.path} is missing (${recorder} says sha256 ${m.expected})` : `${m.path} has sha256 ${m.actual}, ${recorder} says ${m.expected}`;
}

/** `2026-12-05T04:04:12.345Z` as `20261205T040412Z`: a name part without colons. */
const stampOf = (d: Date) => d.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');

/**
 * Renames a bad entry to a sibling `<name>.corrupt-<time>`, where nothing
 * looks for it again. Undefined when the entry is already gone (another
 * process moved it first).
 */
export async function moveAside(dir: string, now = new Date()): Promise<string | undefined> {
  const base = `${dir}.corrupt-${stampOf(now)}`;
  for (let n = 0; n < 100; n++) {
    const aside = n === 0 ? base : `${base}.${n}`;
    if (existsSync(aside)) continue;
    try {
      await rename(dir, aside);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return undefined;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') continue;
      throw e;
    }
    for (const path of hashed.keys()) if (path.startsWith(dir + '/')) hashed.delete(path);
    return aside;
  }
  throw new Error(`cannot find a free name to move ${dir} aside to`);
}

/** What a one-file entry records beside its file. */
export interface BuiltFileRecord {
  schema: 1;
  file: string;
  sha256: string;
  bytes: number;
  builtAt: string;
}

export const BUILT_FILE_RECORD = 'manifest.json';

export interface CachedBuildOptions {
  /** The folder of this kind of entry (e.g. the cache's agents/). */
  root: string;
  key: string;
  /** The file's name inside the entry. */
  file: string;
  /** What the entry is, for sentences: "in-guest agent". */
  what: string;
  /** Writes the file at the path it is given (inside a private directory). */
  build: (path: string) => Promise<void>;
  /** Where a corrupt entry is reported (default: stderr). */
  warn?: (message: string) => void;
}

/** Where a corrupt entry is reported unless a caller says otherwise. */
export const warnOnStderr = (message: string) => void process.stderr.write(message + '\n');

/**
 * A corrupt entry moved aside and said so: "The cached <what> <key> is
 * corrupt: <why>. Moved it aside to <where>; building it again."
 */
export async function setAsideToRebuild(dir: string, what: string, key: string, why: string, warn: (message: string) => void = warnOnStderr): Promise<void> {
  const aside = await moveAside(dir);
  warn(`The cached ${what} ${key} is corrupt: ${why}. ${aside ? `Moved it aside to ${aside}` : 'Another process moved it aside'}; building it again.`);
}

/**
 * The path of the entry's file, checked against the sha256 recorded when it
 * was written; built first when absent. A corrupt entry is named, moved
 * aside and built again. Written as the other entries are: in a private
 * directory, then renamed into place, the record with the file.
 */
export async function cachedBuild(o: CachedBuildOptions): Promise<string> {
  const dir = join(o.root, o.key);
  const path = join(dir, o.file);
  const warn = o.warn ?? warnOnStderr;
  const state = await entryState(dir, o.file);
  if (state.kind === 'intact') return path;
  if (state.kind === 'corrupt') {
    await setAsideToRebuild(dir, o.what, o.key, describeMismatch(state.mismatch), warn);
  } else if (state.kind === 'unrecorded') {
    // Written before entries recorded their sha256: nothing to check it against, and it is cheap to build.
    warn(`The cached ${o.what} ${o.key} has no recorded sha256 (an older harness wrote it); building it again.`);
  }

  await mkdir(o.root, { recursive: true });
  const tmp = await mkdtemp(join(o.root, `.${o.key}.tmp-`));
  try {
    await o.build(join(tmp, o.file));
    const bytes = (await stat(join(tmp, o.file))).size;
    const record: BuiltFileRecord = { schema: 1, file: o.file, sha256: await sha256File(join(tmp, o.file)), bytes, builtAt: new Date().toISOString() };
    await writeFile(join(tmp, BUILT_FILE_RECORD), JSON.stringify(record, null, 2) + '\n');
    await publishDir(tmp, dir, async () => {
      const there = await entryState(dir, o.file);
      return there.kind === 'intact' ? 'keep' : there.kind === 'corrupt' ? 'aside' : 'remove';
    });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return path;
}

type EntryState = { kind: 'absent' } | { kind: 'intact' } | { kind: 'unrecorded' } | { kind: 'corrupt'; mismatch: Mismatch };

async function entryState(dir: string, file: string): Promise<EntryState> {
  if (!existsSync(dir)) return { kind: 'absent' };
  const record = await readFile(join(dir, BUILT_FILE_RECORD), 'utf8').then(
    (t) => JSON.parse(t) as Partial<BuiltFileRecord>,
    () => undefined,
  );
  if (!record || typeof record.sha256 !== 'string') return { kind: 'unrecorded' };
  const [mismatch] = await checkFiles({ [join(dir, file)]: record.sha256 });
  return mismatch ? { kind: 'corrupt', mismatch } : { kind: 'intact' };
}

/**
 * Renames a finished private directory into place. When an entry is
 * already there (a concurrent builder finished first), `existing` says
 * what becomes of it: kept (ours is dropped), moved aside (a corrupt one)
 * or removed (one with nothing to check it by), and ours takes its place.
 */
export async function publishDir(tmp: string, dir: string, existing: () => Promise<'keep' | 'aside' | 'remove'>): Promise<void> {
  try {
    await rename(tmp, dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
    const verdict = await existing();
    if (verdict === 'keep') return;
    if (verdict === 'aside') await moveAside(dir);
    else await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
  }
}
