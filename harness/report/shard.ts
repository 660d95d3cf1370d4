// `--shard i/n`: split scenarios over n CI jobs, and merge their results.
import { ConfigError } from '../errors.ts';
import { RESULT_SCHEMA, type RunResult } from './result.ts';

export interface Shard {
  /** 1-based. */
  index: number;
  count: number;
}

/** Parse `i/n` (1 <= i <= n). */
export function parseShard(text: string): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (!m) throw new ConfigError(`--shard expects i/n such as 2/4, got ${JSON.stringify(text)}.`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1) throw new ConfigError(`--shard ${text}: the shard count must be at least 1.`);
  if (index < 1 || index > count) throw new ConfigError(`--shard ${text}: the shard index must be between 1 and ${count} (shards are numbered from 1).`);
  return { index, count };
}

/** FNV-1a 32-bit: stable across Node versions and machines, unlike anything seeded. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(s, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * Assign every name to a shard (0-based). Each name prefers shard
 * hash(name) mod n, so a name keeps its shard when the list is reordered or
 * other names come and go. Balancing fallback: no shard takes more than
 * ceil(N/n) names; names are placed in hash order (ties by name, never by
 * list position), and one whose preferred shard is full goes to the next
 * shard with room. Only such overflowed names can move when the list changes.
 */
export function assignShards(names: readonly string[], count: number): Map<string, number> {
  if (!Number.isInteger(count) || count < 1) throw new ConfigError(`Shard count must be a positive integer, got ${count}.`);
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n)) throw new ConfigError(`Scenario ${JSON.stringify(n)} is listed twice; shard assignment needs unique names.`);
    seen.add(n);
  }
  const capacity = Math.ceil(names.length / count);
  const load = new Array<number>(count).fill(0);
  const order = [...names].map((name) => ({ name, h: fnv1a(name) })).sort((a, b) => a.h - b.h || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const out = new Map<string, number>();
  for (const { name, h } of order) {
    let shard = h % count;
    while (load[shard]! >= capacity) shard = (shard + 1) % count;
    load[shard]!++;
    out.set(name, shard);
  }
  return out;
}

/** The names of shard `index`/`count`, in their original list order. */
export function selectShard<T extends string>(names: readonly T[], shard: Shard): T[] {
  const a = assignShards(names, shard.count);
  return names.filter((n) => a.get(n) === shard.index - 1);
}

/**
 * One RunResult from the shards' results: scenarios sorted by name, the run
 * spans the earliest start to the latest finish, kernels are united. Shards
 * of one run share a run id; a scenario reported by two shards is an error.
 */
export function mergeShardResults(parts: readonly RunResult[]): RunResult {
  if (parts.length === 0) throw new ConfigError('Nothing to merge: no shard results given.');
  for (const p of parts) {
    if (p.schema !== RESULT_SCHEMA) throw new ConfigError(`Shard result ${p.runId} has schema ${String(p.schema)}, expected ${RESULT_SCHEMA}.`);
  }
  const seen = new Map<string, string>();
  for (const p of parts) {
    for (const s of p.scenarios) {
      const other = seen.get(s.name);
      if (other !== undefined) throw new ConfigError(`Scenario ${s.name} appears in two shard results (${other} and ${p.runId}); were the shards overlapping?`);
      seen.set(s.name, p.runId);
    }
  }
  const runIds = [...new Set(parts.map((p) => p.runId))];
  const accelerators = [...new Set(parts.map((p) => p.accelerator))];
  const byTime = (key: 'startedAt' | 'finishedAt') => parts.map((p) => p[key]).sort();
  const kernels: RunResult['kernels'] = {};
  for (const p of parts) Object.assign(kernels, p.kernels);
  const first = parts[0]!;
  return {
    schema: RESULT_SCHEMA,
    runId: runIds.join('+'),
    startedAt: byTime('startedAt')[0]!,
    finishedAt: byTime('finishedAt').at(-1)!,
    host: first.host,
    accelerator: accelerators.join('+'),
    qemuVersion: first.qemuVersion,
    ...(first.target ? { target: first.target } : {}),
    kernels,
    scenarios: parts.flatMap((p) => p.scenarios).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
  };
}
