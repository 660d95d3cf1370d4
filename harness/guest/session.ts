// GuestSession: the SSH side of a running guest. One object for the life of
// a machine: `reconnect()` swaps the connection after a kexec while callers
// keep their reference. Lifecycle: `stop()` is idempotent and
// `await using s = await waitForSsh(...)` closes it.
import { createReadStream, createWriteStream } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Client, ClientChannel } from 'ssh2';
import { InfraError } from '../errors.ts';
import type { ConnectTuning, GuestCredentials, GuestEndpoint } from './connect.ts';
import { GuestCommandError, GuestConnectionLost } from './errors.ts';
import { execOnClient, type ExecOptions, type ExecResult } from './exec.ts';
import { shellQuote } from './shell-quote.ts';
import { interactiveShell, type ShellStreams } from './shell.ts';
import { connectWhenReady, type WaitForSshOptions } from './wait-for-ssh.ts';

export interface GuestSessionOptions extends GuestEndpoint, ConnectTuning {
  keys: GuestCredentials;
}

/** Why a connection ended; `error` is set when ssh2 reported one (e.g. "Keepalive timeout"). */
export interface ConnectionClosed {
  error?: Error;
  /** Milliseconds the connection lived. */
  livedMs: number;
}

export interface UploadOptions {
  /** Permission bits (default 0o644). */
  mode?: number;
  timeoutMs?: number;
}

export interface ReconnectOptions {
  consoleReady?: Promise<unknown>;
  deadlineMs: number;
  signal?: AbortSignal;
  retryEveryMs?: number;
  attemptTimeoutMs?: number;
}

/** Connect when the guest is ready (see WaitForSshOptions) and return a session. */
export async function waitForSsh(options: GuestSessionOptions & Omit<WaitForSshOptions, keyof ConnectTuning>): Promise<GuestSession> {
  const session = new GuestSession(options);
  await session.reconnect(options);
  return session;
}

export class GuestSession implements AsyncDisposable {
  readonly #options: GuestSessionOptions;
  #client: Client | undefined;
  #closed: Promise<ConnectionClosed> = Promise.resolve({ livedMs: 0 });
  #stopped = false;
  /** Counts connections: a channel opened under another number belongs to a connection that is gone. */
  connection = 0;
  /** Attempts and timings of the latest (re)connection. */
  lastConnect: { attempts: number; waitedMs: number; afterConsoleMs: number } | undefined;

  /** Not connected until `reconnect()`; most callers want `waitForSsh()`. */
  constructor(options: GuestSessionOptions) {
    this.#options = options;
  }

  get connected(): boolean {
    return this.#client !== undefined;
  }

  /** Settles when the current connection ends (a kexec shows up here within about a second). */
  get closed(): Promise<ConnectionClosed> {
    return this.#closed;
  }

  /** Run a command; a non-zero exit throws GuestCommandError (a TestFailure). */
  async exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    const r = await this.run(command, options);
    if (r.exitCode !== 0) throw new GuestCommandError(command, r.exitCode, r.signal, r.stdout, r.stderr);
    return r;
  }

  /** Run a command and return its result whatever the exit status. */
  async run(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    return execOnClient(this.#requireClient(), command, options);
  }

  /** A long-lived command on the current connection, its stdin and stdout left to the caller (the agent's relay). */
  openChannel(command: string): Promise<ClientChannel> {
    const client = this.#requireClient();
    return new Promise((resolve, reject) => {
      const lost = (why: string, cause?: unknown) => reject(new GuestConnectionLost(`Cannot start guest command \`${command}\`: ${why}.`, { cause }));
      try {
        client.exec(command, (err, channel) => (err ? lost(err.message, err) : resolve(channel)));
      } catch (err) {
        lost((err as Error).message, err); // ssh2 throws synchronously when the connection is already gone
      }
    });
  }

  /** An interactive shell on a pty, wired to this process's terminal; resolves with its exit status. */
  async shell(streams: ShellStreams = {}): Promise<number> {
    return interactiveShell(this.#requireClient(), streams);
  }

  /**
   * Stream a file into the guest over `cat` (dropbear has no SFTP server).
   * Written to a temporary name and renamed, so a reader never sees half a
   * file; the byte count is checked on the guest side.
   */
  async upload(source: string | Buffer | Readable, remotePath: string, options: UploadOptions = {}): Promise<{ bytes: number }> {
    const mode = (options.mode ?? 0o644).toString(8).padStart(4, '0');
    const q = shellQuote(remotePath);
    const tmp = shellQuote(remotePath + '.luo-upload');
    let sent = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        sent += chunk.length;
        done(null, chunk);
      },
    });
    const input = typeof source === 'string' ? createReadStream(source) : Buffer.isBuffer(source) ? Readable.from([source]) : source;
    input.once('error', (e: Error) => counter.destroy(e));
    input.pipe(counter);
    const dir = remotePath.includes('/') ? remotePath.slice(0, remotePath.lastIndexOf('/')) || '/' : '.';
    const script = `set -e; mkdir -p ${shellQuote(dir)}; cat > ${tmp}; chmod ${mode} ${tmp}; mv -f ${tmp} ${q}; wc -c < ${q}`;
    const r = await this.exec(script, { stdin: counter, timeoutMs: options.timeoutMs ?? 300_000 });
    const got = Number.parseInt(r.stdout.trim(), 10);
    if (got !== sent) throw new InfraError(`Upload to ${remotePath} sent ${sent} bytes but the guest has ${r.stdout.trim()}.`);
    return { bytes: sent };
  }

  /**
   * Stream a guest file into a host file over `cat` (binary-safe, any size);
   * the byte count is checked against the guest's `wc -c`.
   */
  async download(remotePath: string, localPath: string, options: { timeoutMs?: number } = {}): Promise<{ bytes: number }> {
    const q = shellQuote(remotePath);
    const expected = Number.parseInt((await this.exec(`wc -c < ${q}`)).stdout.trim(), 10);
    const timeoutMs = options.timeoutMs ?? 300_000;
    const channel = await this.openChannel(`cat ${q}`);
    let got = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        got += chunk.length;
        done(null, chunk);
      },
    });
    try {
      await pipeline(channel, counter, createWriteStream(localPath, { mode: 0o600 }), { signal: AbortSignal.timeout(timeoutMs) });
    } catch (cause) {
      channel.close();
      throw new InfraError(`Download of ${remotePath} failed after ${got} bytes: ${(cause as Error).message}.`, { cause });
    }
    if (got !== expected) throw new InfraError(`Download of ${remotePath} got ${got} bytes but the file has ${expected}.`);
    return { bytes: got };
  }

  /**
   * Drop the current connection (if any) and connect again once the guest is
   * ready: after a kexec, pass the new boot's sshd-ready marker as consoleReady.
   */
  async reconnect(options: ReconnectOptions): Promise<void> {
    if (this.#stopped) throw new InfraError('This guest session was stopped; it cannot reconnect.');
    this.#dropClient();
    const c = await connectWhenReady(this.#options, this.#options.keys, { ...this.#options, ...options });
    if (this.#stopped) {
      c.client.end();
      throw new InfraError('This guest session was stopped while it was connecting.');
    }
    this.lastConnect = { attempts: c.attempts, waitedMs: c.waitedMs, afterConsoleMs: c.afterConsoleMs };
    this.#adopt(c.client);
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    const client = this.#client;
    this.#dropClient();
    if (client) await Promise.race([this.#closed, new Promise((r) => setTimeout(r, 1000).unref())]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  #adopt(client: Client): void {
    const born = performance.now();
    let lastError: Error | undefined;
    client.on('error', (e: Error) => {
      lastError = e; // reported through `closed`; the close event follows
    });
    this.#closed = new Promise((resolve) => {
      client.once('close', () => {
        if (this.#client === client) this.#client = undefined;
        const info: ConnectionClosed = { livedMs: Math.round(performance.now() - born) };
        if (lastError) info.error = lastError;
        resolve(info);
      });
    });
    this.#client = client;
    this.connection++;
  }

  #dropClient(): void {
    const client = this.#client;
    this.#client = undefined;
    if (client) {
      client.end();
      // A guest that vanished never answers the disconnect; do not wait for it.
      setTimeout(() => client.destroy(), 200).unref();
    }
  }

  #requireClient(): Client {
    if (this.#client) return this.#client;
    throw new InfraError(this.#stopped ? 'This guest session was stopped.' : 'The guest session is not connected (the guest rebooted?); call reconnect().');
  }
}
