// Connecting once the guest says sshd is up: wait for the console marker
// (passed in as a promise, so this module knows nothing of the machine
// layer), then retry connecting with a short bounded backoff until the
// deadline. No blind sleeps.
import pRetry, { AbortError } from 'p-retry';
import type { Client } from 'ssh2';
import { InfraError } from '../errors.ts';
import { connectOnce, GuestAuthError, type ConnectTuning, type GuestCredentials, type GuestEndpoint } from './connect.ts';

export interface WaitForSshOptions extends ConnectTuning {
  /** Settles when the console shows `sshd-ready`; a rejection (QEMU died, kernel panic) fails the wait at once. */
  consoleReady?: Promise<unknown>;
  /** Time budget for the whole wait, in milliseconds from now. */
  deadlineMs: number;
  /** Abort (e.g. when the machine exits) to stop retrying at once. */
  signal?: AbortSignal;
  /** Per-attempt handshake limit (default 5000 ms, never past the deadline). */
  attemptTimeoutMs?: number;
  /**
   * Retry at this fixed interval instead of backing off (20 ms doubling to
   * 500 ms): for a guest whose sshd is about to listen, where each refused
   * attempt costs little and every ms of waiting counts.
   */
  retryEveryMs?: number;
}

export interface Connected {
  client: Client;
  attempts: number;
  /** From the call (or from consoleReady settling) to the ready connection. */
  waitedMs: number;
  afterConsoleMs: number;
}

export async function connectWhenReady(endpoint: GuestEndpoint, credentials: GuestCredentials, options: WaitForSshOptions): Promise<Connected> {
  const started = performance.now();
  const deadline = started + options.deadlineMs;
  const where = `${endpoint.host ?? '127.0.0.1'}:${endpoint.port}`;
  if (options.consoleReady) await withDeadline(options.consoleReady, options.deadlineMs, `the guest's sshd-ready console marker (SSH ${where})`);
  const consoleAt = performance.now();

  let attempts = 0;
  let lastError: unknown;
  try {
    const client = await pRetry(
      async () => {
        attempts++;
        const left = deadline - performance.now();
        if (left <= 0) throw new AbortError(new InfraError('deadline passed'));
        return connectOnce(endpoint, credentials, Math.min(left, options.attemptTimeoutMs ?? 5000), options);
      },
      {
        retries: Number.POSITIVE_INFINITY,
        minTimeout: options.retryEveryMs ?? 20,
        maxTimeout: options.retryEveryMs ?? 500,
        factor: options.retryEveryMs ? 1 : 2,
        randomize: false,
        maxRetryTime: Math.max(0, deadline - performance.now()),
        signal: options.signal,
        onFailedAttempt: ({ error }) => {
          lastError = error;
        },
        shouldRetry: ({ error }) => !(error instanceof GuestAuthError) && performance.now() < deadline,
      },
    );
    const now = performance.now();
    return { client, attempts, waitedMs: Math.round(now - started), afterConsoleMs: Math.round(now - consoleAt) };
  } catch (error) {
    if (error instanceof GuestAuthError) throw error;
    if (options.signal?.aborted) throw new InfraError(`Stopped waiting for SSH at ${where}: ${String(options.signal.reason ?? 'aborted')}.`, { cause: lastError ?? error });
    throw new InfraError(`SSH at ${where} did not accept a connection within ${options.deadlineMs} ms (${attempts} attempts).`, { cause: lastError ?? error });
  }
}

/** Await `p`, but fail with an InfraError once `ms` have passed. A rejection of `p` passes through unchanged. */
export async function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new InfraError(`Timed out after ${ms} ms waiting for ${what}.`)), Math.max(0, ms));
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
