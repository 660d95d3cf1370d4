// A tiny schema language for the agent's JSON replies; the TypeScript types
// are inferred from the same specs, so the validator and the types cannot
// disagree. `convert` checks a value field by field and names the path of
// the first field that is missing or mistyped.

export type Prim = 'string' | 'number' | 'boolean' | 'hex' | 'u64';
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
export type ObjectSpec = { readonly [key: string]: Spec };
export type Spec = Prim | Nullable<Prim> | EnumSpec | NullableObject | ArraySpec | OptionalSpec | ObjectSpec;

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


export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** JSON.parse would round integers above 2^53; quote them first (outside strings) so u64 fields stay exact. */
export function quoteBigIntegers(json: string): string {
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

export function convert(value: unknown, spec: Spec, path: string): unknown {
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
