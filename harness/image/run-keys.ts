// Per-run SSH keys: an ed25519 client key (OpenSSH format, what ssh2 reads)
// and the guest's ed25519 host key (dropbear format, made by dropbearkey).
// They live in the run directory only: never in the repository or the cache.
import { mkdir, writeFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { InfraError } from '../errors.ts';
import { findCommand } from './host-tools.ts';
import { generateEd25519 } from './openssh-key.ts';

export interface RunKeys {
  dir: string;
  /** OpenSSH-format private key text, for ssh2's `privateKey`. */
  clientPrivateKey: string;
  clientPrivateKeyPath: string;
  /** authorized_keys line: "ssh-ed25519 AAAA... luo-harness". */
  clientPublicKey: string;
  /** The guest's host key as an OpenSSH public key line ("ssh-ed25519 AAAA..."): the only key the client accepts. */
  hostPublicKey: string;
  /** The guest's private host key file (dropbear format). */
  hostPrivateKeyPath: string;
}

const COMMENT = 'luo-harness';

export async function generateRunKeys(dir: string): Promise<RunKeys> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const client = generateEd25519(COMMENT);
  const clientPrivateKeyPath = join(dir, 'client_ed25519');
  await writeFile(clientPrivateKeyPath, client.private, { mode: 0o600 });
  await writeFile(clientPrivateKeyPath + '.pub', client.public + '\n', { mode: 0o644 });

  const hostPrivateKeyPath = join(dir, 'host_ed25519');
  const dropbearkey = await findCommand('dropbearkey');
  await rm(hostPrivateKeyPath, { force: true }); // dropbearkey will not overwrite; keys are fresh per call
  const r = await execa(dropbearkey, ['-t', 'ed25519', '-f', hostPrivateKeyPath], { reject: false, all: true });
  if (r.exitCode !== 0) throw new InfraError(`dropbearkey could not make the guest host key (exit ${r.exitCode}).`, { detail: r.all, cause: r });
  const hostPublicKey = parseDropbearPublicKey(r.all ?? '');
  await writeFile(hostPrivateKeyPath + '.pub', hostPublicKey + '\n', { mode: 0o644 });

  return { dir, clientPrivateKey: client.private, clientPrivateKeyPath, clientPublicKey: client.public, hostPublicKey, hostPrivateKeyPath };
}

/** The "ssh-ed25519 <base64>" line of dropbearkey's output, without the comment (it names the host machine). */
export function parseDropbearPublicKey(output: string): string {
  const m = /^(ssh-ed25519) ([A-Za-z0-9+/]+={0,2})(?: |$)/m.exec(output);
  if (!m) throw new InfraError('dropbearkey printed no ed25519 public key.', { detail: output });
  return `${m[1]} ${m[2]}`;
}

/** The SSH wire-format blob of an OpenSSH public key line: what ssh2's hostVerifier receives. */
export function publicKeyBlob(line: string): Buffer {
  const blob = Buffer.from(line.trim().split(/\s+/)[1] ?? '', 'base64');
  if (blob.length === 0) throw new InfraError(`Not an OpenSSH public key line: ${JSON.stringify(line)}.`);
  return blob;
}
