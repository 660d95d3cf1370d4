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
  /** OpenSSH-format private key text (RunKeys.clientPrivateKey); may be left out when `agent` is given. */
  clientPrivateKey?: string;
  /** An ssh-agent socket to authenticate with (a lab host's own sshd; never the run's guests). */
  agent?: string;
  /** "ssh-ed25519 AAAA..." (RunKeys.hostPublicKey), or every key pinned for a host (known_hosts may list several types). */
  hostPublicKey: string | readonly string[];
  /** Where the pinned key came from, for the refusal's message (default: this run's keys). */
  hostKeySource?: string;
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

/** Accepts exactly the pinned key(s): ssh2 hands over the server's key blob, compared byte for byte. */
export function hostKeyVerifier(hostPublicKey: string | readonly string[]): (key: Buffer) => boolean {
  const expected = (typeof hostPublicKey === 'string' ? [hostPublicKey] : hostPublicKey).map(publicKeyBlob);
  return (key: Buffer) => Buffer.isBuffer(key) && expected.some((e) => key.equals(e));
}

/** The host key algorithms to offer: only those of the pinned keys, so a server with several keys shows a pinned one. */
export function pinnedKeyAlgorithms(hostPublicKey: string | readonly string[]): string[] {
  const types = (typeof hostPublicKey === 'string' ? [hostPublicKey] : hostPublicKey).map((l) => l.trim().split(/\s+/)[0]!);
  return [...new Set(types.flatMap((t) => (t === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [t])))];
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
        const message = credentials.hostKeySource
          ? `The SSH server at ${where} presented a host key other than the one pinned by ${credentials.hostKeySource}; check that this is the machine you mean, then fix the pin.`
          : `The SSH server at ${where} presented a host key other than this run's; another guest (or a stale one) is answering there.`;
        fail(new GuestAuthError(message, { cause: err }));
      } else if (err.level === 'client-authentication') {
        const message = credentials.hostKeySource
          ? `The SSH server at ${where} rejected the client key (${credentials.agent ? 'ssh-agent' : 'the identity file'}); install its public key in root's authorized_keys there.`
          : `The guest at ${where} rejected this run's client key; did the per-run initrd (with the keys) reach the guest?`;
        fail(new GuestAuthError(message, { cause: err }));
      } else {
        fail(new InfraError(`SSH connection to ${where} failed: ${err.message}.`, { cause: err }));
      }
    });
    client.connect({
      host: endpoint.host ?? '127.0.0.1',
      port: endpoint.port,
      username: endpoint.username ?? 'root',
      ...(credentials.clientPrivateKey ? { privateKey: credentials.clientPrivateKey } : {}),
      ...(credentials.agent ? { agent: credentials.agent } : {}),
      algorithms: { serverHostKey: pinnedKeyAlgorithms(credentials.hostPublicKey) as never },
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
