// Programs of live-update operations, generated from a seed. The generator
// runs its own copy of the model, so it knows what exists at every step and
// can aim: mostly at valid calls that build deep state (sessions full of
// memfds, retrieved and re-preserved across several kexecs), sometimes at
// the corners (a token reused, a memfd preserved twice, a finish before
// every fd was retrieved, a name at or past the limit, a kill). Every
// program ends in a kexec, some contain several.
import { Rng } from './rng.ts';
import { Model } from './model.ts';
import { expand, tokenOf, type Op, type Token } from './ops.ts';
import { RAW_FD_KINDS } from '../agent/protocol.ts';

export interface Program {
  /** The seed this program was generated from. */
  seed: number;
  ops: Op[];
}

export interface GeneratorLimits {
  /** Content the program keeps alive at once (memfds held, preserved, waiting to be retrieved). */
  maxBytes: number;
  /** Memfds of 32 MiB and more per program (each costs about a second to fill and to verify under TCG). */
  maxLarge: number;
  maxKexecs: number;
}

export const DEFAULT_LIMITS: GeneratorLimits = { maxBytes: 160 << 20, maxLarge: 2, maxKexecs: 3 };

const MiB = 1 << 20;
const PAGE = 4096;
/** Where memfd_luo gets interesting: the planted series and the chunked-array talk draw the line at 32 MiB. */
const LARGE = 32 * MiB;
// A 4 KiB serialization block holds 51 sessions (80-byte entries) or 63 files (64-byte entries): cross the lines.
const MANY_SESSIONS = [8, 50, 51, 52, 53];
const MANY_FDS = [16, 62, 63, 64, 65, 126, 127, 128];
const SPECIAL_TOKENS: Token[] = ['0x0', '0xffffffffffffffff', '0x8000000000000000', '0x4c554f4147454e54'];

class Builder {
  readonly ops: Op[] = [];
  readonly model = new Model();
  #n = 0;
  #large = 0;
  /** Next token per handle, so valid preserves use fresh ones. */
  readonly #nextToken = new Map<string, number>();
  readonly #verified = new Set<string>();
  /** Writes and punched holes per memfd id: a few each keep what the agent must record small. */
  readonly writes = new Map<string, number>();

  constructor(readonly rng: Rng, readonly limits: GeneratorLimits) {}

  fresh(prefix: string): string {
    return `${prefix}${++this.#n}`;
  }

  /**
   * Takes an op of another program as this one's own: pushed, and the names
   * and tokens it uses never handed out again (fresh names and tokens go on
   * past them).
   */
  adopt(op: Op): void {
    this.push(op);
    for (const v of Object.values(op)) {
      const n = typeof v === 'string' ? /^[a-z]+(\d+)$/.exec(v)?.[1] : undefined;
      if (n !== undefined) this.#n = Math.max(this.#n, Number(n));
    }
    if ('token' in op && 'h' in op && typeof op.token === 'string') {
      const used = Number(op.token);
      if (Number.isSafeInteger(used) && used >= (this.#nextToken.get(op.h) ?? 1)) this.#nextToken.set(op.h, used + 1);
    }
  }

  /** Appends an op and moves the model on as if every call did what it predicts. */
  push(op: Op): void {
    this.ops.push(op);
    for (const call of expand(op)) {
      const p = this.model.predict(call);
      this.model.commit(call, p.expect[0]!);
    }
    if (op.op === 'verify') this.#verified.add(op.id);
    if (op.op === 'write' || (op.op === 'fallocate' && op.punch)) this.writes.set(op.id, (this.writes.get(op.id) ?? 0) + 1);
    if (op.op === 'memfd' && op.size >= LARGE) this.#large++;
  }

  token(h: string): Token {
    if (this.rng.chance(0.06)) return this.rng.pick(SPECIAL_TOKENS);
    const n = this.#nextToken.get(h) ?? 1;
    this.#nextToken.set(h, n + this.rng.int(1, 3));
    return tokenOf(n);
  }

  size(): number {
    const r = this.rng;
    const room = this.limits.maxBytes - this.model.bytesInUse();
    const pick = (): number => {
      switch (r.weighted<string>([['zero', 1], ['tiny', 1], ['page', 1], ['pages', 2], ['medium', 2], ['mib', 1], ['big', 0.3], ['at-large', 0.3], ['large', 0.3]])) {
        case 'zero': return 0;
        case 'tiny': return r.int(1, PAGE - 1);
        case 'page': return PAGE;
        case 'pages': return r.int(2, 64) * PAGE + (r.chance(0.3) ? r.int(1, PAGE - 1) : 0);
        case 'medium': return r.int(16, 256) * PAGE;
        case 'mib': return r.int(1, 8) * MiB + (r.chance(0.2) ? r.int(1, PAGE - 1) : 0);
        case 'big': return r.int(8, 31) * MiB;
        case 'at-large': return LARGE;
        default: return r.int(33, 64) * MiB - (r.chance(0.3) ? r.int(1, PAGE - 1) : 0);
      }
    };
    for (let i = 0; i < 8; i++) {
      const s = pick();
      if (s >= LARGE && this.#large >= this.limits.maxLarge) continue;
      if (s <= room) return s;
    }
    return room >= PAGE ? PAGE : 0;
  }

  name(): string {
    const r = this.rng;
    const taken = new Set([...this.model.outgoingNames(), ...this.model.usedNames()]);
    const odd = r.weighted<string>([['plain', 20], ['at-limit', 1], ['past-limit', 0.7], ['empty', 0.3], ['same-out', 0.6], ['same-in', 1], ['chars', 0.5]]);
    switch (odd) {
      case 'at-limit': return this.fresh('n').padEnd(63, 'x');
      case 'past-limit': return this.fresh('n').padEnd(r.pick([64, 65, 80, 128]), 'y');
      case 'empty': return '';
      case 'same-out': { const out = this.model.outgoingNames(); if (out.length) return r.pick(out); break; }
      case 'same-in': { const inc = this.model.incomingNames(); if (inc.length) return r.pick(inc); break; }
      case 'chars': return `${this.fresh('c')} a/b."q\\`;
    }
    let n: string;
    do n = this.fresh('s');
    while (taken.has(n));
    return n;
  }

  unverified(): string[] {
    return this.model.memfds().filter((m) => !this.#verified.has(m.id)).map((m) => m.id);
  }
}

type Move = [name: string, weight: number, make: () => Op | undefined];

/** The moves available in the builder's current state, with their weights. */
function moves(b: Builder): Move[] {
  const r = b.rng;
  const m = b.model;
  const handles = m.handles();
  const out = handles.filter((h) => h.dir === 'out');
  const inc = handles.filter((h) => h.dir === 'in');
  const memfds = m.memfds();
  const free = memfds.filter((x) => !x.busy && !x.obj.hugetlb);
  const preserved = memfds.filter((x) => x.preserved);
  const waiting = m.unretrievedNames();
  const retrievable = inc.filter((h) => m.tokens(h.h).some((t) => !t.retrieved));
  const pickOut = () => r.pick(out).h;
  // Plain memfds with pages to write, and writes left in their budget (hugetlb and sealed ones are never written).
  const writable = memfds.filter((x) => !x.obj.hugetlb && !x.obj.sealed && x.obj.size > 0 && (b.writes.get(x.id) ?? 0) < 6);
  /** A page range inside a file of `size` bytes. */
  const range = (size: number): [number, number] => {
    const pages = Math.ceil(size / PAGE);
    const first = r.chance(0.2) ? 0 : r.int(0, pages - 1);
    return [first, r.int(1, Math.min(pages - first, r.chance(0.3) ? pages : 64))];
  };
  return [
    ['create', out.length < 4 ? 3 : 0.8, () => ({ op: 'create', h: b.fresh('h'), name: b.name() })],
    ['memfd', memfds.length < 6 ? 3 : 0.8, () => {
      const kind = r.weighted<string>([['memfd', 12], ['sealed', 5], ['hugetlb', 1], ['tmpfile', 1], ['fallocated', 4], ['hole', 2]]);
      const id = b.fresh('m');
      const seed = r.int(1, 1 << 30);
      // Guest RAM as a VMM makes it: preallocated (fallocate, not uptodate) or a hole, written later, often after PRESERVE_FD.
      if (kind === 'fallocated' || kind === 'hole') return { op: 'memfd', id, size: Math.min(b.size(), 16 * MiB), seed, fill: kind === 'hole' ? 'hole' : 'fallocate' };
      if (kind === 'hugetlb') return { op: 'memfd', id, size: r.pick([0, 2 * MiB, 4 * MiB, 3 * MiB]), seed, hugetlb: true, ...(r.chance(0.3) ? { sealed: true } : {}) };
      if (kind === 'tmpfile') return { op: 'memfd', id, size: Math.min(b.size(), 4 * MiB), seed, tmpfile: true, ...(r.chance(0.1) ? { sealed: true } : {}) };
      return { op: 'memfd', id, size: b.size(), seed, ...(kind === 'sealed' ? { sealed: true } : {}) };
    }],
    ['preserve', out.length && free.length ? 5 : 0, () => { const h = pickOut(); return { op: 'preserve', h, token: b.token(h), memfd: r.pick(free).id }; }],
    // The same memfd twice: under another token, or into another session (EBUSY).
    ['preserve-twice', out.length && preserved.length ? 0.6 : 0, () => { const h = pickOut(); return { op: 'preserve', h, token: b.token(h), memfd: r.pick(preserved).id }; }],
    ['reuse-token', out.some((h) => h.files > 0) && memfds.length ? 0.5 : 0, () => {
      const h = r.pick(out.filter((x) => x.files > 0)).h;
      return { op: 'preserve', h, token: tokenOf(r.pick(m.tokens(h)).token), memfd: r.pick(memfds).id };
    }],
    ['preserve-hugetlb', out.length && memfds.some((x) => x.obj.hugetlb) ? 0.5 : 0, () => { const h = pickOut(); return { op: 'preserve', h, token: b.token(h), memfd: r.pick(memfds.filter((x) => x.obj.hugetlb)).id }; }],
    ['preserve-other', out.length ? 0.5 : 0, () => { const h = pickOut(); return { op: 'preserve-other', h, token: b.token(h), kind: r.pick(RAW_FD_KINDS) }; }],
    ['close-memfd', memfds.length ? 0.4 : 0, () => ({ op: 'close-memfd', id: r.pick(memfds).id })],
    // Writes into a memfd: most often one already preserved (a running guest writes its RAM until the freeze), or one retrieved.
    ['write', writable.length ? (writable.some((x) => x.preserved) ? 4 : 1.5) : 0, () => {
      const pool = writable.some((x) => x.preserved) && r.chance(0.7) ? writable.filter((x) => x.preserved) : writable;
      const m = r.pick(pool);
      const [first, pages] = range(m.obj.size);
      return { op: 'write', id: m.id, first, pages, seed: r.int(1, 1 << 30), via: r.chance(0.6) ? 'mmap' : 'write' };
    }],
    // Preallocating or punching: refused (EPERM) while preserved, free before and after.
    ['fallocate', writable.length ? 0.8 : 0, () => {
      const m = r.pick(writable);
      const [first, pages] = range(m.obj.size);
      return { op: 'fallocate', id: m.id, first, pages, ...(r.chance(0.5) ? { punch: true } : {}) };
    }],
    // A preserved memfd's size is frozen until it is unpreserved; a retrieved one's is not.
    ['truncate', memfds.some((x) => !x.obj.hugetlb) ? 0.6 : 0, () => {
      const plain = memfds.filter((x) => !x.obj.hugetlb);
      const pool = plain.some((x) => x.preserved) && r.chance(0.5) ? plain.filter((x) => x.preserved) : plain;
      const m = r.pick(pool);
      const size = r.weighted<number>([[0, 1], [Math.floor(m.obj.size / 2), 2], [Math.floor(m.obj.size / PAGE / 2) * PAGE, 1], [m.obj.size + r.int(1, 3 * PAGE), 2], [m.obj.size, 0.5]]);
      return { op: 'truncate', id: m.id, size };
    }],
    ['preserve-reopened', out.length && memfds.some((x) => !x.obj.hugetlb) ? 0.4 : 0, () => {
      const h = pickOut();
      return { op: 'preserve', h, token: b.token(h), memfd: r.pick(memfds.filter((x) => !x.obj.hugetlb)).id, reopen: true };
    }],
    ['close-out', out.length ? 0.4 : 0, () => ({ op: 'close', h: pickOut() })],
    ['finish-out', out.length ? 0.12 : 0, () => ({ op: 'finish', h: pickOut() })],
    ['retrieve-fd-out', out.length ? 0.12 : 0, () => { const h = pickOut(); return { op: 'retrieve-fd', h, token: b.token(h), id: b.fresh('r') }; }],
    ['get-name', handles.length ? 0.3 : 0, () => ({ op: 'get-name', h: r.pick(handles).h })],
    ['verify', memfds.length ? (b.unverified().length ? 1.5 : 0.3) : 0, () => ({ op: 'verify', id: r.pick(b.unverified().length ? b.unverified() : memfds.map((x) => x.id)) })],
    ['many-sessions', handles.length < 100 ? 0.05 : 0, () => ({ op: 'many-sessions', prefix: `${b.fresh('ms')}-`, count: r.pick(MANY_SESSIONS) })],
    ['many-fds', out.length && memfds.length < 100 ? 0.06 : 0, () => ({ op: 'many-fds', h: pickOut(), prefix: `${b.fresh('mf')}-`, count: r.pick(MANY_FDS), size: r.pick([0, 100, PAGE]), tokenBase: r.pick([1000, 1 << 20]) })],
    ['kill', 0.15, () => ({ op: 'kill' })],
    ['stale-handle', 0.05, () => ({ op: r.pick(['finish', 'close', 'get-name'] as const), h: b.fresh('gone') })],
    // After a kexec.
    ['retrieve', waiting.length ? 6 : 0, () => ({ op: 'retrieve', h: b.fresh('h'), name: r.pick(waiting) })],
    ['retrieve-again', inc.length ? 0.4 : 0, () => ({ op: 'retrieve', h: b.fresh('h'), name: r.pick(inc).name })],
    ['retrieve-gone', m.usedNames().length ? 0.3 : 0, () => ({ op: 'retrieve', h: b.fresh('h'), name: r.pick(m.usedNames()) })],
    ['retrieve-fd', retrievable.length ? 6 : 0, () => {
      const h = r.pick(retrievable).h;
      return { op: 'retrieve-fd', h, token: tokenOf(r.pick(m.tokens(h).filter((t) => !t.retrieved)).token), id: b.fresh('r') };
    }],
    ['retrieve-fd-again', inc.some((h) => m.tokens(h.h).some((t) => t.retrieved)) ? 0.4 : 0, () => {
      const h = r.pick(inc.filter((x) => m.tokens(x.h).some((t) => t.retrieved))).h;
      return { op: 'retrieve-fd', h, token: tokenOf(r.pick(m.tokens(h).filter((t) => t.retrieved)).token), id: b.fresh('r') };
    }],
    ['retrieve-fd-wrong', inc.length ? 0.5 : 0, () => ({ op: 'retrieve-fd', h: r.pick(inc).h, token: r.pick<Token>(['0x7777', '0x0', tokenOf(r.int(1, 4))]), id: b.fresh('r') })],
    ['finish', inc.length ? (retrievable.length ? 0.6 : 2) : 0, () => ({ op: 'finish', h: r.pick(inc).h })],
    ['close-in', inc.length ? 0.6 : 0, () => ({ op: 'close', h: r.pick(inc).h })],
    ['preserve-into-in', inc.length && memfds.length ? 0.2 : 0, () => { const h = r.pick(inc).h; return { op: 'preserve', h, token: b.token(h), memfd: r.pick(memfds).id }; }],
    // Chain a retrieved memfd into the next live update (EBUSY until its session is finished).
    ['re-preserve', out.length && memfds.some((x) => x.busy && !x.preserved) ? 1.5 : 0, () => {
      const h = pickOut();
      return { op: 'preserve', h, token: b.token(h), memfd: r.pick(memfds.filter((x) => x.busy && !x.preserved)).id };
    }],
  ];
}

/** A program from `seed`: 1-3 stretches of operations, each ended by a kexec. */
export function generateProgram(seed: number, limits: GeneratorLimits = DEFAULT_LIMITS): Program {
  const rng = new Rng(seed);
  const b = new Builder(rng, limits);
  const epochs = Math.min(limits.maxKexecs, rng.weighted<number>([[1, 5], [2, 4], [3, 1]]));
  return { seed, ops: generateEpochs(b, rng, 0, epochs) };
}

/**
 * A program that reached new code, carried on differently (coverage-guided
 * fuzzing): its operations up to a point drawn from `seed`, then new ones
 * from the model's state there, ending in a kexec like every program. The
 * state the kept prefix built (sessions, memfds, what was preserved) is
 * where the new operations start, which a fresh program would rarely reach.
 */
export function mutateProgram(base: readonly Op[], seed: number, limits: GeneratorLimits = DEFAULT_LIMITS): Program {
  const rng = new Rng(seed);
  const b = new Builder(rng, limits);
  const cut = rng.int(1, Math.max(1, base.length - 1));
  for (const op of base.slice(0, cut)) b.adopt(op);
  const done = base.slice(0, cut).filter((o) => o.op === 'kexec').length;
  const epochs = Math.max(done + 1, Math.min(limits.maxKexecs, done + rng.weighted<number>([[1, 3], [2, 1]])));
  return { seed, ops: generateEpochs(b, rng, done, epochs) };
}

/** Stretches `from`..`to` of a program, each ended by a kexec, onto the builder's ops. */
function generateEpochs(b: Builder, rng: Rng, from: number, to: number): Op[] {
  for (let e = from; e < to; e++) {
    // Mostly short stretches, sometimes long ones: long interesting sequences need both.
    const length = rng.int(2, 10) + (rng.chance(0.35) ? rng.int(5, 30) : 0);
    for (let i = 0; i < length; i++) {
      const available = moves(b).filter(([, w]) => w > 0);
      const make = rng.weighted(available.map(([, w, f]) => [f, w] as const));
      const op = make();
      if (op) b.push(op);
    }
    // Before the kexec, a head start for what must survive it.
    if (rng.chance(0.5) && b.model.handles().some((h) => h.dir === 'out')) {
      const free = b.model.memfds().filter((x) => !x.busy && !x.obj.hugetlb);
      const out = b.model.handles().filter((h) => h.dir === 'out');
      if (free.length) {
        const h = rng.pick(out).h;
        b.push({ op: 'preserve', h, token: b.token(h), memfd: rng.pick(free).id });
      }
    }
    b.push({ op: 'kexec' });
  }
  return b.ops;
}
