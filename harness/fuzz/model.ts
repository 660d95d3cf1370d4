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
  /** Bytes from 0 that hold the seed's pattern; beyond them (after a grow, or made as a hole or fallocated) zeros. */
  valid: number;
  seed: number;
  sealed: boolean;
  hugetlb: boolean;
  tmpfile: boolean;
  /** Pages written (a seed's pattern) or punched (zeros, seed null) since: the first `cut` bytes of each hold it, the rest zeros. */
  over: Map<number, PageContent>;
}

/** What one page holds: the first `cut` bytes of `seed`'s pattern for it, zeros after (seed null: all zeros). */
export interface PageContent {
  seed: number | null;
  cut: number;
}

/** What the agent is told each page of a memfd must hold (memfd-verify's fill and writes), from the model's content. */
export interface VerifyExpectation {
  seed: number;
  fill: 'pattern' | 'hole';
  /** Runs of pages: [first, pages, seed, zero]. */
  runs: [number, number, number, boolean][];
}

const copyObj = (o: FileObj): FileObj => ({ ...o, over: new Map(o.over) });

interface OutFile { token: bigint; obj: FileObj }
interface OutSession { sid: number; name: string; files: OutFile[] }
interface InFile { token: bigint; snap: FileObj; retrieved?: FileObj }
interface InSession { sid: number; name: string; retrieved: boolean; files: InFile[] }
interface Handle { dir: 'out' | 'in'; sid: number }

/** The kernel's session name buffer (LIVEUPDATE_SESSION_NAME_LENGTH), NUL included. */
const NAME_LENGTH = 64;
/** The agent's tables (images/agent/agent.h MAX_MEMFDS, MAX_EXTENTS, verbs_raw.c MAX_RAW). */
const AGENT_MAX_MEMFDS = 256;
const AGENT_MAX_EXTENTS = 64;
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
  /** Writes and punched holes the agent recorded per memfd id (it refuses one more than AGENT_MAX_EXTENTS). */
  #extents = new Map<string, number>();
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

  /**
   * What memfd-verify is told every page of `id` must hold: the model's own content, in the
   * agent's terms (a fill, then runs of written or zeroed pages). What those terms cannot say
   * (a page cut short by a truncate and grown again) the prediction counts as mismatched.
   */
  expectationOf(id: string): VerifyExpectation | undefined {
    const obj = this.#memfds.get(id);
    if (!obj) return undefined;
    const pages = Math.ceil(obj.size / PAGE);
    const runs: VerifyExpectation['runs'] = [];
    const push = (p: number, seed: number | null) => {
      const last = runs.at(-1);
      if (last && last[0] + last[1] === p && last[3] === (seed === null) && (seed === null || last[2] === seed)) last[1]++;
      else runs.push([p, 1, seed ?? 0, seed === null]);
    };
    const fill = obj.valid > 0 ? 'pattern' : 'hole';
    for (let p = 0; p < pages; p++) {
      const c = pageContent(obj, p);
      const base: number | null = fill === 'pattern' ? obj.seed : null;
      const seed = c.seed === null || c.cut === 0 ? null : c.seed;
      if (seed !== base) push(p, seed);
    }
    return { seed: obj.seed, fill, runs: runs.slice(0, AGENT_MAX_EXTENTS) };
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
        const mismatched = mismatchedPages(obj, this.expectationOf(String(o.id))!);
        return P(ok({ size: obj.size, mismatched_pages: mismatched, seals: sealsOf(obj) }), 'every page as it was last written (pattern, writes, holes; a page cut short by a truncate and grown again cannot be told to the agent and counts): memfd_luo keeps size, content and seals');
      }
      case 'memfd-write':
      case 'memfd-fallocate': {
        const id = String(o.id);
        const obj = this.#memfds.get(id);
        if (!obj) return P(lookup('ENOENT'), 'the agent holds no memfd with this id');
        const first = Number(o.first);
        const count = Number(o.pages);
        const pages = Math.ceil(obj.size / PAGE);
        if (!count || first > pages || count > pages - first) return P(err('argument', 'EINVAL'), 'the agent writes and fallocates only pages inside the file');
        const records = verb === 'memfd-write' || o.punch === true;
        if (records && (this.#extents.get(id) ?? 0) >= AGENT_MAX_EXTENTS) return P(err('extents', 'ENOSPC'), `the agent records at most ${AGENT_MAX_EXTENTS} writes per memfd`);
        if (verb === 'memfd-write') {
          const via = o.via === 'write' ? 'pwrite' : 'mmap';
          if (obj.hugetlb) {
            if (via === 'pwrite') return P(err('pwrite', 'EINVAL'), 'hugetlbfs has no write()');
            if ((first * PAGE) % HUGE_PAGE !== 0) return P(err('mmap', 'EINVAL'), 'hugetlbfs: mmap at an offset that is not a huge page boundary');
            return P([ok(), err('mmap', 'ENOMEM')], 'hugetlb pages may run out (the pool is the guest\'s, not LUO\'s)');
          }
          if (obj.sealed) return P(err(via, 'EPERM'), via === 'mmap' ? 'memfd_add_seals: F_SEAL_WRITE refuses a shared writable mapping' : 'shmem_file_write_iter: F_SEAL_WRITE');
          return P(ok(), 'writes inside the file always go through: a preserved memfd is frozen in size and allocation, not content (shmem_write_begin checks SHMEM_F_MAPPING_FROZEN only past EOF)');
        }
        if (obj.hugetlb) return P([ok(), err('fallocate', 'EINVAL'), err('fallocate', 'ENOMEM'), err('fallocate', 'ENOSPC')], 'hugetlbfs_fallocate: huge page alignment and the pool decide');
        if (this.#preserved(obj)) return P(err('fallocate', 'EPERM'), 'shmem_fallocate: memfd_luo_preserve froze the mapping (SHMEM_F_MAPPING_FROZEN) until the memfd is unpreserved');
        if (o.punch === true && obj.sealed) return P(err('fallocate', 'EPERM'), 'shmem_fallocate: F_SEAL_WRITE refuses a punched hole');
        return P(ok(), o.punch === true ? 'shmem_fallocate: FALLOC_FL_PUNCH_HOLE, the pages read zeros' : 'shmem_fallocate: pages inside the file, their content unchanged');
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
        // A hole or fallocated memfd was never written: zeros (valid 0).
        this.#memfds.set(String(o.name), { oid: this.#nextOid++, size: Number(o.size), valid: o.fill === undefined ? Number(o.size) : 0, seed: Number(o.seed), sealed: o.seals === true, hugetlb: o.hugetlb === true, tmpfile: o.tmpfile === true, over: new Map() });
        this.#extents.set(String(o.name), 0);
        return;
      case 'memfd-close':
        this.#memfds.delete(String(o.id));
        this.#extents.delete(String(o.id));
        return;
      case 'memfd-truncate': {
        const obj = this.#memfds.get(String(o.id))!;
        obj.size = Number(o.size);
        obj.valid = Math.min(obj.valid, obj.size);
        // What lay past the new end is gone: whole pages drop their writes, the page it cuts keeps its head.
        for (const [p, c] of obj.over) {
          const start = p * PAGE;
          if (start >= obj.size) obj.over.delete(p);
          else if (start + c.cut > obj.size) obj.over.set(p, { seed: c.seed, cut: obj.size - start });
        }
        return;
      }
      case 'memfd-write':
      case 'memfd-fallocate': {
        const id = String(o.id);
        const obj = this.#memfds.get(id)!;
        const zero = call.verb === 'memfd-fallocate';
        if (zero && o.punch !== true) return; // allocation only: every byte reads as before
        for (let p = Number(o.first); p < Number(o.first) + Number(o.pages); p++) obj.over.set(p, zero ? { seed: null, cut: 0 } : { seed: Number(o.seed), cut: PAGE });
        this.#extents.set(id, (this.#extents.get(id) ?? 0) + 1);
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
          f.retrieved = { ...copyObj(f.snap), oid: this.#nextOid++ };
          this.#registry.add(f.retrieved.oid);
        }
        this.#memfds.set(String(o.id), f.retrieved);
        this.#extents.set(String(o.id), 0);
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
    this.#extents.clear();
  }

  /**
   * liveupdate_reboot -> luo_session_serialize: only outgoing sessions are
   * handed over (each fd holds one open until the reboot); incoming ones,
   * retrieved or not, are not, and the new kernel has an empty registry. The
   * agent is a new process that holds nothing.
   */
  #kexec(): void {
    this.#incoming = this.#outgoing.map((s) => ({ sid: this.#nextSid++, name: s.name, retrieved: false, files: s.files.map((f) => ({ token: f.token, snap: copyObj(f.obj) })) }));
    this.#outgoing = [];
    this.#handles.clear();
    this.#memfds.clear();
    this.#extents.clear();
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

/** What page `p` of `obj` holds now. */
export function pageContent(obj: FileObj, p: number): PageContent {
  const written = obj.over.get(p);
  if (written) return written;
  const start = p * PAGE;
  return start >= obj.valid ? { seed: null, cut: 0 } : { seed: obj.seed, cut: Math.min(PAGE, obj.valid - start) };
}

/** Pages whose content differs from what `e` tells the agent, over the bytes the agent compares (the file's size). */
export function mismatchedPages(obj: FileObj, e: VerifyExpectation): number {
  const pages = Math.ceil(obj.size / PAGE);
  let n = 0;
  for (let p = 0; p < pages; p++) {
    const len = Math.min(PAGE, obj.size - p * PAGE);
    let want: number | null = e.fill === 'pattern' ? e.seed : null;
    for (let i = e.runs.length - 1; i >= 0; i--) {
      const [first, count, seed, zero] = e.runs[i]!;
      if (p >= first && p < first + count) {
        want = zero ? null : seed;
        break;
      }
    }
    const c = pageContent(obj, p);
    const cut = c.seed === null ? 0 : Math.min(c.cut, len);
    const have = cut === 0 ? null : c.seed;
    if (have !== want || (have !== null && cut < len)) n++;
  }
  return n;
}

/** memfd-verify's --writes: runs as the agent's plan writes them ("<n> first:pages:seed:zero ..."). */
export const renderRuns = (runs: VerifyExpectation['runs']) => [String(runs.length), ...runs.map(([f, c, s, z]) => `${f}:${c}:${s}:${z ? 1 : 0}`)].join(' ');

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
