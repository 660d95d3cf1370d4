// The remote target's flags, checked before anything connects: where the
// host is, how its console is read, how it is power-cycled, which key it must
// show, which key the harness logs in with, which devices it lends, and the
// explicit consent to reboot it.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { ConfigError } from '../errors.ts';
import { hostKeysFromFlag, knownHostsPin, type PinnedHostKeys } from './host-keys.ts';
import { parseSshUrl, type SshUrl } from './ssh-url.ts';

/** The flags, as the commands' option parser takes them. */
export const REMOTE_OPTIONS = {
  target: { type: 'string' },
  console: { type: 'string' },
  'power-cycle': { type: 'string' },
  'host-key': { type: 'string' },
  identity: { type: 'string' },
  'yes-reboot-the-target': { type: 'boolean' },
  devices: { type: 'string' },
  after: { type: 'string' },
  'kernel-console': { type: 'string' },
  'net-iface': { type: 'string' },
  'reboot-timeout': { type: 'string' },
} as const;

type RemoteFlag = keyof typeof REMOTE_OPTIONS;
export type RemoteFlags = { [F in RemoteFlag]?: (typeof REMOTE_OPTIONS)[F]['type'] extends 'boolean' ? boolean | undefined : string | undefined };

export type AfterRun = 'kexec' | 'power-cycle';

export interface RemoteOptions {
  url: SshUrl;
  console: string;
  powerCycle: string | undefined;
  hostKeys: PinnedHostKeys;
  /** How the harness logs in to the host's own sshd. */
  login: { privateKey?: string; agent?: string; source: string };
  /** PCI functions to bind to vfio-pci in the test kernel. */
  devices: string[];
  after: AfterRun;
  kernelConsole: string | undefined;
  netIface: string | undefined;
  /** How long the host may take to come back from a reboot, a kexec or a power cycle. */
  rebootTimeoutMs: number;
}

export const DEFAULT_REBOOT_TIMEOUT_S = 600;

const BDF = /^(?:([0-9a-f]{4}):)?([0-9a-f]{2}):([01][0-9a-f])\.([0-7])$/;

/** `vfio:0000:3b:00.0,vfio:3b:00.1` -> normalised BDFs. */
export function parseRemoteDevices(text: string): string[] {
  const out: string[] = [];
  for (const item of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^vfio:(.+)$/.exec(item);
    const bdf = m?.[1]!.toLowerCase();
    const parts = bdf ? BDF.exec(bdf) : null;
    if (!parts) throw new ConfigError(`--devices takes host PCI functions as vfio:<domain:bus:slot.function> (e.g. vfio:0000:3b:00.0), got ${JSON.stringify(item)}.`);
    const full = `${parts[1] ?? '0000'}:${parts[2]}:${parts[3]}.${parts[4]}`;
    if (out.includes(full)) throw new ConfigError(`--devices names ${full} twice.`);
    out.push(full);
  }
  return out;
}

type Io = { read: (path: string) => string; exists: (path: string) => boolean };
const realIo: Io = { read: (p) => readFileSync(p, 'utf8'), exists: existsSync };

/** A private key ssh2 can use without asking anyone for a passphrase. */
function checkedKey(text: string, where: string): string {
  const parsed = ssh2.utils.parseKey(text);
  if (!(parsed instanceof Error) && !parsed.isPrivateKey()) throw new ConfigError(`${where} is a public key; give the private key (the file without .pub).`);
  if (parsed instanceof Error) {
    const encrypted = /encrypted|passphrase/i.test(parsed.message);
    throw new ConfigError(
      encrypted
        ? `${where} is encrypted; load it into ssh-agent (ssh-add) and leave out --identity, so the harness signs through SSH_AUTH_SOCK.`
        : `${where} is not a private key ssh2 can read (${parsed.message}).`,
    );
  }
  return text;
}

/** How to log in: --identity, else the ssh-agent, else the first of ~/.ssh/id_ed25519, id_ecdsa, id_rsa. */
export function resolveLogin(identity: string | undefined, env: NodeJS.ProcessEnv, io: Io = realIo, home = homedir()): RemoteOptions['login'] {
  if (identity) {
    let text: string;
    try {
      text = io.read(identity);
    } catch (cause) {
      throw new ConfigError(`--identity ${identity} cannot be read.`, { cause });
    }
    return { privateKey: checkedKey(text, `--identity ${identity}`), source: identity };
  }
  if (env.SSH_AUTH_SOCK) return { agent: env.SSH_AUTH_SOCK, source: 'ssh-agent' };
  for (const name of ['id_ed25519', 'id_ecdsa', 'id_rsa']) {
    const path = join(home, '.ssh', name);
    if (io.exists(path)) return { privateKey: checkedKey(io.read(path), path), source: path };
  }
  throw new ConfigError('No key to log in to the host with: pass --identity FILE, run an ssh-agent (SSH_AUTH_SOCK), or create ~/.ssh/id_ed25519 and install its public key in root\'s authorized_keys there.');
}

/** The flags that only mean something with --target. */
const REMOTE_ONLY = (Object.keys(REMOTE_OPTIONS) as RemoteFlag[]).filter((f) => f !== 'target');

/** The remote target the flags ask for, or undefined for QEMU; a ConfigError for anything wrong or missing. */
export function remoteOptions(flags: RemoteFlags, env: NodeJS.ProcessEnv = process.env, io: Io = realIo, home = homedir()): RemoteOptions | undefined {
  if (!flags.target) {
    const stray = REMOTE_ONLY.filter((f) => flags[f] !== undefined);
    if (stray.length) throw new ConfigError(`${stray.map((f) => `--${f}`).join(', ')} only go with --target ssh://user@host.`);
    return undefined;
  }
  const url = parseSshUrl(flags.target);
  if (!flags.console?.trim()) {
    throw new ConfigError(`--target needs --console CMD: a command whose output is ${url.host}'s serial console (\`ipmitool -I lanplus -H bmc -U u -P p sol activate\`, \`nc console-server 7001\`).`);
  }
  if (!flags['yes-reboot-the-target']) {
    throw new ConfigError(
      `--target ${flags.target} kexecs ${url.host} into the test kernel: everything running there stops, and the host is brought back only at the end (--after). Pass --yes-reboot-the-target to say that is meant.`,
    );
  }
  const after = (flags.after ?? 'kexec') as AfterRun;
  if (after !== 'kexec' && after !== 'power-cycle') throw new ConfigError(`--after must be kexec (back into the host's own kernel) or power-cycle, not ${JSON.stringify(flags.after)}.`);
  if (after === 'power-cycle' && !flags['power-cycle']) throw new ConfigError('--after power-cycle needs --power-cycle CMD, the command that power-cycles the host.');
  const timeoutS = flags['reboot-timeout'] === undefined ? DEFAULT_REBOOT_TIMEOUT_S : Number(flags['reboot-timeout']);
  if (!Number.isInteger(timeoutS) || timeoutS < 10) throw new ConfigError(`--reboot-timeout is a whole number of seconds, at least 10, not ${JSON.stringify(flags['reboot-timeout'])}.`);
  const kernelConsole = flags['kernel-console'];
  if (kernelConsole !== undefined && !/^(?:console=)?[A-Za-z]+\d+(?:,[0-9]+[noe]?[5-8]?r?)?$/.test(kernelConsole)) {
    throw new ConfigError(`--kernel-console takes a serial console as the kernel writes it (ttyS1,115200n8), not ${JSON.stringify(kernelConsole)}.`);
  }
  const netIface = flags['net-iface'];
  if (netIface !== undefined && !/^[A-Za-z0-9_.-]{1,15}$/.test(netIface)) throw new ConfigError(`--net-iface takes an interface name (eth0), not ${JSON.stringify(netIface)}.`);
  return {
    url,
    console: flags.console,
    powerCycle: flags['power-cycle'],
    hostKeys: flags['host-key'] ? hostKeysFromFlag(flags['host-key'], url.host, url.port, io.read) : knownHostsPin(url.host, url.port, undefined, io.read),
    login: resolveLogin(flags.identity, env, io, home),
    devices: flags.devices ? parseRemoteDevices(flags.devices) : [],
    after,
    kernelConsole: kernelConsole?.replace(/^console=/, ''),
    netIface,
    rebootTimeoutMs: timeoutS * 1000,
  };
}
