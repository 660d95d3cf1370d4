// A finding: a divergence between the kernel and the model (or a crash or a
// hang), with everything needed to see and reproduce it: the seed, the
// program, the minimized program, what was expected and observed, the rule
// behind the expectation, and the console logs. Saved as JSON; `luo-harness
// fuzz --replay finding.json` runs it again.
import { readFile, writeFile } from 'node:fs/promises';
import { ConfigError } from '../errors.ts';
import { parseOp, renderProgram, type Op } from './ops.ts';
import type { Divergence } from './executor.ts';

export const FINDING_SCHEMA = 'luo-harness-fuzz-finding/1';

export interface Finding {
  schema: typeof FINDING_SCHEMA;
  /** 1, 2, ... within a campaign. */
  id: number;
  title: string;
  kernel: { ref: string; recipe: string; release: string; key: string };
  /** The campaign's seed, the program's index in it, and the program's own seed. */
  seed: number;
  programIndex: number;
  programSeed: number;
  program: Op[];
  divergence: Divergence;
  /** The full program diverged again, the same way, on a fresh machine. */
  reproduced: boolean;
  minimized?: {
    ops: Op[];
    runs: number;
    ms: number;
    /** The minimized program's own divergence, from its confirming run. */
    divergence: Divergence;
    complete: boolean;
  };
  /** Console logs next to the finding file (names relative to it). */
  consoleLogs: string[];
  /** How often the campaign met this signature. */
  occurrences: number;
  /** When the campaign first met it (ms from its start). */
  foundAtMs: number;
}

/** A short title: what diverged, where. */
export function findingTitle(d: Divergence): string {
  switch (d.kind) {
    case 'crash':
      return `kernel crash during ${d.call?.label ?? 'the program'}`;
    case 'hang':
      return `no answer to ${d.call?.label ?? 'a call'} (hang)`;
    case 'kexec-refused':
      return 'the kernel refused the kexec';
    case 'mismatch': {
      const e = d.expected?.[0];
      const o = d.observed;
      const what = d.call?.verb ?? 'a call';
      if (!e || !o) return d.signature;
      if (e.ok && o.ok) return `${what} returns the wrong ${Object.keys(e.fields).filter((k) => o.fields[k] !== e.fields[k]).join(' and ')}`;
      if (e.ok && !o.ok) return `${what} fails with ${o.errno} where it should succeed`;
      if (!e.ok && o.ok) return `${what} succeeds where it should fail with ${e.errno}`;
      return `${what} fails with ${!o.ok ? o.errno : '?'} instead of ${!e.ok ? e.errno : '?'}`;
    }
  }
}

/** The program a replay runs: the minimized one when there is one. */
export const replayProgram = (f: Finding): Op[] => f.minimized?.ops ?? f.program;

export async function writeFinding(path: string, f: Finding): Promise<void> {
  await writeFile(path, JSON.stringify(f, null, 2) + '\n');
}

export function parseFinding(text: string, where: string): Finding {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw new ConfigError(`${where} is not JSON: ${(cause as Error).message}; pass a finding file written by luo-harness fuzz.`, { cause });
  }
  const o = raw as Partial<Finding> & Record<string, unknown>;
  if (typeof o !== 'object' || o === null || o.schema !== FINDING_SCHEMA) {
    throw new ConfigError(`${where} is not a luo-harness fuzz finding (no "schema": "${FINDING_SCHEMA}").`);
  }
  if (!Array.isArray(o.program) || o.program.length === 0) throw new ConfigError(`${where}: "program" must be a non-empty list of operations.`);
  if (typeof o.divergence !== 'object' || o.divergence === null || typeof (o.divergence as Divergence).signature !== 'string') {
    throw new ConfigError(`${where}: "divergence" must hold the divergence with its "signature".`);
  }
  if (typeof o.kernel !== 'object' || o.kernel === null || typeof o.kernel.ref !== 'string') throw new ConfigError(`${where}: "kernel" must name the kernel ("ref").`);
  const program = o.program.map((op, i) => parseOp(op, `${where}: program[${i}]`));
  const minimized = o.minimized === undefined ? undefined : { ...o.minimized, ops: (o.minimized.ops ?? []).map((op, i) => parseOp(op, `${where}: minimized.ops[${i}]`)) };
  if (minimized && minimized.ops.length === 0) throw new ConfigError(`${where}: "minimized.ops" is empty.`);
  return { ...(o as Finding), program, ...(minimized ? { minimized } : {}) };
}

export async function readFinding(path: string): Promise<Finding> {
  const text = await readFile(path, 'utf8').catch((cause: unknown) => {
    throw new ConfigError(`Cannot read the finding file ${path}: ${(cause as Error).message}.`, { cause });
  });
  return parseFinding(text, path);
}

/** The finding as a person reads it in a terminal or a report. */
export function renderFinding(f: Finding): string {
  const d = f.minimized?.divergence ?? f.divergence;
  const lines = [
    `finding ${f.id}: ${f.title}`,
    `  kernel ${f.kernel.recipe} (${f.kernel.release}), seed ${f.seed}, program ${f.programIndex} (seed ${f.programSeed}), seen ${f.occurrences}x, ${f.reproduced ? 'reproduced on a fresh machine' : 'did NOT reproduce on a fresh machine'}`,
    `  ${d.summary}`,
    ...(d.why ? [`  the model expected this because: ${d.why}`] : []),
  ];
  if (f.minimized) lines.push(`  minimized to ${f.minimized.ops.length} of ${f.program.length} operations in ${f.minimized.runs} runs:`, renderProgram(f.minimized.ops).replace(/^/gm, '  '));
  else lines.push(`  program (${f.program.length} operations):`, renderProgram(f.program).replace(/^/gm, '  '));
  if (d.report) lines.push('  console:', d.report.split('\n').slice(0, 30).join('\n').replace(/^/gm, '    '));
  return lines.join('\n');
}
