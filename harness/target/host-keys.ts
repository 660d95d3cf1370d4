// The remote host's SSH host key, pinned before anything connects: from
// --host-key (a key line, or a file of them) or from the user's known_hosts
// (plain or hashed names, wildcard patterns, [host]:port for other ports,
// @revoked keys left out). Never trust on first use: a machine about to be
// kexec'd must be the one meant.
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../errors.ts';

export interface PinnedHostKeys {
  /** "ssh-ed25519 AAAA..." lines (type and key, no comment). */
  keys: string[];
  /** Where they came from, for messages. */
  source: string;
}

const KEY_TYPE = /^(?:ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521))$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** `host` as known_hosts writes it for `port`. */
const hostToken = (host: string, port: number) => (port === 22 ? host : `[${host}]:${port}`);

/** OpenSSH's pattern language: `*`, `?`, nothing else special. */
function globMatch(pattern: string, text: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  return re.test(text);
}

function hashedMatch(entry: string, token: string): boolean {
  const [, magic, salt, hash] = entry.split('|');
  if (magic !== '1' || !salt || !hash) return false;
  return createHmac('sha1', Buffer.from(salt, 'base64')).update(token).digest('base64') === hash;
}

/** Whether a known_hosts name field (comma-separated patterns, `!` negations, or one hashed name) names `token`. */
export function namesHost(field: string, token: string): boolean {
  if (field.startsWith('|')) return hashedMatch(field, token);
  let matched = false;
  for (const p of field.split(',')) {
    if (p.startsWith('!')) {
      if (globMatch(p.slice(1), token)) return false;
    } else if (globMatch(p, token)) matched = true;
  }
  return matched;
}

/** The keys a known_hosts text pins for host:port (revoked ones left out). */
export function knownHostKeys(text: string, host: string, port: number): string[] {
  const token = hostToken(host, port);
  const keys: string[] = [];
  const revoked = new Set<string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    let fields = line.split(/\s+/);
    let marker: string | undefined;
    if (fields[0]!.startsWith('@')) [marker, ...fields] = fields;
    const [names, type, key] = fields;
    if (!names || !type || !key || !KEY_TYPE.test(type) || !BASE64.test(key)) continue;
    if (!namesHost(names, token)) continue;
    if (marker === '@revoked') revoked.add(`${type} ${key}`);
    else if (marker === undefined) keys.push(`${type} ${key}`);
  }
  return [...new Set(keys.filter((k) => !revoked.has(k)))];
}

/** `--host-key`: a key line itself, or a file of key lines (a .pub file, `ssh-keyscan` output, a known_hosts excerpt). */
export function hostKeysFromFlag(value: string, host: string, port: number, read: (path: string) => string = (p) => readFileSync(p, 'utf8')): PinnedHostKeys {
  const direct = keyLine(value);
  if (direct) return { keys: [direct], source: '--host-key' };
  let text: string;
  try {
    text = read(value);
  } catch (cause) {
    throw new ConfigError(`--host-key ${JSON.stringify(value)} is neither a key ("ssh-ed25519 AAAA...") nor a readable file.`, { cause });
  }
  const keys = [...new Set(text.split('\n').map(keyLine).filter((k): k is string => k !== undefined))];
  const all = keys.length ? keys : knownHostKeys(text, host, port);
  if (!all.length) throw new ConfigError(`--host-key file ${value} holds no host key for ${hostToken(host, port)}; put the host's public key line ("ssh-ed25519 AAAA...") in it.`);
  return { keys: all, source: `--host-key ${value}` };
}

function keyLine(text: string): string | undefined {
  const [type, key] = text.trim().split(/\s+/);
  return type && key && KEY_TYPE.test(type) && BASE64.test(key) ? `${type} ${key}` : undefined;
}

/** The keys the user's known_hosts files pin for host:port; a ConfigError that says how to pin one when there are none. */
export function knownHostsPin(host: string, port: number, files = [join(homedir(), '.ssh', 'known_hosts'), '/etc/ssh/ssh_known_hosts'], read: (path: string) => string = (p) => readFileSync(p, 'utf8')): PinnedHostKeys {
  for (const file of files) {
    let text: string;
    try {
      text = read(file);
    } catch {
      continue;
    }
    const keys = knownHostKeys(text, host, port);
    if (keys.length) return { keys, source: file };
  }
  throw new ConfigError(
    `No host key is pinned for ${hostToken(host, port)} (looked in ${files.join(', ')}). Pass --host-key 'ssh-ed25519 AAAA...' ` +
      `(the host's /etc/ssh/ssh_host_ed25519_key.pub, read on its console), or add it to known_hosts once you have checked its fingerprint.`,
  );
}
