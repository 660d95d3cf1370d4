// The command runs of a recorded experiment console (tests/fixtures/kselftest/README.md):
// the output between `EXP-MARK run-begin` and `run-end`, kernel printk lines left out.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FIXTURES } from './fixture-tree.ts';

export interface RecordedRun {
  boot: number;
  cmd: string;
  rc: number;
  output: string;
}

export async function recordedRuns(file: string): Promise<RecordedRun[]> {
  const runs: RecordedRun[] = [];
  let open: { out: string[] } | undefined;
  for (const raw of (await readFile(join(FIXTURES, file), 'utf8')).replace(/\r/g, '').split('\n')) {
    const text = /^\s*\d+ (.*)$/.exec(raw)?.[1];
    if (text === undefined) continue;
    const end = /EXP-MARK run-end rc=(\d+) cmd=(.*) boot=(\d+) up=/.exec(text);
    if (/EXP-MARK run-begin /.test(text)) open = { out: [] };
    else if (end && open) {
      runs.push({ boot: Number(end[3]), cmd: end[2]!, rc: Number(end[1]), output: open.out.join('\n') });
      open = undefined;
    } else if (open && !/^\[\s*\d+\.\d+\]/.test(text)) open.out.push(text);
  }
  return runs;
}
