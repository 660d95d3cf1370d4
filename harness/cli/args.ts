// Argument parsing shared by the commands: node's parseArgs, with errors
// that name the option.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError } from '../errors.ts';

export function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, allowPositionals = true) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (cause) {
    throw new ConfigError((cause as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, ''), { cause });
  }
}

/** The options of every command that writes a results directory. */
export const REPORT_OPTIONS = {
  out: { type: 'string' },
  junit: { type: 'string' },
  json: { type: 'boolean' },
} as const;

/** `10%` or `10` -> 0.1. A bare `0.1` is refused: 0.1 % and 10 % are both plausible readings. */
export function parsePercent(text: string, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(%?)\s*$/.exec(text);
  if (!m) throw new ConfigError(`${what} expects a percentage such as 10%, got ${JSON.stringify(text)}.`);
  const v = Number(m[1]) / 100;
  if (!m[2] && v > 0 && v < 0.01) throw new ConfigError(`${what} ${text} is ambiguous: write ${Number((Number(m[1]) * 100).toPrecision(6))}% or ${m[1]}% explicitly.`);
  if (!(v > 0)) throw new ConfigError(`${what} must be above 0%, got ${JSON.stringify(text)}.`);
  return v;
}

/** `a,b, c` -> ['a', 'b', 'c'], without duplicates. */
export const splitList = (text: string) => [...new Set(text.split(',').map((s) => s.trim()).filter(Boolean))];

/** `--gate` values: metric names or scenario/metric keys, or `all`. */
export function parseGate(items: readonly string[] | undefined): readonly string[] | 'all' | undefined {
  if (!items?.length) return undefined;
  const names = items.flatMap(splitList);
  return names.includes('all') ? 'all' : names;
}

/** `90s`, `10m`, `8h`, `1h30m` or bare seconds -> milliseconds. */
export function parseDuration(text: string, what: string): number {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1000);
  const parts = [...t.matchAll(/(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)/g)];
  if (!parts.length || parts.map((p) => p[0]).join('').replace(/\s/g, '') !== t.replace(/\s/g, '')) {
    throw new ConfigError(`${what} expects a duration such as 90s, 10m or 8h, got ${JSON.stringify(text)}.`);
  }
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
  const ms = parts.reduce((sum, p) => sum + Number(p[1]) * unit[p[2] as keyof typeof unit], 0);
  if (!(ms > 0)) throw new ConfigError(`${what} must be longer than 0, got ${JSON.stringify(text)}.`);
  return Math.round(ms);
}
