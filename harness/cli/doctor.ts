// luo-harness doctor: what the host has and lacks, in one table.
import { statfs } from 'node:fs/promises';
import { existsSync, mkdirSync } from 'node:fs';
import { execa } from 'execa';
import { EXIT } from '../errors.ts';
import { cacheRoot } from '../paths.ts';
import { command } from './command.ts';
import { formatTable } from './table.ts';
import { chooseAccel, realAccelHost, type AccelChoice } from '../vm/accel.ts';
import { probeKvm } from '../vm/kvm-probe.ts';

export interface Check {
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
  { name: 'lz4', purpose: 'kernel build (an LZ4 bzImage)', package: 'lz4', required: true, probe: version('lz4', ['--version'], /v(\d+\.\d+(?:\.\d+)?)/) },
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
  { name: 'lcov', purpose: '--coverage reports (geninfo, genhtml)', package: 'lcov', required: false, probe: version('lcov', ['--version'], /version (\S+)/) },
];

const HELP = `usage: luo-harness doctor [--json]

Checks the host: the tools the harness needs (with the Debian package of each
one missing), the free disk under the cache, and the accelerator QEMU gets.

  --json                print the checks as JSON on stdout instead of the table

Exit codes: 0 every required tool is there, 3 one is missing.`;

/** One row of the table, its status decided by what its check found (never fixed). */
export interface DoctorRow {
  check: string;
  status: 'ok' | 'MISSING' | 'absent' | 'LOW' | 'TCG only';
  found: string;
  detail: string;
  package: string;
}

/** A kernel build needs ~5 GiB; the test suite's six kernels, their shared trees and ccache about 20. */
export const DISK_WANTED_GIB = 20;

export function doctorRows(tools: (Check & { found: string | undefined })[], disk: { path: string; freeGiB: number }, accel: AccelChoice): DoctorRow[] {
  return [
    ...tools.map((t): DoctorRow => ({ check: t.name, status: t.found ? 'ok' : t.required ? 'MISSING' : 'absent', found: t.found ?? '', detail: t.purpose, package: t.found ? '' : t.package })),
    { check: 'free disk', status: disk.freeGiB >= DISK_WANTED_GIB ? 'ok' : 'LOW', found: `${disk.freeGiB.toFixed(1)} GiB`, detail: `cache ${disk.path} (a kernel build needs ~5 GiB, the test suite ~${DISK_WANTED_GIB})`, package: '' },
    // TCG works, slowly: the harness runs, but it is not what a KVM host would give.
    { check: 'accelerator', status: accel.accel === 'kvm' ? 'ok' : 'TCG only', found: accel.accel, detail: accel.reason, package: '' },
  ];
}

export const doctorCommand = command({
  help: HELP,
  options: { json: { type: 'boolean' } },
  run: async ({ values }) => {
    const tools = await Promise.all(CHECKS.map(async (c) => ({ ...c, found: await c.probe() })));
    const rows = doctorRows(tools, await freeDisk(), await chooseAccel('auto', realAccelHost(() => probeKvm())));
    const missing = rows.filter((r) => r.status === 'MISSING');
    if (values.json) process.stdout.write(JSON.stringify({ checks: rows }, null, 2) + '\n');
    else {
      process.stdout.write(formatTable(['check', 'status', 'found', 'needed for', 'package'], rows.map((r) => [r.check, r.status, r.found, r.detail, r.package])) + '\n');
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
