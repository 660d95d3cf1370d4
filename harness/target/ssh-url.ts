// `--target ssh://user@host[:port]`: where a remote target is reached.
import { ConfigError } from '../errors.ts';

export interface SshUrl {
  user: string;
  /** A name or an address; IPv6 without its brackets. */
  host: string;
  port: number;
  /** `root@lab-host` or `root@lab-host:2222`: for messages and results. */
  label: string;
}

export function parseSshUrl(text: string): SshUrl {
  const bad = (why: string) => new ConfigError(`--target ${JSON.stringify(text)} ${why}; write it as ssh://root@lab-host or ssh://root@lab-host:2222.`);
  const m = /^ssh:\/\/([^@/?#\s]+)@(\[[0-9A-Fa-f:.]+\]|[^:/?#\s[\]]+)(?::(\d+))?\/?$/.exec(text);
  if (!m) throw bad(text.startsWith('ssh://') ? 'is not user@host[:port]' : 'is not an ssh:// URL');
  const user = decodeURIComponent(m[1]!);
  const host = m[2]!.startsWith('[') ? m[2]!.slice(1, -1) : m[2]!;
  const port = m[3] === undefined ? 22 : Number(m[3]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad(`has port ${m[3]}, outside 1-65535`);
  if (!/^[A-Za-z0-9._-]+$/.test(user)) throw bad(`has user ${JSON.stringify(user)}`);
  const shown = host.includes(':') ? `[${host}]` : host;
  return { user, host, port, label: `${user}@${shown}${port === 22 ? '' : `:${port}`}` };
}
