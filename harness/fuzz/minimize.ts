// Shrinks a diverging program to a few operations that still diverge the
// same way. Every candidate is really run (the caller's `diverges`): first a
// slice (only the operations that touch what the divergence touched, plus
// every kexec and kill), then delta debugging (Zeller's ddmin, removals
// first), then smaller counts for the many-* operations and one-page memfds.
import type { Op } from './ops.ts';

export interface MinimizeOptions {
  /** At most this many candidate runs (default 60). */
  maxRuns?: number;
  /** The entities (handles, memfd ids, session names, tokens) the divergence involved: the slices start from them. */
  seeds?: readonly string[];
  /** The index of the diverging operation, when one of the program's own diverged (not the final audit). */
  diverging?: number;
  log?: (message: string) => void;
}

export interface Minimized {
  ops: Op[];
  /** Candidates run. */
  runs: number;
  /** Whether every step finished (false: maxRuns ran out first). */
  complete: boolean;
}

/** The names an operation touches: its handle, memfd ids, session name. */
export function entitiesOf(op: Op): string[] {
  switch (op.op) {
    case 'create':
    case 'retrieve':
      return [`h:${op.h}`, `n:${op.name}`];
    case 'finish':
    case 'close':
    case 'get-name':
    case 'preserve-other':
      return [`h:${op.h}`];
    case 'memfd':
    case 'close-memfd':
    case 'truncate':
    case 'write':
    case 'fallocate':
    case 'verify':
      return [`m:${op.id}`];
    case 'preserve':
      return [`h:${op.h}`, `m:${op.memfd}`];
    case 'retrieve-fd':
      return [`h:${op.h}`, `m:${op.id}`];
    case 'many-sessions':
      return Array.from({ length: op.count }, (_, i) => [`h:${op.prefix}${i}`, `n:${op.prefix}${i}`]).flat();
    case 'many-fds':
      return [`h:${op.h}`, ...Array.from({ length: op.count }, (_, i) => `m:${op.prefix}${i}`)];
    case 'kill':
    case 'kexec':
      return [];
  }
}

/**
 * The operations connected to `seeds` through shared handles, ids and names
 * (to a fixpoint), with every kexec and kill kept: what else ran cannot have
 * mattered unless it shared nothing with the divergence, which is what the
 * run of the slice checks.
 */
export function slice(ops: readonly Op[], seeds: readonly string[]): Op[] {
  const wanted = new Set(seeds);
  const keep = new Set<number>();
  for (let changed = true; changed; ) {
    changed = false;
    ops.forEach((op, i) => {
      if (keep.has(i)) return;
      const ents = entitiesOf(op);
      if (ents.length === 0 || ents.some((e) => wanted.has(e))) {
        keep.add(i);
        for (const e of ents) if (!wanted.has(e)) (wanted.add(e), (changed = true));
      }
    });
  }
  return ops.filter((_, i) => keep.has(i));
}

/**
 * The narrowest guess: the diverging operation and, backwards, only what
 * defines what it uses (the session it names, the preserve under its token,
 * the memfd that preserve took), with every kexec and kill. Seeds may name
 * tokens (`t:0x4`) as well as handles, ids and names. When the divergence
 * needs more (other files of the session, a close), this candidate does not
 * diverge and the broader slice is tried.
 */
export function narrowSlice(ops: readonly Op[], seedList: readonly string[], diverging?: number): Op[] {
  const d = diverging === undefined ? undefined : ops[diverging];
  const seeds = [...seedList, ...(d ? entitiesOf(d) : [])];
  const names = new Set(seeds.filter((e) => e.startsWith('n:')).map((e) => e.slice(2)));
  const handles = new Set(seeds.filter((e) => e.startsWith('h:')).map((e) => e.slice(2)));
  const memfds = new Set(seeds.filter((e) => e.startsWith('m:')).map((e) => e.slice(2)));
  const tokens = new Set(seeds.filter((e) => e.startsWith('t:')).map((e) => e.slice(2)));
  const keep = new Set<number>(diverging === undefined ? [] : [diverging]);
  if (d && (d.op === 'preserve' || d.op === 'preserve-other' || d.op === 'retrieve-fd')) tokens.add(d.token);
  for (let changed = true; changed; ) {
    changed = false;
    const want = (set: Set<string>, v: string) => {
      if (!set.has(v)) (set.add(v), (changed = true));
    };
    for (let i = ops.length - 1; i >= 0; i--) {
      const op = ops[i]!;
      let needed = false;
      switch (op.op) {
        case 'kexec':
        case 'kill':
          needed = true;
          break;
        case 'create':
        case 'retrieve':
          needed = names.has(op.name) || handles.has(op.h);
          if (needed) (want(names, op.name), want(handles, op.h));
          break;
        case 'memfd':
          needed = memfds.has(op.id);
          break;
        case 'preserve':
          needed = handles.has(op.h) && (tokens.has(op.token) || memfds.has(op.memfd));
          if (needed) (want(memfds, op.memfd), want(tokens, op.token));
          break;
        case 'retrieve-fd':
          needed = memfds.has(op.id);
          if (needed) (want(handles, op.h), want(tokens, op.token));
          break;
        case 'many-sessions':
          needed = Array.from({ length: op.count }, (_, k) => `${op.prefix}${k}`).some((n) => names.has(n) || handles.has(n));
          break;
        case 'many-fds':
          needed = handles.has(op.h) && Array.from({ length: op.count }, (_, k) => `${op.prefix}${k}`).some((m) => memfds.has(m));
          break;
        default:
          needed = false;
      }
      if (needed && !keep.has(i)) (keep.add(i), (changed = true));
    }
  }
  return ops.filter((_, i) => keep.has(i));
}

export async function minimize(ops: readonly Op[], diverges: (ops: Op[]) => Promise<boolean>, options: MinimizeOptions = {}): Promise<Minimized> {
  const maxRuns = options.maxRuns ?? 60;
  const log = options.log ?? (() => {});
  const tried = new Map<string, boolean>();
  let runs = 0;
  let complete = true;
  const test = async (candidate: Op[]): Promise<boolean> => {
    const key = JSON.stringify(candidate);
    const known = tried.get(key);
    if (known !== undefined) return known;
    if (runs >= maxRuns) {
      complete = false;
      return false;
    }
    runs++;
    const result = await diverges(candidate);
    tried.set(key, result);
    log(`candidate ${runs}: ${candidate.length} ops ${result ? 'diverges' : 'does not'}`);
    return result;
  };

  let current = [...ops];
  if (options.seeds?.length) {
    const narrow = narrowSlice(current, options.seeds, options.diverging);
    const broad = slice(current, options.seeds);
    if (narrow.length < current.length && (await test(narrow))) current = narrow;
    else if (broad.length < current.length && (await test(broad))) current = broad;
  }

  // ddmin: split into n chunks, keep any complement that still diverges.
  let n = 2;
  while (current.length >= 2 && runs < maxRuns) {
    const size = Math.ceil(current.length / n);
    let reduced = false;
    for (let start = 0; start < current.length; start += size) {
      const complement = [...current.slice(0, start), ...current.slice(start + size)];
      if (complement.length > 0 && (await test(complement))) {
        current = complement;
        n = Math.max(n - 1, 2);
        reduced = true;
        break;
      }
    }
    if (!reduced) {
      if (n >= current.length) break;
      n = Math.min(n * 2, current.length);
    }
  }

  // Smaller counts and sizes: a reproducer should be cheap to run and plain to read.
  for (let i = 0; i < current.length && runs < maxRuns; i++) {
    const op = current[i]!;
    if ((op.op === 'many-sessions' || op.op === 'many-fds') && op.count > 1) {
      for (let count = Math.floor(op.count / 2); count >= 1; count = Math.floor(count / 2)) {
        const candidate = current.map((o, j) => (j === i ? { ...op, count } : o));
        if (!(await test(candidate))) break;
        current = candidate;
      }
    }
    const now = current[i]!;
    if (now.op === 'memfd' && now.size > 4096 && !now.hugetlb) {
      const candidate = current.map((o, j) => (j === i ? { ...now, size: 4096 } : o));
      if (await test(candidate)) current = candidate;
    }
  }
  // Plain session names, unless the odd one is what matters.
  const odd = [...new Set(current.flatMap((op) => (op.op === 'create' || op.op === 'retrieve' ? [op.name] : [])))].filter((n) => !/^[a-z]{1,3}\d{1,3}$/.test(n));
  const taken = new Set(current.flatMap((op) => (op.op === 'create' || op.op === 'retrieve' ? [op.name] : [])));
  let next = 0;
  for (const name of odd.slice(0, 3)) {
    if (runs >= maxRuns) break;
    let plain: string;
    do plain = `s${++next}`;
    while (taken.has(plain));
    taken.add(plain);
    const candidate = current.map((op) => ((op.op === 'create' || op.op === 'retrieve') && op.name === name ? { ...op, name: plain } : op));
    if (await test(candidate)) current = candidate;
  }
  return { ops: current, runs, complete: complete && runs < maxRuns };
}
