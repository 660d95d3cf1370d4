// One pidfile per machine in its run dir: who started QEMU and which QEMU, each
// identified by pid *and* start time, so a pid the kernel has since recycled for
// another process is never mistaken for ours.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const PIDFILE_NAME = 'qemu.pid.json';

export interface PidfileRecord {
  schema: 1;
  harnessPid: number;
  /** Start time of the harness process, in clock ticks since host boot (/proc/<pid>/stat field 22). */
  harnessStart: number;
  qemuPid: number;
  qemuStart: number;
  /** QEMU leads its own process group (spawned detached). */
  qemuPgid: number;
}

/** Field 22 of /proc/<pid>/stat text (starttime). The command name may hold spaces and parens, so count after the last ')'. */
export function parseStartTime(statText: string): number | undefined {
  const fields = statText.slice(statText.lastIndexOf(')') + 2).split(' ');
  const value = Number(fields[19]);
  return Number.isFinite(value) && fields.length > 19 ? value : undefined;
}

/** The start time of a live process, or undefined if it does not exist. */
export function processStartTime(pid: number, readStat = (p: number) => readFileSync(`/proc/${p}/stat`, 'utf8')): number | undefined {
  try {
    return parseStartTime(readStat(pid));
  } catch {
    return undefined;
  }
}

export function writePidfile(runDir: string, record: PidfileRecord): void {
  writeFileSync(join(runDir, PIDFILE_NAME), JSON.stringify(record) + '\n');
}

export function readPidfile(path: string): PidfileRecord | undefined {
  try {
    const record = JSON.parse(readFileSync(path, 'utf8')) as PidfileRecord;
    return record.schema === 1 && Number.isInteger(record.qemuPid) ? record : undefined;
  } catch {
    return undefined;
  }
}

export function removePidfile(runDir: string): void {
  rmSync(join(runDir, PIDFILE_NAME), { force: true });
}
