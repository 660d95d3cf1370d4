// ttyS1, the guest's second serial line, when a machine asks for it: what a
// program in the guest writes there (a nested VM's own serial port) reaches
// the harness over a pipe of its own, each chunk stamped with its arrival on
// the host clock of the machine's console. A kexec does not touch it, so a
// span across the live update is measured on one clock.
import { createWriteStream, type WriteStream } from 'node:fs';
import { EventEmitter } from 'node:events';

export interface SerialChunk {
  /** Host ms since the machine's console origin. */
  ms: number;
  text: string;
}

export interface SerialLine {
  /** Arrival of the line's last byte (its newline). */
  ms: number;
  text: string;
}

export class AuxSerial extends EventEmitter<{ chunk: [SerialChunk] }> {
  readonly chunks: SerialChunk[] = [];
  readonly #lines: SerialLine[] = [];
  #partial = '';
  readonly #log: WriteStream | undefined;

  constructor(
    readonly origin: bigint,
    logPath?: string,
    readonly now: () => bigint = process.hrtime.bigint,
  ) {
    super();
    this.setMaxListeners(0);
    this.#log = logPath ? createWriteStream(logPath) : undefined;
  }

  push(data: Buffer | string): void {
    const ms = Number(this.now() - this.origin) / 1e6;
    const text = data.toString();
    const chunk = { ms, text };
    this.chunks.push(chunk);
    this.#log?.write(text);
    const pieces = (this.#partial + text).split('\n');
    this.#partial = pieces.pop()!;
    for (const p of pieces) this.#lines.push({ ms, text: p.replaceAll('\r', '') });
    this.emit('chunk', chunk);
  }

  end(): void {
    this.#log?.end();
  }

  lines(): readonly SerialLine[] {
    return this.#lines;
  }

  /** Host ms now, on this line's clock. */
  nowMs(): number {
    return Number(this.now() - this.origin) / 1e6;
  }

  /** The first line matching `pattern` that arrived after `afterMs`; waits up to `deadlineMs`, then undefined. */
  async waitForLine(pattern: RegExp, afterMs: number, deadlineMs: number): Promise<SerialLine | undefined> {
    const find = () => this.#lines.find((l) => l.ms > afterMs && pattern.test(l.text));
    const found = find();
    if (found) return found;
    return new Promise((resolve) => {
      const done = (v: SerialLine | undefined) => {
        clearTimeout(timer);
        this.off('chunk', onChunk);
        resolve(v);
      };
      const onChunk = () => {
        const f = find();
        if (f) done(f);
      };
      const timer = setTimeout(() => done(undefined), deadlineMs);
      this.on('chunk', onChunk);
    });
  }
}
