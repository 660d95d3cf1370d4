// Typed scenario parameters: each scenario declares its parameters with a
// kind and a default; suites and callers give raw values, which are checked
// here (a bad size is a ConfigError naming where it came from, before
// anything boots) and turned into numbers the scenario can use.
import { ConfigError } from '../errors.ts';
import { parseSize } from '../util/size.ts';

export type SizeParam = { kind: 'size'; default: string; min?: number; max?: number };
export type SizesParam = { kind: 'sizes'; default: string[] };
export type IntParam = { kind: 'int'; default: number; min?: number; max?: number };
export type ParamSpec = SizeParam | SizesParam | IntParam;

export type ParamSpecs = Record<string, ParamSpec>;

/** What a scenario's code sees: sizes in bytes, counts as integers. */
export type ParamValues<S extends ParamSpecs> = {
  [K in keyof S]: S[K] extends { kind: 'sizes' } ? number[] : number;
};

export const param = {
  /** A byte size: 64M, 4096, 1G. */
  size: (def: string, limits: { min?: number; max?: number } = {}): SizeParam => ({ kind: 'size', default: def, ...limits }),
  /** A list of byte sizes. */
  sizes: (def: string[]): SizesParam => ({ kind: 'sizes', default: def }),
  /** A whole number. */
  int: (def: number, limits: { min?: number; max?: number } = {}): IntParam => ({ kind: 'int', default: def, ...limits }),
};

/** The defaults, as a suite would write them. */
export const defaultParams = (specs: ParamSpecs): Record<string, unknown> => Object.fromEntries(Object.entries(specs).map(([k, s]) => [k, s.default]));

function sizeOf(value: unknown, where: string, limits: { min?: number; max?: number } = {}): number {
  const bytes = typeof value === 'number' || typeof value === 'string' ? parseSize(value) : undefined;
  if (bytes === undefined) throw new ConfigError(`${where} must be a size (bytes, or a number with K, M or G: 64M, 4096, 1G), got ${JSON.stringify(value)}`);
  if (limits.min !== undefined && bytes < limits.min) throw new ConfigError(`${where} must be at least ${limits.min} bytes, got ${JSON.stringify(value)}`);
  if (limits.max !== undefined && bytes > limits.max) throw new ConfigError(`${where} must be at most ${limits.max} bytes, got ${JSON.stringify(value)}`);
  return bytes;
}

/**
 * Checks `given` against the scenario's parameters and returns the values
 * its code uses. `where` names the origin in errors: "suite suites/full.json:
 * scenarios[2] (memfd-sizes) params".
 */
export function checkParams<S extends ParamSpecs>(specs: S, given: Record<string, unknown>, where: string): ParamValues<S> {
  const known = Object.keys(specs);
  for (const key of Object.keys(given)) {
    if (!known.includes(key)) throw new ConfigError(`${where}: "${key}" is not a parameter (known: ${known.join(', ') || 'none'})`);
  }
  const out: Record<string, number | number[]> = {};
  for (const [key, spec] of Object.entries(specs)) {
    const value = key in given ? given[key] : spec.default;
    const at = `${where}: "${key}"`;
    if (spec.kind === 'size') out[key] = sizeOf(value, at, spec);
    else if (spec.kind === 'sizes') {
      if (!Array.isArray(value) || value.length === 0) throw new ConfigError(`${at} must be a non-empty list of sizes, got ${JSON.stringify(value)}`);
      out[key] = value.map((v, i) => sizeOf(v, `${at}[${i}]`));
    } else {
      if (typeof value !== 'number' || !Number.isInteger(value)) throw new ConfigError(`${at} must be a whole number, got ${JSON.stringify(value)}`);
      if (spec.min !== undefined && value < spec.min) throw new ConfigError(`${at} must be at least ${spec.min}, got ${value}`);
      if (spec.max !== undefined && value > spec.max) throw new ConfigError(`${at} must be at most ${spec.max}, got ${value}`);
      out[key] = value;
    }
  }
  return out as ParamValues<S>;
}
