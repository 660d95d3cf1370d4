// results.json: the result model with keys in a stable (sorted) order, so two
// runs diff cleanly and the file's bytes depend only on its content.
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../errors.ts';
import { RESULT_SCHEMA, STATUSES, type RunResult } from './result.ts';

/** JSON with object keys sorted at every depth; array order is kept (it carries meaning). */
export function stableStringify(value: unknown, indent = 2): string {
  return JSON.stringify(sortKeys(value), null, indent);
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object' && (value as object).constructor === Object) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = sortKeys(v);
    }
    return out;
  }
  return value;
}

export const resultsJson = (result: RunResult) => stableStringify(result) + '\n';

/** Check the shape enough to fail with a useful message instead of deep inside a writer. */
export function parseResults(text: string, where = 'results'): RunResult {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (cause) {
    throw new ConfigError(`${where} is not valid JSON.`, { cause });
  }
  const r = data as Partial<RunResult>;
  if (!r || typeof r !== 'object' || r.schema !== RESULT_SCHEMA) {
    throw new ConfigError(`${where} is not a results file of schema ${RESULT_SCHEMA} (got schema ${String(r?.schema)}).`);
  }
  if (typeof r.runId !== 'string' || !Array.isArray(r.scenarios)) {
    throw new ConfigError(`${where} lacks runId or scenarios.`);
  }
  for (const s of r.scenarios) {
    if (typeof s?.name !== 'string' || !STATUSES.includes(s.status)) {
      throw new ConfigError(`${where}: scenario ${JSON.stringify(s?.name)} has an unknown status ${JSON.stringify(s?.status)}.`);
    }
  }
  return r as RunResult;
}

export async function readResultsFile(path: string): Promise<RunResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new ConfigError(`Cannot read results file ${path}.`, { cause });
  }
  return parseResults(text, path);
}
