// Suites: JSON files naming scenarios with their kernel and parameters.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ConfigError } from '../errors.ts';
import { repoRoot } from '../paths.ts';
import { SCENARIOS } from './scenarios/index.ts';
import { checkParams } from './params.ts';

export interface SuiteEntry {
  name: string;
  kernel?: string;
  to?: string;
  iterations?: number;
  params?: Record<string, unknown>;
}

export interface Suite {
  name: string;
  file: string;
  description?: string;
  kernel?: string;
  scenarios: SuiteEntry[];
}

export const DEFAULT_SUITE = 'default';

export async function loadSuite(ref: string = DEFAULT_SUITE): Promise<Suite> {
  const file = ref.endsWith('.json') || ref.includes('/') ? resolve(ref) : join(repoRoot, 'suites', `${ref}.json`);
  if (!existsSync(file)) throw new ConfigError(`no suite "${ref}" (looked for ${file})`);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (cause) {
    throw new ConfigError(`suite ${file} is not valid JSON: ${(cause as Error).message}`, { cause });
  }
  return parseSuite(raw, file);
}

export function parseSuite(raw: unknown, file: string): Suite {
  const fail = (field: string, what: string): never => {
    throw new ConfigError(`suite ${file}: field "${field}" ${what}`);
  };
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) fail('(top level)', 'must be a JSON object');
  const r = raw as Record<string, unknown>;
  for (const k of Object.keys(r)) if (!['description', 'kernel', 'scenarios'].includes(k)) fail(k, 'is not a suite field (known: description, kernel, scenarios)');
  if (r.kernel !== undefined && typeof r.kernel !== 'string') fail('kernel', 'must be a recipe name');
  if (!Array.isArray(r.scenarios) || r.scenarios.length === 0) fail('scenarios', 'must be a non-empty array');
  const scenarios = (r.scenarios as unknown[]).map((e, i) => {
    const at = `scenarios[${i}]`;
    if (!e || typeof e !== 'object') return fail(at, 'must be an object with a "name"');
    const s = e as Record<string, unknown>;
    for (const k of Object.keys(s)) if (!['name', 'kernel', 'to', 'iterations', 'params'].includes(k)) fail(`${at}.${k}`, 'is not a scenario field (known: name, kernel, to, iterations, params)');
    if (typeof s.name !== 'string' || !SCENARIOS[s.name]) fail(`${at}.name`, `must name a scenario (${Object.keys(SCENARIOS).join(', ')}), got ${JSON.stringify(s.name)}`);
    for (const k of ['kernel', 'to'] as const) if (s[k] !== undefined && typeof s[k] !== 'string') fail(`${at}.${k}`, 'must be a recipe name');
    if (s.iterations !== undefined && (!Number.isInteger(s.iterations) || (s.iterations as number) < 1)) fail(`${at}.iterations`, 'must be a positive integer');
    if (s.params !== undefined && (typeof s.params !== 'object' || Array.isArray(s.params))) fail(`${at}.params`, 'must be an object');
    // Checked now, typed: a bad size fails before anything boots, naming the suite, the scenario and the key.
    checkParams(SCENARIOS[s.name as string]!.params, (s.params as Record<string, unknown>) ?? {}, `suite ${file}: ${at} (${String(s.name)}) params`);
    return s as unknown as SuiteEntry;
  });
  const name = file.replace(/^.*\//, '').replace(/\.json$/, '');
  return { name, file, ...(typeof r.description === 'string' ? { description: r.description } : {}), ...(r.kernel ? { kernel: r.kernel as string } : {}), scenarios };
}
