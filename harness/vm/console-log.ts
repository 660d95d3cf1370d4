// Console logs on disk: one per run (every line with its boot index) and one per
// boot (console-boot0.log, console-boot1.log, ...). Written synchronously per line
// so a harness killed mid-run still leaves the lines it saw.
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { ConsoleLine } from './console-monitor.ts';

export const RUN_LOG = 'console.log';
/** Lines before the first banner of a console joined midway (boot -1) are the previous system's. */
export const bootLogName = (boot: number): string => (boot < 0 ? 'console-before.log' : `console-boot${boot}.log`);

/** `     1234.567 b0 text`: host milliseconds since QEMU was spawned (microsecond resolution). */
export function formatLine(line: ConsoleLine, withBoot: boolean): string {
  const ms = line.ms.toFixed(3).padStart(12);
  return withBoot ? `${ms} b${line.boot} ${line.text}\n` : `${ms} ${line.text}\n`;
}

export class ConsoleLogWriter {
  readonly #dir: string;
  readonly #runFd: number;
  readonly #bootFds = new Map<number, number>();
  #closed = false;

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true });
    this.#dir = dir;
    this.#runFd = openSync(join(dir, RUN_LOG), 'w');
  }

  write(line: ConsoleLine): void {
    if (this.#closed) return;
    writeSync(this.#runFd, formatLine(line, true));
    let fd = this.#bootFds.get(line.boot);
    if (fd === undefined) {
      fd = openSync(join(this.#dir, bootLogName(line.boot)), 'w');
      this.#bootFds.set(line.boot, fd);
    }
    writeSync(fd, formatLine(line, false));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeSync(this.#runFd);
    for (const fd of this.#bootFds.values()) closeSync(fd);
  }
}

/** The lines of a run log written with boots (`formatLine(line, true)`), read back; other lines are left out. */
export function parseConsoleLog(text: string): { boot: number; ms: number; text: string }[] {
  const out: { boot: number; ms: number; text: string }[] = [];
  for (const raw of text.split('\n')) {
    const m = /^\s*(\d+\.\d+) b(\d+) (.*)$/.exec(raw);
    if (m) out.push({ ms: Number(m[1]), boot: Number(m[2]), text: m[3]! });
  }
  return out;
}
