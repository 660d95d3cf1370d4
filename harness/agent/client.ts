// The in-guest agent as test authors use it: typed verbs over SSH, and
// small handles for sessions and memfds that remember what they preserved.
// A refused preservation is judged here, against the running kernel's
// config (kernel/capabilities.ts decides what it means).
import { TestFailure } from '../errors.ts';
import { agentWire, parseAgentReply, type AgentRequests, type AgentResponse, type AgentVerb, type MemfdFill } from './protocol.ts';
import { harnessErrorFor } from './errors.ts';
import { judgeRefusal, type PreservedKind } from '../kernel/capabilities.ts';
import type { Capability } from '../kernel/artifact.ts';
import { formatSize, sizeInBytes, type Size } from '../util/size.ts';

import type { AgentTransport } from './relay.ts';

export interface MemfdOptions {
  size: Size;
  seed?: number;
  /** Agent-side id; default `<session>-m<n>`. */
  id?: string;
  /** Preservation token; default the next free one in the session. */
  token?: number;
  hugetlb?: boolean;
  seals?: boolean;
}

export interface PreservedMemfd {
  id: string;
  session: string;
  token: number;
  size: number;
  seed: number;
  /** What the memfd must hold now: the agent's hash of its content model (creation fill, then every write). */
  sha256: string;
  /** Ranges of pages and what was done to them, for sentences that name what a lost page held. */
  layout?: MemfdRegion[];
}

/** A memfd the agent holds and has not preserved yet. */
export type HeldMemfd = Omit<PreservedMemfd, 'session' | 'token'> & { hugetlb?: boolean };

/** Pages [first, first + pages) and, in words, what they went through ("fallocated, written after PRESERVE_FD by mmap stores"). */
export interface MemfdRegion {
  first: number;
  pages: number;
  what: string;
}

/** The kernel the agent runs on, as far as refusals are judged: its config's capabilities and a name for sentences. */
export interface RunningKernel {
  capabilities: Partial<Record<Capability, boolean>>;
  /** "luo-7.2 (7.2.13)". */
  label: string;
}

/** What a preservation verb asks the kernel to carry, for judging a refusal. */
export interface PreserveContext {
  kind: PreservedKind;
  what: string;
}


/** What a verb preserves, when it preserves anything (session-create preserves the agent's own state memfd). */
function preserveContext<V extends AgentVerb>(verb: V, options: AgentRequests[V]): PreserveContext | undefined {
  const o = options as Record<string, unknown>;
  switch (verb) {
    case 'memfd-preserve':
      return { kind: 'memfd', what: `memfd '${String(o.id)}'` };
    case 'heartbeat-start':
      return { kind: 'memfd', what: "the heartbeat's memfd" };
    case 'fd-preserve':
      return o['fd-kind'] === 'vfio' ? { kind: 'vfio-device', what: 'the VFIO device (cdev) fd' } : { kind: 'iommufd', what: 'the iommufd' };
    case 'session-create':
      return { kind: 'memfd', what: "the agent's state memfd (it keeps the agent's plan, so no session can be made without it)" };
    default:
      return undefined;
  }
}

export class AgentClient {
  /** Every memfd preserved through this client and not finished, for verifyAll after a live update. */
  readonly #preserved: PreservedMemfd[] = [];

  constructor(
    readonly transport: AgentTransport,
    /** The kernel running now: refusals of a preservation are judged against its config. */
    readonly kernel: () => RunningKernel | undefined = () => undefined,
    readonly timeoutMs = 300_000,
  ) {}

  /** Told when each call starts; the function it returns when the call ended (the waterfall's agent spans). */
  onCall: ((verb: AgentVerb) => () => void) | undefined;

  async call<V extends AgentVerb>(verb: V, options: AgentRequests[V], context?: PreserveContext): Promise<AgentResponse<V>> {
    const ended = this.onCall?.(verb);
    const line = await this.transport.request(verb, agentWire(verb, options), { timeoutMs: this.timeoutMs }).finally(() => ended?.());
    const reply = parseAgentReply(verb, line);
    if (reply.ok) return reply.value;
    const running = this.kernel();
    const preserve = context ?? preserveContext(verb, options);
    if (running && preserve && reply.error.op === 'LIVEUPDATE_SESSION_PRESERVE_FD') {
      throw judgeRefusal(running.capabilities, { ...preserve, op: reply.error.op, errno: reply.error.errno, errnoName: reply.error.errnoName, kernel: running.label }, reply.error);
    }
    throw harnessErrorFor(reply.error);
  }

  status() {
    return this.call('status', {});
  }

  async createSession(name: string): Promise<SessionHandle> {
    await this.call('session-create', { name });
    return new SessionHandle(this, name);
  }

  /** A session restored after a kexec (the agent retrieves sessions at start; this looks it up or retrieves it). */
  async session(name: string): Promise<SessionHandle> {
    const status = await this.status();
    if (!status.sessions.some((s) => s.name === name)) await this.call('session-retrieve', { name });
    return new SessionHandle(this, name);
  }

  /** Drops what this client remembers of a session's memfds (it finished or closed, or its holder died). */
  forgetSession(name: string): void {
    for (let i = this.#preserved.length - 1; i >= 0; i--) if (this.#preserved[i]!.session === name) this.#preserved.splice(i, 1);
  }

  /** What this client has preserved and not finished, in order. */
  get preserved(): readonly PreservedMemfd[] {
    return this.#preserved;
  }

  /** Remembers a memfd preserved through this client (SessionHandle does it). */
  remember(m: PreservedMemfd): void {
    this.#preserved.push(m);
  }

  /** Drops everything this client remembers: the daemon that held it is gone. */
  forgetAll(): void {
    this.#preserved.length = 0;
  }

  /** Full-content check of every memfd preserved through this client; throws on any damage. */
  async verifyAll(): Promise<AgentResponse<'memfd-verify'>[]> {
    const results = [];
    for (const m of this.#preserved) results.push(await this.verify(m));
    return results;
  }

  async verify(m: PreservedMemfd): Promise<AgentResponse<'memfd-verify'>> {
    const v = await this.call('memfd-verify', { id: m.id, seed: m.seed });
    if (v.origin !== 'restored') throw new TestFailure(`memfd ${m.id} was not restored from session ${m.session}: the agent still holds the one it created`);
    if (!v.intact || v.sha256 !== m.sha256) {
      throw new TestFailure(
        `memfd ${m.id} (${m.size} bytes, session ${m.session}) did not survive: ${v.mismatched_pages} of ${v.pages} pages differ` +
          (v.mismatched_runs?.length ? `: ${describeRuns(v.mismatched_runs, v.runs_not_listed ?? 0, m.layout)}` : v.first_mismatched_pages.length ? ` (first: ${v.first_mismatched_pages.join(', ')})` : '') +
          `; sha256 ${v.sha256} vs ${m.sha256} expected, size ${v.size} vs ${v.expected_size}`,
      );
    }
    return v;
  }

  /** Makes a memfd the agent holds, unpreserved: filled with the seed's pattern, a hole, or fallocated and never written. */
  async createMemfd(options: { id: string; size: Size; seed: number; fill?: MemfdFill; hugetlb?: boolean }): Promise<HeldMemfd> {
    const size = sizeInBytes(options.size);
    const r = await this.call('memfd-create', { name: options.id, size, seed: options.seed, ...(options.fill ? { fill: options.fill } : {}), ...(options.hugetlb ? { hugetlb: true } : {}) });
    return { id: options.id, size, seed: options.seed, sha256: r.sha256!, ...(options.hugetlb ? { hugetlb: true } : {}), layout: [] };
  }

  /** The seed's pattern into pages of a memfd the agent holds, before or after its preservation; `m` follows (hash, layout). */
  async write(m: HeldMemfd | PreservedMemfd, range: { first: number; pages: number; seed: number; via?: 'mmap' | 'write' }, what: string) {
    const r = await this.call('memfd-write', { id: m.id, first: range.first, pages: range.pages, seed: range.seed, ...(range.via ? { via: range.via } : {}) });
    return changed(m, r, `${what}, seed ${range.seed}`);
  }

  /** fallocate() of pages of a memfd the agent holds (`punch`: a hole); `m` follows. */
  async fallocate(m: HeldMemfd | PreservedMemfd, range: { first: number; pages: number; punch?: boolean }, what: string) {
    const r = await this.call('memfd-fallocate', { id: m.id, first: range.first, pages: range.pages, ...(range.punch ? { punch: true } : {}) });
    return changed(m, r, what);
  }
}

/** After a write or fallocate the agent replied to: `m` takes the new expected hash and the region, in words. */
function changed<R extends { first: number; pages: number; sha256: string }>(m: HeldMemfd | PreservedMemfd, r: R, what: string): R {
  m.sha256 = r.sha256;
  (m.layout ??= []).push({ first: r.first, pages: r.pages, what });
  return r;
}

/** Runs of mismatched pages in words: where, what they went through (the latest region that covers them), expected and found. */
export function describeRuns(runs: NonNullable<AgentResponse<'memfd-verify'>['mismatched_runs']>, notListed: number, layout: MemfdRegion[] = []): string {
  const words = runs.map((r) => {
    const last = r.first + r.pages - 1;
    const region = [...layout].reverse().find((g) => r.first >= g.first && r.first < g.first + g.pages);
    const where = r.pages === 1 ? `page ${r.first}` : `pages ${r.first}-${last}`;
    const found = r.zero ? 'read as zeros' : `${r.pages === 1 ? 'holds' : 'hold'} ${r.found}`;
    return `${where}${region ? ` (${region.what})` : ''} ${found}, expected ${r.expected}...`;
  });
  return words.join('; ') + (notListed ? `; and ${notListed} more run(s)` : '');
}

export class SessionHandle {
  #nextToken = 1;
  constructor(readonly agent: AgentClient, readonly name: string) {}

  /** Creates a memfd filled with the seed's pattern and preserves it in this session. */
  async preserveMemfd(options: MemfdOptions): Promise<PreservedMemfd> {
    const id = options.id ?? `${this.name}-m${this.#nextToken}`;
    const token = options.token ?? this.#nextToken;
    this.#nextToken = Math.max(this.#nextToken, token) + 1;
    const seed = options.seed ?? token;
    const size = sizeInBytes(options.size);
    const created = await this.agent.call('memfd-create', { name: id, size, seed, ...(options.hugetlb ? { hugetlb: true } : {}), ...(options.seals ? { seals: true } : {}) });
    if (!created.sha256) throw new TestFailure(`memfd-create ${id} returned no sha256`);
    const what = `a ${formatSize(size)}${options.seals ? ' sealed' : ''} memfd ('${id}')`;
    await this.agent.call('memfd-preserve', { session: this.name, id, token }, { kind: options.hugetlb ? 'memfd-hugetlb' : 'memfd', what });
    const m: PreservedMemfd = { id, session: this.name, token, size, seed, sha256: created.sha256 };
    this.agent.remember(m);
    return m;
  }

  /** Preserves a memfd the agent made and holds (createMemfd), in this session. */
  async preserveHeld(m: HeldMemfd, token = this.#nextToken): Promise<PreservedMemfd> {
    this.#nextToken = Math.max(this.#nextToken, token) + 1;
    await this.agent.call('memfd-preserve', { session: this.name, id: m.id, token }, { kind: m.hugetlb ? 'memfd-hugetlb' : 'memfd', what: `a ${formatSize(m.size)}${m.hugetlb ? ' hugetlb' : ''} memfd ('${m.id}')` });
    // The caller's object itself: it goes on changing (writes after preservation), a copy would not.
    const preserved: PreservedMemfd = Object.assign(m, { session: this.name, token });
    this.agent.remember(preserved);
    return preserved;
  }

  /** Preserves a memfd the agent already holds (one restored by a live update) again, in this session. */
  async preserveAgain(m: PreservedMemfd, token = m.token): Promise<PreservedMemfd> {
    await this.agent.call('memfd-preserve', { session: this.name, id: m.id, token }, { kind: 'memfd', what: `a ${formatSize(m.size)} memfd ('${m.id}') again` });
    const again = { ...m, session: this.name, token };
    this.agent.remember(again);
    return again;
  }

  /** Finishes the session; its memfds are no longer the client's to verify. */
  async finish() {
    const r = await this.agent.call('session-finish', { name: this.name });
    this.agent.forgetSession(this.name);
    return r;
  }

  async close() {
    const r = await this.agent.call('session-close', { name: this.name });
    this.agent.forgetSession(this.name);
    return r;
  }
}
