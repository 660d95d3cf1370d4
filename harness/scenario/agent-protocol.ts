// The wire contract of the in-guest agent (images/agent): which verbs exist,
// which options each takes, and the JSON object each prints. A reply is
// validated field by field, so a drifting agent fails loudly here instead of
// as an `undefined` deep inside a scenario.

import { ConfigError, HarnessError, InfraError, TestFailure, Unsupported } from '../errors.ts';

/** Where the image installs the agent. */
export const AGENT_BIN = '/usr/sbin/luo-agent';

// ---------------------------------------------------------------- schema ---
// A tiny schema language; the TypeScript types below are inferred from it,
// so the validator and the types cannot disagree.

type Prim = 'string' | 'number' | 'boolean' | 'hex' | 'u64';
type PrimType = {
  string: string;
  number: number;
  boolean: boolean;
  /** Tokens, IOVAs, register values: the agent prints them as "0x..." strings. */
  hex: `0x${string}`;
  /** Nanosecond clocks and TSC ticks: above 2^53, so they become bigint. */
  u64: bigint;
};
type Nullable<P extends Prim> = `${P}|null`;
interface EnumSpec {
  readonly enum: readonly string[];
}
interface NullableObject {
  readonly nullable: ObjectSpec;
}
interface ArraySpec {
  readonly array: Spec;
}
/** A field newer agents print and older ones (and the recorded fixtures) lack: absent reads as undefined. */
interface OptionalSpec {
  readonly optional: Spec;
}
type ObjectSpec = { readonly [key: string]: Spec };
type Spec = Prim | Nullable<Prim> | EnumSpec | NullableObject | ArraySpec | OptionalSpec | ObjectSpec;

export type Infer<S> = S extends Prim
  ? PrimType[S]
  : S extends `${infer P extends Prim}|null`
    ? PrimType[P] | null
    : S extends { readonly enum: readonly (infer E)[] }
      ? E
      : S extends { readonly nullable: infer O }
        ? Infer<O> | null
        : S extends { readonly array: infer E }
          ? Infer<E>[]
          : S extends { readonly optional: infer E }
            ? Infer<E> | undefined
          : S extends ObjectSpec
            ? { -readonly [K in keyof S]: Infer<S[K]> }
            : never;

const errorSpec = {
  op: 'string',
  errno: 'number',
  errno_name: 'string',
  message: 'string',
  fd: 'number|null',
  target_fd: 'number|null',
} as const;

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
      errors: { array: { what: 'string', op: 'string', errno: 'number', errno_name: 'string', message: 'string' } },
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
    sha256: 'string',
    expected_sha256: 'string|null',
    sha256_match: 'boolean',
    seals: 'number|null',
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
} as const satisfies Record<string, ObjectSpec>;

export type AgentVerb = keyof typeof responseSpecs;
export type AgentResponse<V extends AgentVerb> = Infer<(typeof responseSpecs)[V]>;
export type AgentErrorInfo = Infer<typeof errorSpec>;
export type AgentSession = Infer<typeof sessionSpec>;
export type AgentMemfd = Infer<typeof memfdSpec>;
export type AgentHeartbeat = Infer<typeof heartbeatSpec>;

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
  'memfd-create': { name: string; size: Num; seed?: Num; hugetlb?: boolean; seals?: boolean };
  'memfd-preserve': { session: string; id: string; token: Num };
  'memfd-retrieve': { session: string; token: Num; id?: string };
  'memfd-verify': { id: string; seed?: Num };
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
}

/** argv for one agent call: `[AGENT_BIN, verb, '--key', 'value', ...]`; `true` is a bare flag, `false` is left out. */
export function agentArgv<V extends AgentVerb>(verb: V, options: AgentRequests[V]): string[] {
  const argv = [AGENT_BIN, verb];
  for (const [key, value] of Object.entries(options as Record<string, unknown>)) {
    if (value === undefined || value === false) continue;
    if (value === true) {
      argv.push(`--${key}`);
      continue;
    }
    const text = String(value);
    // The agent reads an argument starting with "--" as the next option.
    if (text.startsWith('--')) throw new ConfigError(`luo-agent ${verb}: the value of --${key} must not start with "--" (got ${JSON.stringify(text)})`);
    argv.push(`--${key}`, text);
  }
  return argv;
}

// ---------------------------------------------------------------- errors ---

/** The agent answered `{"ok":false}`: exactly which call failed, with which errno, on which fd. */
export class AgentOpError extends Error {
  readonly verb: string;
  readonly op: string;
  readonly errno: number;
  readonly errnoName: string;
  /** The fd the failing call acted on (an ioctl's first argument), if any. */
  readonly fd: number | null;
  /** The fd handed to the kernel as an argument (PRESERVE_FD's fd), if any. */
  readonly targetFd: number | null;

  constructor(verb: string, info: AgentErrorInfo) {
    super(`luo-agent ${verb}: ${info.op} failed with ${info.errno_name} (${info.errno})${info.fd === null ? '' : ` on fd ${info.fd}`}: ${info.message}`);
    this.name = 'AgentOpError';
    this.verb = verb;
    this.op = info.op;
    this.errno = info.errno;
    this.errnoName = info.errno_name;
    this.fd = info.fd;
    this.targetFd = info.target_fd;
  }
}

/** The agent's output is not a reply at all: not one JSON object, a wrong verb, a missing field. */
export class AgentProtocolError extends InfraError {}

/** The harness error an agent failure stands for; the AgentOpError stays as `cause`. A refused preservation is judged by the client, which knows the kernel's config. */
export function harnessErrorFor(error: AgentOpError): HarnessError {
  const options = { cause: error };
  if (error.op === 'connect' || error.op === 'socket' || error.op === 'recv') {
    return new InfraError(`The luo-agent daemon in the guest is not reachable (${error.op}: ${error.errnoName}); init should start it before networking.`, options);
  }
  if (error.op === 'argument') {
    return new ConfigError(`The harness sent luo-agent ${error.verb} a request it rejects: ${error.message}`, options);
  }
  if (error.op === 'open' && error.errnoName === 'ENOENT' && error.message.includes('/dev/liveupdate')) {
    return new Unsupported('The kernel exposes no /dev/liveupdate: it needs CONFIG_LIVEUPDATE and `liveupdate=on` (with KHO enabled).', options);
  }
  return new TestFailure(error.message, options);
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

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** JSON.parse would round integers above 2^53; quote them first (outside strings) so u64 fields stay exact. */
function quoteBigIntegers(json: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json[i]!;
    if (inString) {
      out += c;
      if (c === '\\') out += json[++i] ?? '';
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') {
      inString = true;
      out += c;
      continue;
    }
    if (c >= '0' && c <= '9' && !/[\d.eE+-]/.test(json[i - 1] ?? '')) {
      let j = i;
      while (j < json.length && /\d/.test(json[j]!)) j++;
      const digits = json.slice(i, j);
      const isInteger = !/[.eE]/.test(json[j] ?? '');
      out += isInteger && digits.length >= 16 ? `"${digits}"` : digits;
      i = j - 1;
      continue;
    }
    out += c;
  }
  return out;
}

function convert(value: unknown, spec: Spec, path: string): unknown {
  const where = path || 'the reply';
  if (typeof spec === 'string') {
    const nullable = spec.endsWith('|null');
    if (value === null) {
      if (nullable) return null;
      throw new Error(`${where} is null, expected ${spec}`);
    }
    return primitive(value, spec.replace('|null', '') as Prim, where);
  }
  const wrapper = wrapperOf(spec);
  if (wrapper === 'enum') {
    const allowed = (spec as EnumSpec).enum;
    if (typeof value !== 'string' || !allowed.includes(value)) {
      throw new Error(`${where} is ${JSON.stringify(value)}, expected one of ${allowed.join(', ')}`);
    }
    return value;
  }
  if (wrapper === 'nullable') return value === null ? null : convert(value, (spec as NullableObject).nullable, path);
  if (wrapper === 'optional') return value === undefined ? undefined : convert(value, (spec as OptionalSpec).optional, path);
  if (wrapper === 'array') {
    if (!Array.isArray(value)) throw new Error(`${where} is not an array`);
    return value.map((item, i) => convert(item, (spec as ArraySpec).array, `${path}[${i}]`));
  }
  if (!isObject(value)) throw new Error(`${where} is not an object`);
  const out: Record<string, unknown> = {};
  for (const [key, sub] of Object.entries(spec as ObjectSpec)) {
    const field = path ? `${path}.${key}` : key;
    if (!(key in value) && typeof sub === 'object' && wrapperOf(sub) === 'optional') continue;
    if (!(key in value)) throw new Error(`${field} is missing`);
    out[key] = convert(value[key], sub, field);
  }
  // Fields a newer agent adds pass through unvalidated rather than failing old harnesses.
  for (const [key, extra] of Object.entries(value)) if (!(key in out)) out[key] = extra;
  return out;
}

/** The wrappers are one-key objects; no response field is named enum, nullable, array or optional. */
function wrapperOf(spec: Exclude<Spec, string>): 'enum' | 'nullable' | 'array' | 'optional' | null {
  const keys = Object.keys(spec);
  if (keys.length !== 1) return null;
  const key = keys[0];
  return key === 'enum' || key === 'nullable' || key === 'array' || key === 'optional' ? key : null;
}

function primitive(value: unknown, prim: Prim, where: string): unknown {
  switch (prim) {
    case 'string':
      if (typeof value === 'string') return value;
      break;
    case 'boolean':
      if (typeof value === 'boolean') return value;
      break;
    case 'number':
      if (typeof value === 'number' && Number.isFinite(value)) return value;
      break;
    case 'hex':
      if (typeof value === 'string' && /^0x[0-9a-f]+$/i.test(value)) return value;
      break;
    case 'u64':
      if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
      if (typeof value === 'string' && /^\d+$/.test(value)) return BigInt(value);
      break;
  }
  throw new Error(`${where} is ${JSON.stringify(value)}, expected ${prim}`);
}
