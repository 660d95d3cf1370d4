// The reference model of the LUO uAPI as the fuzzer drives it through the
// agent's raw verbs: which call must succeed, which must fail with which
// errno, and what must exist after each kexec. Every rule names the kernel
// function it comes from (kernel/liveupdate/luo_session.c, luo_file.c,
// luo_core.c, mm/memfd_luo.c of 7.2.13/7.3.4, which agree on all of it) or
// the agent check it mirrors (images/agent/verbs_raw.c). Pure: no I/O.
import type { Call, CallOptions, FuzzVerb } from './ops.ts';

/** What a call did: succeeded with these reply fields, or failed in `op` with `errno` (its name). */
export type Outcome = { ok: true; fields: Record<string, string | number | null> } | { ok: false; op: string; errno: string };

export interface Prediction {
  /** Any of these is right (more than one only where the outcome is not the kernel's to decide). */
  expect: Outcome[];
  /** The rule that decided it, for a finding's reader. */
  why: string;
}

/** A file the kernel knows (an inode): a memfd, a hugetlb memfd, or an unlinked tmpfs file. */
export interface FileObj {
  oid: number;
  size: number;
  /** Bytes from 0 that hold the seed's pattern; beyond them (after a grow) zeros. */
  valid: number;
  seed: number;
  sealed: boolean;
  hugetlb: boolean;
  tmpfile: boolean;
}

interface OutFile { token: bigint; obj: FileObj }
interface OutSession { sid: number; name: string; files: OutFile[] }
interface InFile { token: bigint; snap: FileObj; retrieved?: FileObj }
interface InSession { sid: number; name: string; retrieved: boolean; files: InFile[] }
interface Handle { dir: 'out' | 'in'; sid: number }

/** The kernel's session name buffer (LIVEUPDATE_SESSION_NAME_LENGTH), NUL included. */
const NAME_LENGTH = 64;
/** The agent's tables (images/agent/agent.h MAX_MEMFDS, verbs_raw.c MAX_RAW). */
const AGENT_MAX_MEMFDS = 256;
const AGENT_MAX_HANDLES = 512;
const HUGE_PAGE = 2 << 20;
const PAGE = 4096;
// fcntl seals: F_SEAL_SEAL 1, SHRINK 2, GROW 4, WRITE 8; the agent's --seals adds all four.
const SEALS_ALL_FOUR = 15;
const F_SEAL_SEAL = 1;

const ok = (fields: Record<string, string | number | null> = {}): Outcome => ({ ok: true, fields });
const err = (op: string, errno: string): Outcome => ({ ok: false, op, errno });
const lookup = (errno: string) => err('lookup', errno);
const P = (expect: Outcome | Outcome[], why: string): Prediction => ({ expect: Array.isArray(expect) ? expect : [expect], why });

const CREATE = 'LIVEUPDATE_IOCTL_CREATE_SESSION';
const RETRIEVE = 'LIVEUPDATE_IOCTL_RETRIEVE_SESSION';
const PRESERVE = 'LIVEUPDATE_SESSION_PRESERVE_FD';
const RETRIEVE_FD = 'LIVEUPDATE_SESSION_RETRIEVE_FD';
const FINISH = 'LIVEUPDATE_SESSION_FINISH';

/**
 * The seals a file shows (F_GET_SEALS), before and after a live update:
 * memfd_luo_retrieve() re-adds exactly the seals memfd_luo_preserve() saw; a
 * tmpfs file carries F_SEAL_SEAL from shmem_get_inode().
 */
export const sealsOf = (o: Pick<FileObj, 'sealed' | 'tmpfile'>) => (o.sealed ? SEALS_ALL_FOUR : o.tmpfile ? F_SEAL_SEAL : 0);

/** The bytes the kernel compares: the agent passes a name's first 64 bytes, NUL-terminated only when shorter. */
const nameBytes = (name: string) => Buffer.byteLength(name, 'utf8');

export class Model {
  #outgoing: OutSession[] = [];
  #incoming: InSession[] = [];
  #handles = new Map<string, Handle>();
  #memfds = new Map<string, FileObj>();
  /** luo_preserved_files: the inodes LUO holds now (preserved outgoing, or retrieved and not finished). */
  #registry = new Set<number>();
  /** Every session name the program used: after a kexec the ones that must be gone are probed. */
  #names = new Set<string>();
  #nextOid = 1;
  #nextSid = 1;
  #kexecs = 0;

  // ------------------------------------------------------------ queries ---

  get kexecs(): number {
    return this.#kexecs;
  }

  /** Handles the agent holds, with their direction. */
  handles(): { h: string; dir: 'out' | 'in'; name: string; files: number; finished: boolean }[] {
    return [...this.#handles].map(([h, x]) => {
      const s = x.dir === 'out' ? this.#out(x.sid)! : this.#in(x.sid)!;
      const files = x.dir === 'out' ? (s as OutSession).files.length : (s as InSession).files.length;
      return { h, dir: x.dir, name: s.name, files, finished: x.dir === 'in' && files === 0 };
    });
  }

  /** Memfd ids the agent holds. */
  memfds(): { id: string; obj: FileObj; preserved: boolean; busy: boolean }[] {
    return [...this.#memfds].map(([id, obj]) => ({ id, obj, preserved: this.#preserved(obj), busy: this.#registry.has(obj.oid) }));
  }

  /** Tokens of an outgoing session (by handle), or of an incoming one's unfinished files. */
  tokens(h: string): { token: bigint; retrieved: boolean }[] {
    const x = this.#handles.get(h);
    if (!x) return [];
    if (x.dir === 'out') return this.#out(x.sid)!.files.map((f) => ({ token: f.token, retrieved: false }));
    return this.#in(x.sid)!.files.map((f) => ({ token: f.token, retrieved: f.retrieved !== undefined }));
  }

  /** Sessions that came through the last kexec and that no handle holds yet. */
  unretrievedNames(): string[] {
    return this.#incoming.filter((s) => !s.retrieved).map((s) => s.name);
  }

  outgoingNames(): string[] {
    return this.#outgoing.map((s) => s.name);
  }

  incomingNames(): string[] {
    return this.#incoming.map((s) => s.name);
  }

  usedNames(): string[] {
    return [...this.#names];
  }

  /** Bytes of file content alive now (held by the agent, preserved, or waiting in an incoming session). */
  bytesInUse(): number {
    const objs = new Set<FileObj>(this.#memfds.values());
    for (const s of this.#outgoing) for (const f of s.files) objs.add(f.obj);
    for (const s of this.#incoming) for (const f of s.files) objs.add(f.retrieved ?? f.snap);
    let n = 0;
    for (const o of objs) if (!o.hugetlb) n += o.size;
    return n;
  }

  /** The seed a memfd's content was made from (memfd-verify needs it), or 0 when the model knows no such id. */
  seedOf(id: string): number {
    return this.#memfds.get(id)?.seed ?? 0;
  }

  // --------------------------------------------------------- prediction ---

  predict(call: Call): Prediction {
    if (call.kind === 'kexec') return P(ok(), 'kexec_file_load + reboot(LINUX_REBOOT_CMD_KEXEC): liveupdate_reboot() serializes the outgoing sessions and memfd freeze never fails');
    if (call.kind === 'kill') return P(ok(), 'the killed agent closed /dev/liveupdate with its other fds, so the restarted one can open it (luo_open admits one opener)');
    return this.#predictAgent(call.verb, call.options);
  }

  #predictAgent(verb: FuzzVerb, o: CallOptions): Prediction {
    const h = String(o.handle ?? '');
    const x = this.#handles.get(h);
    switch (verb) {
      case 'raw-session-create': {
        if (x) return P(lookup('EEXIST'), 'the agent refuses a handle it already holds');
        if (this.#handles.size >= AGENT_MAX_HANDLES) return P(lookup('ENOSPC'), `the agent holds at most ${AGENT_MAX_HANDLES} raw sessions`);
        const name = String(o.name);
        const n = nameBytes(name);
        if (n === 0 || n > NAME_LENGTH - 1) return P(err(CREATE, 'EINVAL'), `luo_session_create: a name of ${n} bytes (strnlen over ${NAME_LENGTH}) is 0 or more than ${NAME_LENGTH - 1}`);
        if (this.#outgoing.some((s) => s.name === name)) return P(err(CREATE, 'EEXIST'), 'luo_session_insert: an outgoing session already has this name');
        return P(ok({ direction: 'outgoing' }), 'luo_session_create: a new outgoing session (incoming names do not clash: they are another list)');
      }
      case 'raw-session-retrieve': {
        if (x) return P(lookup('EEXIST'), 'the agent refuses a handle it already holds');
        if (this.#handles.size >= AGENT_MAX_HANDLES) return P(lookup('ENOSPC'), `the agent holds at most ${AGENT_MAX_HANDLES} raw sessions`);
        const name = String(o.name);
        const s = nameBytes(name) >= NAME_LENGTH ? undefined : this.#incoming.find((i) => i.name === name);
        if (!s) return P(err(RETRIEVE, 'ENOENT'), 'luo_session_retrieve: no incoming session has this name (never preserved, closed, unpreserved, or dropped at a kexec it was not retrieved before)');
        if (s.retrieved) return P(err(RETRIEVE, 'EINVAL'), 'luo_session_retrieve: the session was already retrieved');
        return P(ok({ direction: 'incoming' }), 'luo_session_retrieve: an incoming session not yet retrieved');
      }
      case 'raw-session-finish': {
        if (!x) return P(lookup('ENOENT'), 'the agent holds no such handle');
        if (x.dir === 'out') return P(err(FINISH, 'EINVAL'), 'luo_session_ioctl: FINISH is for incoming sessions only');
        return P(ok({ direction: 'incoming' }), 'luo_file_finish: memfd has no can_finish, so finish succeeds (unretrieved files are discarded), again and again');
      }
      case 'raw-session-close':
        if (!x) return P(lookup('ENOENT'), 'the agent holds no such handle');
        return P(ok({ direction: x.dir === 'out' ? 'outgoing' : 'incoming' }), 'close() of a session fd always succeeds (luo_session_release)');
      case 'raw-session-name': {
        if (!x) return P(lookup('ENOENT'), 'the agent holds no such handle');
        const s = x.dir === 'out' ? this.#out(x.sid)! : this.#in(x.sid)!;
        return P(ok({ name: s.name }), 'luo_session_get_name: the name the session was created with');
      }
      case 'memfd-create': {
        const id = String(o.name);
        if (this.#memfds.has(id)) return P(lookup('EEXIST'), 'the agent already holds a memfd with this id');
        if (this.#memfds.size >= AGENT_MAX_MEMFDS) return P(lookup('ENOSPC'), `the agent holds at most ${AGENT_MAX_MEMFDS} memfds`);
        const size = Number(o.size);
        if (o.hugetlb === true) {
          if (size % HUGE_PAGE !== 0) return P(err('ftruncate', 'EINVAL'), 'hugetlbfs_setattr: a size that is not a multiple of the huge page size');
          if (size > 0) return P([ok({ size }), err('mmap', 'ENOMEM')], 'hugetlb pages may run out (the pool is the guest\'s, not LUO\'s)');
        }
        if (o.tmpfile === true && o.seals === true) return P(err('fcntl(F_ADD_SEALS)', 'EPERM'), 'memfd_add_seals: a tmpfs file carries F_SEAL_SEAL');
        return P(ok({ size }), 'memfd_create');
      }
      case 'memfd-close':
        if (!this.#memfds.has(String(o.id))) return P(lookup('ENOENT'), 'the agent holds no memfd with this id');
        return P(ok(), 'close() of a memfd (a preserved one lives on: LUO holds a reference)');
      case 'memfd-truncate': {
        const obj = this.#memfds.get(String(o.id));
        if (!obj) return P(lookup('ENOENT'), 'the agent holds no memfd with this id');
        const size = Number(o.size);
        if (size === obj.size) return P(ok({ size }), 'shmem_setattr: the same size changes nothing');
        if (obj.sealed) return P(err('ftruncate', 'EPERM'), 'shmem_setattr: F_SEAL_SHRINK / F_SEAL_GROW');
        if (this.#preserved(obj)) return P(err('ftruncate', 'EPERM'), 'shmem_setattr: memfd_luo_preserve froze the mapping (SHMEM_F_MAPPING_FROZEN) until the memfd is unpreserved');
        return P(ok({ size }), 'shmem_setattr: a memfd that is not preserved (a retrieved one never was) changes size');
      }
      case 'raw-preserve': {
        if (!x) return P(lookup('ENOENT'), 'the agent holds no such handle');
        const obj = o.memfd === undefined ? undefined : this.#memfds.get(String(o.memfd));
        if (o.memfd !== undefined && !obj) return P(lookup('ENOENT'), 'the agent holds no memfd with this id');
        if (x.dir === 'in') return P(err(PRESERVE, 'EINVAL'), 'luo_session_ioctl: PRESERVE_FD is for outgoing sessions only');
        const token = BigInt(String(o.token));
        if (this.#out(x.sid)!.files.some((f) => f.token === token)) return P(err(PRESERVE, 'EEXIST'), 'luo_preserve_file: the token is already used in this session');
        if (!obj) {
          if (o.kind === 'badfd') return P(err(PRESERVE, 'EBADF'), 'luo_preserve_file: fget() of an fd that is not open');
          return P(err(PRESERVE, 'ENOENT'), `luo_preserve_file: no handler's can_preserve() takes a ${String(o.kind)} fd (memfd_luo_can_preserve wants an unlinked shmem file)`);
        }
        if (obj.hugetlb) return P(err(PRESERVE, 'ENOENT'), 'memfd_luo_can_preserve: a hugetlb memfd is not a shmem file');
        if (this.#registry.has(obj.oid)) return P(err(PRESERVE, 'EBUSY'), 'luo_preserve_file: xa_insert() of an inode LUO already holds (preserved in a session, or retrieved and not yet finished)');
        return P(ok(), obj.tmpfile ? 'memfd_luo_can_preserve: an unlinked tmpfs file is a shmem file with no links, which the memfd handler takes' : 'memfd_luo_preserve: any size below UINT_MAX pages, seals within MEMFD_LUO_ALL_SEALS');
      }
      case 'raw-retrieve': {
        if (!x) return P(lookup('ENOENT'), 'the agent holds no such handle');
        if (this.#memfds.has(String(o.id))) return P(lookup('EEXIST'), 'the agent already holds a memfd with this id');
        if (this.#memfds.size >= AGENT_MAX_MEMFDS) return P(lookup('ENOSPC'), `the agent holds at most ${AGENT_MAX_MEMFDS} memfds`);
        if (x.dir === 'out') return P(err(RETRIEVE_FD, 'EINVAL'), 'luo_session_ioctl: RETRIEVE_FD is for incoming sessions only');
        const s = this.#in(x.sid)!;
        if (s.files.length === 0) return P(err(RETRIEVE_FD, 'ENOENT'), 'luo_retrieve_file: the session has no files (none preserved, or finished)');
        const token = BigInt(String(o.token));
        const f = s.files.find((i) => i.token === token);
        if (!f) return P(err(RETRIEVE_FD, 'ENOENT'), 'luo_retrieve_file: no file with this token');
        if (f.retrieved) return P(ok({ size: f.retrieved.size, seals: sealsOf(f.retrieved) }), 'luo_retrieve_file: the same file again (as it is now), with another reference');
        return P(ok({ size: f.snap.size, seals: sealsOf(f.snap) }), 'luo_retrieve_file: memfd_luo_retrieve: a memfd of the preserved size with the preserved seals');
      }
      case 'memfd-verify': {
        const obj = this.#memfds.get(String(o.id));
        if (!obj) return P(lookup('ENOENT'), 'the agent holds no memfd with this id');
        // After a grow, every page that reaches past the pattern holds zeros where the pattern has data.
        const pages = Math.ceil(obj.size / PAGE);
        const mismatched = obj.size > obj.valid ? pages - Math.floor(obj.valid / PAGE) : 0;
        return P(ok({ size: obj.size, mismatched_pages: mismatched, seals: sealsOf(obj) }), 'every page as it was written (a grown tail reads as zeros): memfd_luo keeps size, content and seals');
      }
      case 'raw-reset':
        return P(ok({ sessions: this.#handles.size, memfds: this.#memfds.size }), 'the agent closes every raw session and memfd it holds');
    }
  }

  // ------------------------------------------------------------- commit ---

  /** Advances the model by a call that had `outcome` (one the prediction allowed). */
  commit(call: Call, outcome: Outcome): void {
    if (call.kind === 'kexec') return this.#kexec();
    if (call.kind === 'kill') return this.#dropAgent();
    const o = call.options;
    if (call.verb === 'raw-session-create' || call.verb === 'raw-session-retrieve') this.#names.add(String(o.name));
    if (!outcome.ok) return;
    const h = String(o.handle ?? '');
    switch (call.verb) {
      case 'raw-session-create': {
        const s: OutSession = { sid: this.#nextSid++, name: String(o.name), files: [] };
        this.#outgoing.push(s);
        this.#handles.set(h, { dir: 'out', sid: s.sid });
        return;
      }
      case 'raw-session-retrieve': {
        const s = this.#incoming.find((i) => i.name === String(o.name))!;
        s.retrieved = true;
        this.#handles.set(h, { dir: 'in', sid: s.sid });
        return;
      }
      case 'raw-session-finish':
        return this.#finish(this.#in(this.#handles.get(h)!.sid)!);
      case 'raw-session-close':
        return this.#closeHandle(h);
      case 'memfd-create':
        this.#memfds.set(String(o.name), { oid: this.#nextOid++, size: Number(o.size), valid: Number(o.size), seed: Number(o.seed), sealed: o.seals === true, hugetlb: o.hugetlb === true, tmpfile: o.tmpfile === true });
        return;
      case 'memfd-close':
        this.#memfds.delete(String(o.id));
        return;
      case 'memfd-truncate': {
        const obj = this.#memfds.get(String(o.id))!;
        obj.size = Number(o.size);
        obj.valid = Math.min(obj.valid, obj.size);
        return;
      }
      case 'raw-preserve': {
        const obj = this.#memfds.get(String(o.memfd))!;
        this.#out(this.#handles.get(h)!.sid)!.files.push({ token: BigInt(String(o.token)), obj });
        this.#registry.add(obj.oid);
        return;
      }
      case 'raw-retrieve': {
        const f = this.#in(this.#handles.get(h)!.sid)!.files.find((i) => i.token === BigInt(String(o.token)))!;
        if (!f.retrieved) {
          f.retrieved = { ...f.snap, oid: this.#nextOid++ };
          this.#registry.add(f.retrieved.oid);
        }
        this.#memfds.set(String(o.id), f.retrieved);
        return;
      }
      case 'memfd-verify':
      case 'raw-session-name':
        return;
      case 'raw-reset':
        return this.#dropAgent();
    }
  }

  /** luo_file_finish: every file finished, LUO lets go of the retrieved ones, the unretrieved are discarded. */
  #finish(s: InSession): void {
    for (const f of s.files) if (f.retrieved) this.#registry.delete(f.retrieved.oid);
    s.files = [];
  }

  /** luo_session_release: an outgoing session unpreserves its files, an incoming one is finished and leaves the list. */
  #closeHandle(h: string): void {
    const x = this.#handles.get(h)!;
    this.#handles.delete(h);
    if (x.dir === 'out') {
      const s = this.#out(x.sid)!;
      for (const f of s.files) this.#registry.delete(f.obj.oid);
      this.#outgoing = this.#outgoing.filter((i) => i !== s);
    } else {
      const s = this.#in(x.sid)!;
      this.#finish(s);
      this.#incoming = this.#incoming.filter((i) => i !== s);
    }
  }

  /** Every fd the agent held is closed (a kill, or raw-reset). */
  #dropAgent(): void {
    for (const h of [...this.#handles.keys()]) this.#closeHandle(h);
    this.#memfds.clear();
  }

  /**
   * liveupdate_reboot -> luo_session_serialize: only outgoing sessions are
   * handed over (each fd holds one open until the reboot); incoming ones,
   * retrieved or not, are not, and the new kernel has an empty registry. The
   * agent is a new process that holds nothing.
   */
  #kexec(): void {
    this.#incoming = this.#outgoing.map((s) => ({ sid: this.#nextSid++, name: s.name, retrieved: false, files: s.files.map((f) => ({ token: f.token, snap: { ...f.obj } })) }));
    this.#outgoing = [];
    this.#handles.clear();
    this.#memfds.clear();
    this.#registry.clear();
    this.#kexecs++;
  }

  /** Preserved in an outgoing session: memfd_luo_preserve set SHMEM_F_MAPPING_FROZEN, memfd_luo_unpreserve clears it. */
  #preserved(obj: FileObj): boolean {
    return this.#outgoing.some((s) => s.files.some((f) => f.obj === obj));
  }

  #out(sid: number): OutSession | undefined {
    return this.#outgoing.find((s) => s.sid === sid);
  }

  #in(sid: number): InSession | undefined {
    return this.#incoming.find((s) => s.sid === sid);
  }

  // ----------------------------------------------- implicit checks ---

  /**
   * After a kexec: every name the program used that must be gone (closed,
   * unpreserved, dropped, never created) is asked for and must be ENOENT.
   * A refused retrieval changes nothing, so these cost the program nothing.
   */
  probesAfterKexec(limit = 16): Call[] {
    const present = new Set(this.#incoming.map((s) => s.name));
    return [...this.#names]
      .filter((n) => !present.has(n))
      .slice(0, limit)
      .map((name, i) => ({ kind: 'agent', verb: 'raw-session-retrieve', options: { handle: `probe-${this.#kexecs}-${i}`, name }, label: 'probe:raw-session-retrieve', about: [`n:${name}`] }) as Call);
  }

  /**
   * The end of a program: retrieve every session and file that must still
   * exist, verify every file the agent holds page by page, then close all of
   * it, which leaves the kernel with no session at all for the next program.
   */
  audit(): Call[] {
    const calls: Call[] = [];
    const held = new Map<number, string>([...this.#handles].filter(([, x]) => x.dir === 'in').map(([h, x]) => [x.sid, h]));
    this.#incoming.forEach((s, i) => {
      if (s.retrieved) return;
      const h = `audit-s${i}`;
      held.set(s.sid, h);
      calls.push({ kind: 'agent', verb: 'raw-session-retrieve', options: { handle: h, name: s.name }, label: 'audit:raw-session-retrieve', about: [`n:${s.name}`] });
    });
    const ids: [string, string[]][] = [...this.#memfds.keys()].map((id) => [id, [`m:${id}`]]);
    let m = 0;
    for (const s of this.#incoming) {
      for (const f of s.files) {
        if (f.retrieved) continue;
        const id = `audit-m${m++}`;
        const about = [`n:${s.name}`, `t:0x${f.token.toString(16)}`];
        ids.push([id, about]);
        calls.push({ kind: 'agent', verb: 'raw-retrieve', options: { handle: held.get(s.sid)!, token: `0x${f.token.toString(16)}`, id }, label: 'audit:raw-retrieve', about });
      }
    }
    for (const [id, about] of ids) calls.push({ kind: 'agent', verb: 'memfd-verify', options: { id }, label: 'audit:memfd-verify', about });
    calls.push({ kind: 'agent', verb: 'raw-reset', options: {}, label: 'audit:raw-reset' });
    return calls;
  }
}

/** Whether `observed` is one of the outcomes `p` allows: same success and fields, or the same failing op and errno. */
export function matches(p: Prediction, observed: Outcome): Outcome | undefined {
  return p.expect.find((e) => {
    if (e.ok !== observed.ok) return false;
    if (!e.ok || !observed.ok) return !e.ok && !observed.ok && e.op === observed.op && e.errno === observed.errno;
    return Object.entries(e.fields).every(([k, v]) => observed.fields[k] === v);
  });
}

/** "ok", the errno name, or `agent EEXIST` for the agent's own refusals: what coverage counts per call label. */
export const outcomeClass = (o: Outcome) => (o.ok ? 'ok' : o.op === 'lookup' || o.op === 'argument' ? `agent ${o.errno}` : o.errno);

export const renderOutcome = (o: Outcome) =>
  o.ok ? `ok${Object.keys(o.fields).length ? ' ' + Object.entries(o.fields).map(([k, v]) => `${k}=${v}`).join(' ') : ''}` : `${o.op} failed with ${o.errno}`;
