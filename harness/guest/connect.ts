// One SSH connection attempt to the guest, authenticated with the run's
// client key and accepting exactly the run's host key (no trust on first use).
import ssh2, { type Client } from 'ssh2';
import { InfraError } from '../errors.ts';
import { publicKeyBlob } from '../image/run-keys.ts';

export interface GuestEndpoint {
  /** Default 127.0.0.1 (QEMU's hostfwd). */
  host?: string;
  port: number;
  /** Default root. */
  username?: string;
}

export interface GuestCredentials {
  /** OpenSSH-format private key text (RunKeys.clientPrivateKey). */
  clientPrivateKey: string;
  /** "ssh-ed25519 AAAA..." (RunKeys.hostPublicKey). */
  hostPublicKey: string;
}

export interface ConnectTuning {
  /** How often to probe a quiet connection; a kexec'd guest never closes TCP, so this is how its death is seen. Default 250. */
  keepaliveIntervalMs?: number;
  /**
   * Unanswered probes before the connection is declared dead. Default 6
   * (about 1.5 s): quick to see a kexec, slack for a TCG guest whose vCPU is
   * busy in the kernel for a moment.
   */
  keepaliveCountMax?: number;
}

/** Why an attempt failed in a way that retrying cannot mend. */
export class GuestAuthError extends InfraError {}

/** Accepts exactly the pinned key: ssh2 hands over the server's key blob, compared byte for byte. */
export function hostKeyVerifier(hostPublicKey: string): (key: Buffer) => boolean {
  const expected = publicKeyBlob(hostPublicKey);
  return (key: Buffer) => Buffer.isBuffer(key) && key.equals(expected);
}

/** Resolves with a ready client; rejects after `timeoutMs` or on any failure (closing the socket). */
export function connectOnce(endpoint: GuestEndpoint, credentials: GuestCredentials, timeoutMs: number, tuning: ConnectTuning = {}): Promise<Client> {
  const client = new ssh2.Client();
  const where = `${endpoint.host ?? '127.0.0.1'}:${endpoint.port}`;
  return new Promise<Client>((resolve, reject) => {
    let hostKeyRejected = false;
    const verify = hostKeyVerifier(credentials.hostPublicKey);
    const fail = (error: Error) => {
      client.removeAllListeners('ready');
      client.on('error', () => {}); // later socket errors of a dead attempt are expected
      client.end();
      client.destroy();
      reject(error);
    };
    client.once('ready', () => {
      client.removeAllListeners('error');
      resolve(client);
    });
    client.once('error', (err: Error & { level?: string }) => {
      if (hostKeyRejected) {
        fail(new GuestAuthError(`The SSH server at ${where} presented a host key other than this run's; another guest (or a stale one) is answering there.`, { cause: err }));
      } else if (err.level === 'client-authentication') {
        fail(new GuestAuthError(`The guest at ${where} rejected this run's client key; did the per-run initrd (with the keys) reach the guest?`, { cause: err }));
      } else {
        fail(new InfraError(`SSH connection to ${where} failed: ${err.message}.`, { cause: err }));
      }
    });
    client.connect({
      host: endpoint.host ?? '127.0.0.1',
      port: endpoint.port,
      username: endpoint.username ?? 'root',
      privateKey: credentials.clientPrivateKey,
      hostVerifier: (key: Buffer) => {
        const ok = verify(key);
        if (!ok) hostKeyRejected = true;
        return ok;
      },
      readyTimeout: Math.max(1, Math.round(timeoutMs)),
      keepaliveInterval: tuning.keepaliveIntervalMs ?? 250,
      keepaliveCountMax: tuning.keepaliveCountMax ?? 6,
    });
    // Every exchange is a small request waiting on its answer: Nagle would hold
    // a second small packet until the guest's delayed ACK (~40 ms) arrives.
    client.setNoDelay(true);
  });
}
