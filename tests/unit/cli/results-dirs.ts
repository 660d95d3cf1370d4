// Results directories on disk, as `luo-harness run` leaves them, from synthetic results.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { writeReportFiles } from '../../../harness/report/output.ts';
import type { RunResult } from '../../../harness/report/result.ts';
import { scratchDir } from '../../helpers/scratch.ts';

export const scratch = async (prefix: string) => scratchDir(`luo-cli-${prefix}-`);

/** Write results.json & co. plus a console log file for every artifact; returns the directory. */
export async function writeResultsDir(dir: string, result: RunResult): Promise<string> {
  await writeReportFiles(dir, result);
  for (const s of result.scenarios) {
    for (const a of s.artifacts) {
      await mkdir(dirname(join(dir, a.path)), { recursive: true });
      await writeFile(join(dir, a.path), `console of ${s.name} ${a.name}\n`);
    }
  }
  return dir;
}

/** Collects what a command prints. */
export function capture(): { out: (s: string) => void; lines: string[] } {
  const lines: string[] = [];
  return { out: (s) => lines.push(...s.split('\n')), lines };
}
