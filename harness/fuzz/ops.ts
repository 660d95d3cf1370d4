// The operations a fuzz program is made of, the agent calls each one expands
// to, and their one-line rendering. Plain JSON data: a program travels in
// finding files and is replayed from them.
import { ConfigError } from '../errors.ts';
import { RAW_FD_KINDS, type RawFdKind } from '../agent/protocol.ts';

/** A u64 preservation token, written `0x...` (JSON numbers cannot hold every u64). */
export type Token = `0x${string}`;

export type Op =
  /** LIVEUPDATE_IOCTL_CREATE_SESSION; the agent calls it `h` from now on. */
  | { op: 'create'; h: string; name: string }
  /** LIVEUPDATE_IOCTL_RETRIEVE_SESSION into handle `h`. */
  | { op: 'retrieve'; h: string; name: string }
  | { op: 'finish'; h: string }
  /** close() of the session fd: unpreserves an outgoing session, finishes an incoming one. */
  | { op: 'close'; h: string }
  | { op: 'get-name'; h: string }
  /**
   * A memfd (or with `tmpfile` an unlinked tmpfs file) of `size` bytes, filled from `seed`; with `fill`,
   * never written instead: a hole, or fallocated (allocated, not uptodate: preallocated guest RAM).
   */
  | { op: 'memfd'; id: string; size: number; seed: number; sealed?: boolean; hugetlb?: boolean; tmpfile?: boolean; fill?: 'hole' | 'fallocate' }
  /** `seed`'s pattern into pages [first, first + pages) by mmap stores or write(): before or after PRESERVE_FD, or after retrieval. */
  | { op: 'write'; id: string; first: number; pages: number; seed: number; via: 'mmap' | 'write' }
  /** fallocate() of pages [first, first + pages), or with `punch` a hole: frozen (EPERM) while preserved. */
  | { op: 'fallocate'; id: string; first: number; pages: number; punch?: boolean }
  /** The agent drops its fd of a memfd (a preserved one lives on in the kernel). */
  | { op: 'close-memfd'; id: string }
  /** With `reopen`, another open file of the memfd's inode is offered (LUO keys memfds by inode). */
  | { op: 'preserve'; h: string; token: Token; memfd: string; reopen?: boolean }
  /** ftruncate(): frozen (EPERM) while the memfd is preserved, or by its seals. */
  | { op: 'truncate'; id: string; size: number }
  /** PRESERVE_FD of an fd the kernel has no handler for (or of no fd at all). */
  | { op: 'preserve-other'; h: string; token: Token; kind: RawFdKind }
  /** RETRIEVE_FD; the file joins the agent's memfds as `id`. */
  | { op: 'retrieve-fd'; h: string; token: Token; id: string }
  /** Every page of a memfd against the model's size, seals and seed. */
  | { op: 'verify'; id: string }
  /** Sessions `${prefix}0`.. `${prefix}${count - 1}` (handles and names alike): many sessions at once. */
  | { op: 'many-sessions'; prefix: string; count: number }
  /** `count` memfds of `size` bytes preserved in `h` with tokens from `tokenBase` on: many fds in one session. */
  | { op: 'many-fds'; h: string; prefix: string; count: number; size: number; tokenBase: number }
  /** SIGKILL of the agent, which init's replacement then restarts: every fd it held closes at once. */
  | { op: 'kill' }
  | { op: 'kexec' };

export type OpName = Op['op'];
export const OP_NAMES: readonly OpName[] = ['create', 'retrieve', 'finish', 'close', 'get-name', 'memfd', 'close-memfd', 'truncate', 'write', 'fallocate', 'preserve', 'preserve-other', 'retrieve-fd', 'verify', 'many-sessions', 'many-fds', 'kill', 'kexec'];

/** The agent verbs a fuzz program calls. */
export type FuzzVerb =
  | 'raw-session-create'
  | 'raw-session-retrieve'
  | 'raw-session-finish'
  | 'raw-session-close'
  | 'raw-session-name'
  | 'raw-preserve'
  | 'raw-retrieve'
  | 'raw-reset'
  | 'memfd-create'
  | 'memfd-close'
  | 'memfd-truncate'
  | 'memfd-write'
  | 'memfd-fallocate'
  | 'memfd-verify';

export type CallOptions = Record<string, string | number | boolean>;

/** One step the executor performs and the model predicts: an agent call, a kexec, or a kill. */
export type Call =
  | {
      kind: 'agent';
      verb: FuzzVerb;
      options: CallOptions;
      /** What coverage counts it as: the verb, or `raw-preserve:pipe`. */
      label: string;
      /** For the model's own checks: the program's handles, ids and names (minimize.ts entities) the call is about. */
      about?: string[];
    }
  | { kind: 'kexec'; label: 'kexec' }
  | { kind: 'kill'; label: 'kill' };

const agent = (verb: FuzzVerb, options: CallOptions, label: string = verb): Call => ({ kind: 'agent', verb, options, label });

export const tokenOf = (n: number | bigint): Token => `0x${BigInt(n).toString(16)}`;

/** The calls one operation makes, in order. memfd-verify's seed is filled in by the model. */
export function expand(op: Op): Call[] {
  switch (op.op) {
    case 'create':
      return [agent('raw-session-create', { handle: op.h, name: op.name })];
    case 'retrieve':
      return [agent('raw-session-retrieve', { handle: op.h, name: op.name })];
    case 'finish':
      return [agent('raw-session-finish', { handle: op.h })];
    case 'close':
      return [agent('raw-session-close', { handle: op.h })];
    case 'get-name':
      return [agent('raw-session-name', { handle: op.h })];
    case 'memfd': {
      const kind = op.hugetlb ? 'hugetlb' : op.tmpfile ? 'tmpfile' : 'memfd';
      return [
        agent(
          'memfd-create',
          { name: op.id, size: op.size, seed: op.seed, ...(op.sealed ? { seals: true } : {}), ...(op.hugetlb ? { hugetlb: true } : {}), ...(op.tmpfile ? { tmpfile: true } : {}), ...(op.fill ? { fill: op.fill } : {}) },
          `memfd-create:${kind}${op.sealed ? '+sealed' : ''}${op.fill ? `+${op.fill}` : ''}`,
        ),
      ];
    }
    case 'write':
      return [agent('memfd-write', { id: op.id, first: op.first, pages: op.pages, seed: op.seed, via: op.via }, `memfd-write:${op.via}`)];
    case 'fallocate':
      return [agent('memfd-fallocate', { id: op.id, first: op.first, pages: op.pages, ...(op.punch ? { punch: true } : {}) }, op.punch ? 'memfd-fallocate:punch' : 'memfd-fallocate')];
    case 'close-memfd':
      return [agent('memfd-close', { id: op.id })];
    case 'preserve':
      return [agent('raw-preserve', { handle: op.h, token: op.token, memfd: op.memfd, ...(op.reopen ? { reopen: true } : {}) }, op.reopen ? 'raw-preserve:reopened' : 'raw-preserve')];
    case 'truncate':
      return [agent('memfd-truncate', { id: op.id, size: op.size })];
    case 'preserve-other':
      return [agent('raw-preserve', { handle: op.h, token: op.token, kind: op.kind }, `raw-preserve:${op.kind}`)];
    case 'retrieve-fd':
      return [agent('raw-retrieve', { handle: op.h, token: op.token, id: op.id })];
    case 'verify':
      return [agent('memfd-verify', { id: op.id })];
    case 'many-sessions':
      return Array.from({ length: op.count }, (_, i) => agent('raw-session-create', { handle: `${op.prefix}${i}`, name: `${op.prefix}${i}` }));
    case 'many-fds':
      return Array.from({ length: op.count }, (_, i) => [
        agent('memfd-create', { name: `${op.prefix}${i}`, size: op.size, seed: op.tokenBase + i }, 'memfd-create:memfd'),
        agent('raw-preserve', { handle: op.h, token: tokenOf(op.tokenBase + i), memfd: `${op.prefix}${i}` }),
      ]).flat();
    case 'kill':
      return [{ kind: 'kill', label: 'kill' }];
    case 'kexec':
      return [{ kind: 'kexec', label: 'kexec' }];
  }
}

/** A name as a person reads it: long ones as `"xxx…"(64 bytes)`. */
function showName(name: string): string {
  const bytes = Buffer.byteLength(name);
  return bytes > 20 ? `${JSON.stringify(name.slice(0, 12) + '…')}(${bytes} bytes)` : JSON.stringify(name);
}

const showSize = (n: number) => (n >= 1 << 20 && n % (1 << 20) === 0 ? `${n >> 20}M` : n >= 1024 && n % 1024 === 0 ? `${n >> 10}K` : `${n}`);

/** One line per operation, as findings and logs show programs. */
export function renderOp(op: Op): string {
  switch (op.op) {
    case 'create':
    case 'retrieve':
      return `${op.op} ${op.h} ${showName(op.name)}`;
    case 'finish':
    case 'close':
    case 'get-name':
      return `${op.op} ${op.h}`;
    case 'memfd':
      return `memfd ${op.id} ${showSize(op.size)} seed=${op.seed}${op.sealed ? ' sealed' : ''}${op.hugetlb ? ' hugetlb' : ''}${op.tmpfile ? ' tmpfile' : ''}${op.fill ? ` ${op.fill}` : ''}`;
    case 'write':
      return `write ${op.id} pages ${op.first}..${op.first + op.pages - 1} seed=${op.seed} (${op.via === 'mmap' ? 'mmap stores' : 'write()'})`;
    case 'fallocate':
      return `fallocate ${op.id} pages ${op.first}..${op.first + op.pages - 1}${op.punch ? ' punch' : ''}`;
    case 'close-memfd':
    case 'verify':
      return `${op.op} ${op.id}`;
    case 'preserve':
      return `preserve ${op.h} ${op.token} ${op.memfd}${op.reopen ? ' (reopened)' : ''}`;
    case 'truncate':
      return `truncate ${op.id} ${showSize(op.size)}`;
    case 'preserve-other':
      return `preserve-other ${op.h} ${op.token} ${op.kind}`;
    case 'retrieve-fd':
      return `retrieve-fd ${op.h} ${op.token} -> ${op.id}`;
    case 'many-sessions':
      return `many-sessions ${op.prefix}0..${op.prefix}${op.count - 1}`;
    case 'many-fds':
      return `many-fds ${op.h} ${op.count} x ${showSize(op.size)} (${op.prefix}*, tokens ${op.tokenBase}..)`;
    case 'kill':
    case 'kexec':
      return op.op;
  }
}

export const renderProgram = (ops: readonly Op[]) => ops.map((op, i) => `${String(i + 1).padStart(3)}. ${renderOp(op)}`).join('\n');

// ------------------------------------------------------------- checking ---

const isStr = (v: unknown): v is string => typeof v === 'string';
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isToken = (v: unknown): v is Token => isStr(v) && /^0x[0-9a-f]{1,16}$/.test(v);

/** An operation read from a finding file, checked field by field. */
export function parseOp(raw: unknown, where: string): Op {
  const bad = (why: string) => new ConfigError(`${where}: ${why} (in ${JSON.stringify(raw)})`);
  if (typeof raw !== 'object' || raw === null) throw bad('an operation must be an object');
  const o = raw as Record<string, unknown>;
  const need = (key: string, check: (v: unknown) => boolean, what: string) => {
    if (!check(o[key])) throw bad(`"${key}" must be ${what}`);
  };
  const opt = (key: string) => o[key] === undefined || typeof o[key] === 'boolean';
  if (!OP_NAMES.includes(o.op as OpName)) throw bad(`unknown operation ${JSON.stringify(o.op)}`);
  const op = o.op as OpName;
  if (['create', 'retrieve', 'finish', 'close', 'get-name', 'preserve', 'preserve-other', 'retrieve-fd', 'many-fds'].includes(op)) need('h', isStr, 'a handle');
  if (op === 'create' || op === 'retrieve') need('name', isStr, 'a string');
  if (['memfd', 'close-memfd', 'truncate', 'retrieve-fd', 'verify', 'write', 'fallocate'].includes(op)) need('id', isStr, 'a memfd id');
  if (op === 'write' || op === 'fallocate') {
    need('first', isInt, 'a page index');
    need('pages', isInt, 'a page count');
  }
  if (op === 'write') {
    need('seed', isInt, 'a seed');
    need('via', (v) => v === 'mmap' || v === 'write', '"mmap" or "write"');
  }
  if (op === 'fallocate' && !opt('punch')) throw bad('punch is a boolean');
  if (op === 'truncate') need('size', isInt, 'a size in bytes');
  if (op === 'preserve' && !opt('reopen')) throw bad('reopen is a boolean');
  if (['preserve', 'preserve-other', 'retrieve-fd'].includes(op)) need('token', isToken, 'a token such as "0x1"');
  if (op === 'memfd') {
    need('size', isInt, 'a size in bytes');
    need('seed', isInt, 'a seed');
    if (!opt('sealed') || !opt('hugetlb') || !opt('tmpfile')) throw bad('sealed, hugetlb and tmpfile are booleans');
    if (o.fill !== undefined && o.fill !== 'hole' && o.fill !== 'fallocate') throw bad('fill is "hole" or "fallocate"');
  }
  if (op === 'preserve') need('memfd', isStr, 'a memfd id');
  if (op === 'preserve-other') need('kind', (v) => RAW_FD_KINDS.includes(v as RawFdKind), `one of ${RAW_FD_KINDS.join(', ')}`);
  if (op === 'many-sessions' || op === 'many-fds') {
    need('prefix', isStr, 'a string');
    need('count', (v) => isInt(v) && v > 0, 'a positive count');
  }
  if (op === 'many-fds') {
    need('size', isInt, 'a size in bytes');
    need('tokenBase', isInt, 'a number');
  }
  return o as unknown as Op;
}
