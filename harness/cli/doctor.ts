// luo-harness doctor: what the host has and lacks, in one table.
import { statfs } from 'node:fs/promises';
import { existsSync, mkdirSync } from 'node:fs';
import { execa } from 'execa';
import { EXIT } from '../errors.ts';
import { cacheRoot } from '../paths.ts';
import { command } from './command.ts';
import { formatTable } from './table.ts';
import { chooseAccel, realAccelHost } from '../vm/accel.ts';
import { probeKvm } from '../vm/kvm-probe.ts';

interface Check {
  name: string;
  purpose: string;
  package: string;
  required: boolean;
  probe: () => Promise<string | undefined>;
}

const version = (cmd: string, args: string[], pick: RegExp = /(\d+\.\d+(?:\.\d+)?)/) => async () => {
  try {
    const r = await execa(cmd, args, { reject: false, all: true, timeout: 5000 });
    if (r.failed && r.exitCode === undefined) return undefined;
    return (r.all ?? '').match(pick)?.[1] ?? 'present';
  } catch {
    return undefined;
  }
};
const file = (path: string) => async () => (existsSync(path) ? 'present' : undefined);

const CHECKS: Check[] = [
  { name: 'node', purpose: 'runs the harness', package: 'nodejs', required: true, probe: async () => process.versions.node },
  { name: 'gcc', purpose: 'kernel build, agent', package: 'build-essential', required: true, probe: version('gcc', ['--version']) },
  { name: 'make', purpose: 'kernel build', package: 'build-essential', required: true, probe: version('make', ['--version']) },
  { name: 'bc', purpose: 'kernel build', package: 'bc', required: true, probe: version('bc', ['--version']) },
  { name: 'flex', purpose: 'kernel build', package: 'flex', required: true, probe: version('flex', ['--version']) },
  { name: 'bison', purpose: 'kernel build', package: 'bison', required: true, probe: version('bison', ['--version']) },
  { name: 'libelf', purpose: 'kernel build (objtool)', package: 'libelf-dev', required: true, probe: file('/usr/include/gelf.h') },
  { name: 'openssl headers', purpose: 'kernel build (sign-file)', package: 'libssl-dev', required: true, probe: file('/usr/include/openssl/ssl.h') },
  { name: 'patch', purpose: 'patch series', package: 'patch', required: true, probe: version('patch', ['--version']) },
  { name: 'xz', purpose: 'Debian kernel sources', package: 'xz-utils', required: true, probe: version('xz', ['--version']) },
  { name: 'dpkg-deb', purpose: 'Debian kernel sources', package: 'dpkg', required: true, probe: version('dpkg-deb', ['--version']) },
  { name: 'apt-get', purpose: 'Debian kernel sources', package: 'apt', required: true, probe: version('apt-get', ['--version']) },
  { name: 'rsync', purpose: 'make headers_install', package: 'rsync', required: true, probe: version('rsync', ['--version']) },
  { name: 'cpio', purpose: 'initramfs checks', package: 'cpio', required: true, probe: version('cpio', ['--version']) },
  { name: 'git', purpose: 'git kernel sources', package: 'git', required: false, probe: version('git', ['--version']) },
  { name: 'ccache', purpose: 'faster rebuilds', package: 'ccache', required: false, probe: version('ccache', ['--version']) },
  { name: 'qemu-system-x86_64', purpose: 'guests', package: 'qemu-system-x86', required: true, probe: version('qemu-system-x86_64', ['--version']) },
  { name: 'busybox (static)', purpose: 'guest userspace', package: 'busybox-static', required: true, probe: version('/bin/busybox', ['--help'], /BusyBox v(\S+)/) },
  { name: 'dropbear', purpose: 'guest sshd', package: 'dropbear-bin', required: true, probe: version('dropbear', ['-V'], /v(\d[\d.]*)/) },
  { name: 'kexec', purpose: 'guest kexec -s', package: 'kexec-tools', required: true, probe: version('kexec', ['--version']) },
  { name: 'ssh-keygen', purpose: 'per-run keys', package: 'openssh-client', required: true, probe: file('/usr/bin/ssh-keygen') },
  { name: 'setpriv', purpose: 'QEMU dies with the harness', package: 'util-linux', required: true, probe: version('setpriv', ['--version']) },
  { name: 'chromium', purpose: 'report screenshots', package: 'chromium', required: false, probe: version('chromium', ['--version']) },
];

const HELP = `usage: luo-harness doctor [--json]

Checks the host: the tools the harness needs (with the Debian package of each
one missing), the free disk under the cache, and the accelerator QEMU gets.

  --json                print the checks as JSON on stdout instead of the table

Exit codes: 0 every required tool is there, 3 one is missing.`;

export const doctorCommand = command({
  help: HELP,
  options: { json: { type: 'boolean' } },
  run: async ({ values }) => {
    const results = await Promise.all(CHECKS.map(async (c) => ({ ...c, found: await c.probe() })));
    const disk = await freeDisk();
    const kvm = await kvmState();
    const missing = results.filter((r) => r.required && !r.found);
    if (values.json) {
      const report = {
        tools: results.map(({ name, purpose, package: pkg, required, found }) => ({ name, purpose, package: pkg, required, found: found ?? null })),
        disk,
        accelerator: kvm,
      };
      process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    } else {
      const rows = results.map((r) => [r.name, r.found ? 'ok' : r.required ? 'MISSING' : 'absent', r.found ?? '', r.purpose, r.found ? '' : r.package]);
      rows.push(['free disk', disk.freeGiB >= 20 ? 'ok' : 'LOW', `${disk.freeGiB.toFixed(1)} GiB`, `cache ${disk.path} (a kernel build needs ~5 GiB)`, '']);
      rows.push(['accelerator', 'ok', kvm.accel, kvm.reason, '']);
      process.stdout.write(formatTable(['check', 'status', 'version', 'needed for', 'package'], rows) + '\n');
      if (missing.length) process.stdout.write(`\n${missing.length} required tool(s) missing: run scripts/setup-host.sh as root\n`);
    }
    return missing.length ? EXIT.infra : EXIT.ok;
  },
});

async function freeDisk(): Promise<{ path: string; freeGiB: number }> {
  const path = cacheRoot();
  mkdirSync(path, { recursive: true });
  const s = await statfs(path);
  return { path, freeGiB: (s.bavail * s.bsize) / 2 ** 30 };
}

async function kvmState(): Promise<{ accel: string; reason: string }> {
  return chooseAccel('auto', realAccelHost(() => probeKvm()));
}
