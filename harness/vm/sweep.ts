// Startup sweep: kill the QEMUs of harness runs that died without cleaning up
// (pdeathsig covers most deaths; this covers the rest, e.g. a harness whose QEMU
// was started from a thread that is gone, or a host that lacks setpriv's effect).
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PIDFILE_NAME, processStartTime, readPidfile, removePidfile, type PidfileRecord } from './pidfile.ts';

export interface SweepResult {
  runDir: string;
  /** What was done: the owner still runs (left alone), QEMU was killed, or only the stale pidfile was removed. */
  action: 'owner-alive' | 'killed' | 'removed';
  qemuPid: number;
}

export interface SweepHost {
  startTime(pid: number): number | undefined;
  kill(pid: number, signal: NodeJS.Signals): void;
}

const realHost: SweepHost = {
  startTime: (pid) => processStartTime(pid),
  kill: (pid, signal) => process.kill(pid, signal),
};

function findPidfiles(dir: string, depth: number, found: string[]): void {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    if (entry.isFile() && entry.name === PIDFILE_NAME) found.push(join(dir, entry.name));
    else if (entry.isDirectory() && depth > 0) findPidfiles(join(dir, entry.name), depth - 1, found);
  }
}

/** Decide and act for one pidfile record. */
export function sweepRecord(record: PidfileRecord, host: SweepHost): SweepResult['action'] {
  if (host.startTime(record.harnessPid) === record.harnessStart) return 'owner-alive';
  if (host.startTime(record.qemuPid) !== record.qemuStart) return 'removed';
  try {
    host.kill(-record.qemuPgid, 'SIGKILL');
  } catch {
    host.kill(record.qemuPid, 'SIGKILL');
  }
  return 'killed';
}

/**
 * Look for pidfiles under `runsRoot` (up to `depth` directories down) and kill the
 * QEMU of every run whose harness process is gone. Live runs are left alone.
 */
export function sweepStaleMachines(runsRoot: string, options: { depth?: number; host?: SweepHost } = {}): SweepResult[] {
  const files: string[] = [];
  findPidfiles(runsRoot, options.depth ?? 3, files);
  const results: SweepResult[] = [];
  for (const file of files) {
    const record = readPidfile(file);
    const runDir = dirname(file);
    if (!record) {
      removePidfile(runDir);
      continue;
    }
    const action = sweepRecord(record, options.host ?? realHost);
    if (action !== 'owner-alive') removePidfile(runDir);
    results.push({ runDir, action, qemuPid: record.qemuPid });
  }
  return results;
}
