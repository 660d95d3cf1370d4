// The wire contract of the in-guest agent (images/agent): which verbs exist,
// which options each takes, and the JSON object each prints. A reply is
// validated field by field (schema.ts), so a drifting agent fails loudly
// here instead of as an `undefined` deep inside a scenario.
import { ConfigError } from '../errors.ts';
import { convert, isObject, quoteBigIntegers, type Infer, type ObjectSpec } from './schema.ts';
import { AgentOpError, AgentProtocolError, errorSpec, type AgentErrorInfo } from './errors.ts';

/** Where the image installs the agent. */
export const AGENT_BIN = '/usr/sbin/luo-agent';


const sessionSpec = {
  name: 'string',
  fd: 'number',
  direction: { enum: ['outgoing', 'incoming'] },
  finished: 'boolean',
  files: { array: { kind: 'string', id: 'string|null', token: 'hex', fd: 'number' } },
} as const;

const memfdSpec = {
  id: 'string',
  fd: 'number',
  size: 'number',
  seed: 'u64',
  hugetlb: 'boolean',
  sealed: 'boolean',
  sha256: 'string|null',
  session: 'string|null',
  token: 'hex|null',
  origin: { enum: ['created', 'restored'] },
} as const;

const rawSessionSpec = {
  handle: 'string',
  fd: 'number',
  direction: { enum: ['outgoing', 'incoming'] },
} as const;

const heartbeatSpec = {
  memfd: 'string',
  running: 'boolean',
  interval_us: 'number',
  count: 'number',
  /** Bumped by every resume after a kexec. */
  generation: 'number',
  max_gap_ns: 'u64',
  max_gap_at_realtime_ns: 'u64',
  last_realtime_ns: 'u64',
  before_freeze_realtime_ns: 'u64|null',
  after_restore_realtime_ns: 'u64|null',
  restore_gap_ns: 'u64|null',
  restore_gap_tsc: 'u64|null',
} as const;

const responseSpecs = {
  status: {
    pid: 'number',
    boot: 'number|null',
    cmdline: 'string',
    liveupdate: {
      device: 'string',
      present: 'boolean',
      open: 'boolean',
      fd: 'number|null',
      error: { nullable: { op: 'string', errno: 'number', errno_name: 'string', message: 'string', fd: 'number|null' } },
    },
    state: { session: 'string', session_fd: 'number|null', memfd_fd: 'number|null' },
    restore: {
      found: 'boolean',
      sessions: 'number',
      files: 'number',
      tsc: 'u64',
      realtime_ns: 'u64',
      elapsed_us: 'number',
      /** The first 16 errors; past that the last one's message says how many follow (`errors_not_listed`). */
      errors: { array: { what: 'string', op: 'string', errno: 'number', errno_name: 'string', message: 'string' } },
      /** Errors counted but not in `errors` (each is still on the console as agent-restore-error). */
      errors_not_listed: { optional: 'number' },
      /** Preserved VFIO devices brought back: bound to vfio-pci first, then their fd retrieved. */
      devices: { optional: { array: { bdf: 'string', cdev: 'string', session: 'string', token: 'hex', fd: 'number', bound_before_retrieve: 'boolean', guard_errno: 'number', guard_errno_name: 'string|null' } } },
    },
    sessions: { array: sessionSpec },
    memfds: { array: memfdSpec },
    iommufd: 'number|null',
    ioas: { array: 'number' },
    vfio: { array: { cdev: 'string', fd: 'number', devid: 'number', pt_id: 'number' } },
    tsc_khz: 'number|null',
    tsc_khz_source: 'string|null',
    kexec_loaded: 'boolean',
    heartbeat: { nullable: heartbeatSpec },
  },
  'session-create': sessionSpec,
  'session-retrieve': sessionSpec,
  'session-finish': { ...sessionSpec, elapsed_us: 'number' },
  'session-close': { name: 'string', fd: 'number', direction: { enum: ['outgoing', 'incoming'] } },
  'memfd-create': { ...memfdSpec, pages: 'number', page_size: 'number', elapsed_us: 'number' },
  'memfd-preserve': { ...memfdSpec, elapsed_us: 'number' },
  'memfd-retrieve': memfdSpec,
  'memfd-verify': {
    id: 'string',
    fd: 'number',
    origin: { enum: ['created', 'restored'] },
    size: 'number',
    expected_size: 'number',
    page_size: 'number',
    pages: 'number',
    mismatched_pages: 'number',
    first_mismatched_pages: { array: 'number' },
    /** Runs of mismatched pages (at most 8): where, how many, what the first page's first 8 bytes should be and are, all zeros or not. */
    mismatched_runs: { optional: { array: { first: 'number', pages: 'number', expected: 'hex', found: 'hex', zero: 'boolean' } } },
    runs_not_listed: { optional: 'number' },
    sha256: 'string',
    expected_sha256: 'string|null',
    sha256_match: 'boolean',
    /** F_GET_SEALS; a failure to read them fails the reply instead. */
    seals: 'number',
    /** No mismatched page, the expected size, and the creation-time hash. */
    intact: 'boolean',
    elapsed_us: 'number',
  },
  'fd-preserve': { session: 'string', fd_kind: 'string', fd: 'number', token: 'hex', bdf: { optional: 'string|null' } },
  'iommufd-open': { path: 'string', fd: 'number' },
  'ioas-alloc': { ioas: 'number', iommufd: 'number' },
  'ioas-map': {
    ioas: 'number',
    memfd: 'string',
    offset: 'number',
    length: 'number',
    iova: 'hex',
    method: { enum: ['IOMMU_IOAS_MAP_FILE', 'IOMMU_IOAS_MAP'] },
    writeable: 'boolean',
  },
  'vfio-bind': {
    bdf: 'string',
    previous_driver: 'string|null',
    driver: 'string',
    cdev: 'string',
    iommu_group: 'string|null',
  },
  'vfio-open': {
    cdev: 'string',
    /** The fd came from RETRIEVE_FD after a live update, not from open(). */
    restored: { optional: 'boolean' },
    /** VFIO_DEVICE_GET_INFO of the fd. */
    info: { optional: { flags: 'number', num_regions: 'number', num_irqs: 'number' } },
    fd: 'number',
    iommufd: 'number',
    devid: 'number',
    ioas: 'number',
    pt_id: 'number',
    bar0: { size: 'number', offset: 'hex', mmap: 'boolean' },
  },
  'edu-dma': {
    cdev: 'string',
    id: 'hex',
    liveness_ok: 'boolean',
    src_iova: 'hex',
    dst_iova: 'hex',
    len: 'number',
    to_device_us: 'number',
    to_ram_us: 'number',
    /** False when an IOVA lies outside every mapping the agent made: no comparison was possible. */
    verified: 'boolean',
    dst_matched_before: 'boolean|null',
    match: 'boolean|null',
  },
  'kexec-load': {
    kernel: 'string',
    kernel_size: 'number',
    initrd: 'string|null',
    initrd_size: 'number',
    cmdline: 'string',
    elapsed_us: 'number',
  },
  /** The reply goes out before the reboot; `delay_ms` is the pause between reply and freeze stamp. */
  'kexec-exec': { rebooting: 'boolean', delay_ms: 'number', tsc_khz: 'number|null' },
  'heartbeat-start': { session: 'string', memfd: 'string', token: 'hex', interval_us: 'number' },
  'heartbeat-report': { heartbeat: heartbeatSpec },
  // The fuzzer's raw verbs (images/agent/verbs_raw.c): exactly one kernel call each, sessions by handle.
  'raw-session-create': rawSessionSpec,
  'raw-session-retrieve': rawSessionSpec,
  'raw-session-finish': rawSessionSpec,
  'raw-session-close': rawSessionSpec,
  'raw-session-name': { ...rawSessionSpec, name: 'string' },
  'raw-preserve': { ...rawSessionSpec, token: 'hex', target: 'string', target_fd: 'number' },
  /** The retrieved fd joins the agent's memfd table under `id`. */
  'raw-retrieve': { ...rawSessionSpec, token: 'hex', id: 'string', memfd_fd: 'number', size: 'number', seals: 'number' },
  'raw-reset': { sessions: 'number', memfds: 'number' },
  'memfd-close': { id: 'string', fd: 'number' },
  'memfd-write': { id: 'string', first: 'number', pages: 'number', seed: 'u64', via: { enum: ['mmap', 'write'] }, preserved: 'boolean', sha256: 'string', elapsed_us: 'number' },
  'memfd-fallocate': { id: 'string', first: 'number', pages: 'number', punch: 'boolean', preserved: 'boolean', sha256: 'string' },
  /** The nested VM's RAM: pages below `boundary` hold `high`, the rest `low`; `given`: the layout was the caller's. */
  'vm-ram-check': {
    id: 'string',
    first: 'number',
    pages: 'number',
    high: 'number',
    low: 'number',
    boundary: 'number',
    given: 'boolean',
    counter: 'number',
    off_pages: 'number',
    first_off: { array: { page: 'number', found: 'number', expected: 'number' } },
    sha256: 'string',
  },
  'memfd-truncate': { id: 'string', fd: 'number', size: 'number' },
} as const satisfies Record<string, ObjectSpec>;

export type AgentVerb = keyof typeof responseSpecs;
export type AgentResponse<V extends AgentVerb> = Infer<(typeof responseSpecs)[V]>;

export const AGENT_VERBS = Object.keys(responseSpecs) as AgentVerb[];

// -------------------------------------------------------------- requests ---

type Num = number | bigint | string;

/** The options of each verb, as `--key value` on the agent's command line. */
export interface AgentRequests {
  status: Record<string, never>;
  'session-create': { name: string };
  'session-retrieve': { name: string };
  'session-finish': { name: string };
  'session-close': { name: string };
  /** `tmpfile`: an unlinked tmpfs file (O_TMPFILE in /dev/shm) instead of a memfd. */
  /** `fill`: the seed's pattern (default), a hole (never written) or fallocate() (allocated, never written). */
  'memfd-create': { name: string; size: Num; seed?: Num; hugetlb?: boolean; seals?: boolean; tmpfile?: boolean; fill?: MemfdFill };
  'memfd-preserve': { session: string; id: string; token: Num };
  'memfd-retrieve': { session: string; token: Num; id?: string };
  /** `fill` and `writes` replace the agent's own record of what the pages hold (a fuzzer's model): `writes` is "<n> first:pages:seed:zero ...". */
  'memfd-verify': { id: string; seed?: Num; fill?: 'pattern' | 'hole'; writes?: string };
  'fd-preserve': { session: string; 'fd-kind': 'iommufd' | 'vfio'; token: Num; cdev?: string };
  'iommufd-open': Record<string, never>;
  'ioas-alloc': Record<string, never>;
  'ioas-map': { memfd: string; offset?: Num; length: Num; iova: Num; ioas?: Num; readonly?: boolean };
  'vfio-bind': { bdf?: string };
  'vfio-open': { cdev?: string; bdf?: string; ioas?: Num; restored?: boolean };
  'edu-dma': { 'src-iova': Num; 'dst-iova': Num; len: Num; cdev?: string };
  'kexec-load': { kernel: string; initrd?: string; cmdline: string };
  'kexec-exec': { 'delay-ms'?: Num };
  'heartbeat-start': { session: string; 'interval-us'?: Num; token?: Num };
  'heartbeat-report': Record<string, never>;
  /** `name` goes to the kernel as given: empty, or past the 64-byte limit (its first 64 bytes, unterminated). */
  'raw-session-create': { handle: string; name: string };
  'raw-session-retrieve': { handle: string; name: string };
  'raw-session-finish': { handle: string };
  'raw-session-close': { handle: string };
  'raw-session-name': { handle: string };
  /** Exactly one of `memfd` (an id the agent holds) or `kind` (an fd the kernel has no handler for, or none). */
  /** `reopen`: preserve another open file of the memfd's inode (through /proc/self/fd). */
  'raw-preserve': { handle: string; token: Num; memfd?: string; kind?: RawFdKind; reopen?: boolean };
  'raw-retrieve': { handle: string; token: Num; id: string };
  'raw-reset': Record<string, never>;
  'memfd-close': { id: string };
  'memfd-truncate': { id: string; size: Num };
  /** The seed's pattern into pages [first, first+pages), by stores through a shared mapping (default) or write(). */
  'memfd-write': { id: string; first: Num; pages: Num; seed: Num; via?: 'mmap' | 'write' };
  /** fallocate() of pages [first, first+pages); `punch`: FALLOC_FL_PUNCH_HOLE (they read zeros after). */
  'memfd-fallocate': { id: string; first: Num; pages: Num; punch?: boolean };
  /** The nested VM's RAM against its firmware's layout (images/nested-guest): the one given, or the best fit. */
  'vm-ram-check': { id: string; first: Num; pages: Num; 'counter-page': Num; high?: Num; low?: Num; boundary?: Num };
}

export type MemfdFill = 'pattern' | 'hole' | 'fallocate';

/** What raw-preserve can offer the kernel besides a memfd. */
export const RAW_FD_KINDS = ['pipe', 'socket', 'devnull', 'tmpfs-file', 'dir', 'liveupdate', 'session', 'badfd'] as const;
export type RawFdKind = (typeof RAW_FD_KINDS)[number];

/** The options of one agent call as the agent reads them: key and text, `true` a bare flag, `false` left out. */
function agentOptions<V extends AgentVerb>(verb: V, options: AgentRequests[V]): [string, string | true][] {
  const pairs: [string, string | true][] = [];
  for (const [key, value] of Object.entries(options as Record<string, unknown>)) {
    if (value === undefined || value === false) continue;
    if (value === true) {
      pairs.push([key, true]);
      continue;
    }
    const text = String(value);
    // The agent's command line reads an argument starting with "--" as the next option.
    if (text.startsWith('--')) throw new ConfigError(`luo-agent ${verb}: the value of --${key} must not start with "--" (got ${JSON.stringify(text)})`);
    pairs.push([key, text]);
  }
  return pairs;
}

/** argv for one agent call: `[AGENT_BIN, verb, '--key', 'value', ...]`; `true` is a bare flag, `false` is left out. */
export function agentArgv<V extends AgentVerb>(verb: V, options: AgentRequests[V]): string[] {
  return [AGENT_BIN, verb, ...agentOptions(verb, options).flatMap(([k, v]) => (v === true ? [`--${k}`] : [`--${k}`, v]))];
}

/** The same call on the daemon's wire: NUL-terminated words, the verb then keys and values (a flag's value is "1"). */
export function agentWire<V extends AgentVerb>(verb: V, options: AgentRequests[V]): Buffer {
  const words = [verb, ...agentOptions(verb, options).flatMap(([k, v]) => [k, v === true ? '1' : v])];
  if (words.some((w) => w.includes('\0'))) throw new ConfigError(`luo-agent ${verb}: an option holds a NUL byte`);
  return Buffer.from(words.map((w) => `${w}\0`).join(''), 'utf8');
}

// ---------------------------------------------------------------- parser ---

export type AgentReply<V extends AgentVerb> =
  | { ok: true; verb: V; value: AgentResponse<V> }
  | { ok: false; verb: V; error: AgentOpError };

/**
 * Validates one agent reply (its stdout, and its exit status when known).
 * A failure the agent reports comes back as `{ ok: false, error }`; output
 * that is not a well-formed reply throws AgentProtocolError.
 */
export function parseAgentReply<V extends AgentVerb>(verb: V, stdout: string, exitCode?: number): AgentReply<V> {
  const text = stdout.trim();
  if (!text.startsWith('{') || !text.endsWith('}') || text.includes('\n')) {
    throw protocolError(verb, 'the output is not exactly one JSON object on one line', stdout);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(quoteBigIntegers(text));
  } catch (cause) {
    throw protocolError(verb, 'the output is not valid JSON', stdout, cause);
  }
  if (!isObject(raw) || typeof raw.ok !== 'boolean') throw protocolError(verb, 'the reply has no boolean "ok"', stdout);
  if (raw.verb !== verb) throw protocolError(verb, `the reply is for verb ${JSON.stringify(raw.verb)}`, stdout);
  if (exitCode !== undefined && (exitCode === 0) !== raw.ok) {
    throw protocolError(verb, `exit status ${exitCode} contradicts "ok":${raw.ok}`, stdout);
  }
  try {
    if (!raw.ok) {
      return { ok: false, verb, error: new AgentOpError(verb, convert(raw.error, errorSpec, 'error') as AgentErrorInfo) };
    }
    const { ok: _ok, verb: _verb, ...body } = raw;
    return { ok: true, verb, value: convert(body, responseSpecs[verb], '') as AgentResponse<V> };
  } catch (cause) {
    throw protocolError(verb, cause instanceof Error ? cause.message : String(cause), stdout, cause);
  }
}

function protocolError(verb: string, why: string, stdout: string, cause?: unknown): AgentProtocolError {
  const shown = stdout.length > 2000 ? `${stdout.slice(0, 2000)}...` : stdout;
  return new AgentProtocolError(`luo-agent ${verb} printed something that is not a valid reply: ${why}.`, { cause, detail: shown });
}

