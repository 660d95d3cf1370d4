// One command over an ssh2 connection: stdin in, stdout/stderr/status out,
// bounded by a time limit and by the connection's life.
import { Readable } from 'node:stream';
import type { Client, ClientChannel } from 'ssh2';
import { GuestConnectionLost, GuestTimeout } from './errors.ts';

export interface ExecOptions {
  /** Time limit for the whole command (default 60 s). */
  timeoutMs?: number;
  /** Bytes for the command's stdin; stdin is closed after them (or at once, if absent). */
  stdin?: Buffer | string | Readable;
  /** Keep at most this many bytes of each of stdout and stderr (default 32 MiB); the rest is dropped. */
  maxOutputBytes?: number;
}

export interface ExecResult {
  command: string;
  /** null when a signal ended the command. */
  exitCode: number | null;
  signal?: string;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export const DEFAULT_EXEC_TIMEOUT_MS = 60_000;
const DEFAULT_MAX_OUTPUT = 32 * 1024 * 1024;

class Capped {
  readonly chunks: Buffer[] = [];
  size = 0;
  constructor(readonly max: number) {}
  push(chunk: Buffer) {
    if (this.size >= this.max) return;
    const part = chunk.subarray(0, this.max - this.size);
    this.chunks.push(part);
    this.size += part.length;
  }
  text() {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

/** Run one command; if the connection ends first, fail with GuestConnectionLost. */
export function execOnClient(client: Client, command: string, options: ExecOptions = {}): Promise<ExecResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
  const max = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
  const started = performance.now();
  return new Promise<ExecResult>((resolve, reject) => {
    let channel: ClientChannel | undefined;
    let settled = false;
    const stdout = new Capped(max);
    const stderr = new Capped(max);
    let exitCode: number | null = null;
    let signal: string | undefined;
    let sawExit = false;

    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.off('close', onClientClose);
      fn();
    };
    const onClientClose = () =>
      finish(() => reject(new GuestConnectionLost(`The SSH connection closed before guest command \`${command}\` finished.`)));
    client.once('close', onClientClose);
    const timer = setTimeout(() => {
      finish(() => reject(new GuestTimeout(`Guest command \`${command}\` did not finish within ${timeoutMs} ms.`, { detail: stderr.text() || undefined })));
      channel?.close();
    }, timeoutMs);

    const onChannel = (err: Error | undefined, ch: ClientChannel) => {
      if (err) {
        finish(() => reject(new GuestConnectionLost(`Cannot start guest command \`${command}\`: ${err.message}.`, { cause: err })));
        return;
      }
      channel = ch;
      if (settled) {
        ch.close();
        return;
      }
      ch.on('data', (d: Buffer) => stdout.push(d));
      ch.stderr.on('data', (d: Buffer) => stderr.push(d));
      ch.on('exit', (code: number | null, sig?: string) => {
        sawExit = true;
        exitCode = typeof code === 'number' ? code : null;
        if (typeof sig === 'string') signal = sig;
      });
      ch.on('close', () => {
        if (!sawExit) {
          finish(() => reject(new GuestConnectionLost(`Guest command \`${command}\` ended without an exit status (the connection is going away?).`)));
          return;
        }
        const result: ExecResult = { command, exitCode, stdout: stdout.text(), stderr: stderr.text(), durationMs: Math.round(performance.now() - started) };
        if (signal !== undefined) result.signal = signal;
        finish(() => resolve(result));
      });
      feedStdin(ch, options.stdin, (e) => finish(() => reject(e)));
    };
    try {
      client.exec(command, onChannel);
    } catch (err) {
      // ssh2 throws synchronously when the connection is already gone.
      finish(() => reject(new GuestConnectionLost(`Cannot start guest command \`${command}\`: ${(err as Error).message}.`, { cause: err })));
    }
  });
}

function feedStdin(ch: ClientChannel, stdin: ExecOptions['stdin'], onError: (e: Error) => void): void {
  if (stdin === undefined) {
    ch.end();
  } else if (stdin instanceof Readable) {
    stdin.once('error', (e) => {
      onError(e);
      ch.close();
    });
    stdin.pipe(ch);
  } else {
    ch.end(stdin);
  }
}
