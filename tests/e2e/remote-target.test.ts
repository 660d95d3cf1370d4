// The remote target for real, with a QEMU machine standing in for the lab
// host (harness/target/stand-in.ts), reached only as a real one is: its SSH
// port, its serial console through `nc 127.0.0.1 PORT`, and a power-cycle
// command. The scenarios pass through it; a panic after the first hop is a
// KernelFault with the panic line; a host that dies mid-scenario is an
// infrastructure error, and the power-cycle command brings it back; a host
// that is this machine, or lacks what the first hop needs, is refused before
// anything reboots.
import test from 'ava';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../harness/errors.ts';
import { resolveKernelRef } from '../../harness/kernel/refs.ts';
import { newRunDir } from '../../harness/liveupdate/machine-logs.ts';
import { waitForSsh } from '../../harness/guest/session.ts';
import { runCommand } from '../../harness/cli/run.ts';
import { defineScenario, runScenario } from '../../harness/scenario/scenario.ts';
import { bootFor } from '../../harness/scenario/scenarios/common.ts';
import { SCENARIOS } from '../../harness/scenario/scenarios/index.ts';
import { RemoteHost } from '../../harness/target/remote.ts';
import { remoteOptions } from '../../harness/target/remote-options.ts';
import { StandInHost } from '../../harness/target/stand-in.ts';
import type { RunResult, ScenarioResult } from '../../harness/report/result.ts';

const kernel = await resolveKernelRef('luo-7.2');
const results = mkdtempSync(join(tmpdir(), 'e2e-remote-'));
const detail = (r: ScenarioResult) => `${r.status}: ${r.reason ?? ''}\n${r.checks.map((c) => `  ${c.status} ${c.name}${c.message ? ` (${c.message})` : ''}`).join('\n')}`;

async function standIn(t: import('ava').ExecutionContext, devices?: 'edu'[]): Promise<StandInHost> {
  const host = await StandInHost.boot({ kernel, runDir: newRunDir('stand-in'), ...(devices ? { devices } : {}) });
  t.teardown(() => host.stop());
  return host;
}

/** What the host says about itself over its own SSH (its own keys): boot id and command line. */
async function ownView(host: StandInHost): Promise<{ bootId: string; cmdline: string }> {
  const ssh = await waitForSsh({ port: host.ports.ssh, keys: host.own.keys, deadlineMs: 30_000 });
  try {
    const r = await ssh.exec('cat /proc/sys/kernel/random/boot_id /proc/cmdline');
    const [bootId = '', cmdline = ''] = r.stdout.trim().split('\n');
    return { bootId, cmdline };
  } finally {
    await ssh.stop();
  }
}

const flags = (host: StandInHost, more: Record<string, string | boolean> = {}) => ({
  target: host.url,
  console: host.consoleCommand,
  'host-key': host.hostKey,
  identity: host.identityFile,
  'yes-reboot-the-target': true,
  'reboot-timeout': '120',
  ...more,
});

async function open(t: import('ava').ExecutionContext, host: StandInHost, more: Record<string, string | boolean> = {}, log: string[] = []): Promise<RemoteHost> {
  const remote = await RemoteHost.open({ ...remoteOptions(flags(host, more))!, workDir: newRunDir('remote'), log: (m) => log.push(m) });
  t.teardown(() => remote.release().catch(() => {}));
  return remote;
}

test.serial('run --target: memfd-basic, multi-session and the negative control pass on the stand-in host, iommufd-vfio uses the host\'s device, recorded as the virtual machine it says it is; the host is kexec\'d back into its own kernel', async (t) => {
  const host = await standIn(t, ['edu']);
  const before = await ownView(host);
  const out = join(results, 'cli');
  const argv = ['--suite', 'default', '--scenarios', 'memfd-basic,multi-session,iommufd-vfio,negative-control', '--out', out];
  for (const [k, v] of Object.entries(flags(host, { 'power-cycle': host.resetCommand, devices: 'vfio:0000:00:10.0' }))) argv.push(...(v === true ? [`--${k}`] : [`--${k}`, String(v)]));
  const code = await runCommand(argv);
  const result = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as RunResult;
  t.is(code, 0, result.scenarios.map(detail).join('\n'));
  // The stand-in is a QEMU machine: its CPU flags say so (and under KVM the kernel names the hypervisor), never "bare metal".
  t.regex(result.accelerator, /^virtual machine( \(KVM\))?$/);
  t.is(result.target!.platform, result.accelerator);
  t.regex(result.target!.platformEvidence!, /\/proc\/cpuinfo flags carry "hypervisor"/);
  t.like(result.target, { kind: 'remote', address: `root@127.0.0.1:${host.ports.ssh}`, hostname: 'luo-guest', kernelBefore: kernel.manifest.release, after: 'kexec' });
  t.deepEqual(result.target!.devices, [{ bdf: '0000:00:10.0', vendorDevice: '1234:11e8' }]);
  t.true(result.target!.memoryMiB > 512 && result.target!.cpus >= 1 && result.target!.cpu.length > 0);
  // The same verdicts as on the QEMU target: a stock kernel cannot preserve the device, and DMA through the host's IOMMU works before and after.
  const vfio = result.scenarios.find((s) => s.name === 'iommufd-vfio')!;
  t.is(vfio.status, 'unsupported', detail(vfio));
  const checks = new Map(vfio.checks.map((c) => [c.name, c.status]));
  t.is(checks.get('before kexec: edu DMA round trip through the vIOMMU'), 'pass', detail(vfio));
  t.is(checks.get('after kexec, over the restored memfd: edu DMA round trip through the vIOMMU'), 'pass', detail(vfio));
  t.deepEqual(vfio.capabilities?.map((c) => [c.name, c.status]), [['memfd', 'pass'], ['iommufd', 'unsupported'], ['vfio-device', 'unsupported']]);
  // The negative control: the host's test kernel booted with liveupdate=off is unsupported, never pass.
  const control = result.scenarios.find((s) => s.name === 'negative-control')!;
  t.is(control.status, 'pass', detail(control));
  t.true(control.checks.some((c) => /unsupported, not pass/.test(c.name) && c.status === 'pass'), detail(control));
  for (const s of result.scenarios.filter((x) => x !== vfio && x !== control)) {
    t.is(s.status, 'pass', detail(s));
    t.true(s.iterations.length > 0 && s.iterations.every((i) => i.blackout && i.blackout.totalMs > 100), `${s.name}: a blackout per live update`);
    t.true(s.artifacts.some((a) => /boot 1/.test(a.name)) && s.artifacts.every((a) => existsSync(join(out, a.path))), `${s.name}: per-boot console logs`);
  }
  t.true(s0FirstLine(out, result).includes('luo_harness.net=kernel'), 'the first hop carried the host\'s own address (ip=) and console');
  const after = await ownView(host);
  t.not(after.bootId, before.bootId, 'the host rebooted (the first hops, then the way back)');
  t.is(after.cmdline, before.cmdline, 'and is back on its own kernel, with its own command line');
});

/** The command line the first scenario's test kernel booted with (from its console log). */
function s0FirstLine(out: string, result: RunResult): string {
  const log = result.scenarios[0]!.artifacts.find((a) => /boot 0/.test(a.name))!;
  return readFileSync(join(out, log.path), 'utf8').split('\n').find((l) => /Command line:/.test(l)) ?? '';
}

test.serial('refused before anything reboots: a host that is this machine (same ids), one that lacks a device; then a panic after the first hop is a KernelFault with the panic line, and the host comes back', async (t) => {
  const host = await standIn(t);
  const before = await ownView(host);
  const ids = await (async () => {
    const ssh = await waitForSsh({ port: host.ports.ssh, keys: host.own.keys, deadlineMs: 30_000 });
    try {
      const [machineId, bootId] = (await ssh.exec('cat /etc/machine-id /proc/sys/kernel/random/boot_id')).stdout.trim().split('\n');
      return { machineId, bootId };
    } finally {
      await ssh.stop();
    }
  })();
  t.regex(ids.machineId ?? '', /^[0-9a-f]{32}$/, 'the stand-in has a machine id, as every host has');
  await t.throwsAsync(RemoteHost.open({ ...remoteOptions(flags(host))!, workDir: newRunDir('remote'), self: ids }), { instanceOf: ConfigError, message: /is the machine the harness runs on \(the same boot id/ });
  await t.throwsAsync(RemoteHost.open({ ...remoteOptions(flags(host, { devices: 'vfio:0000:00:1f.7' }))!, workDir: newRunDir('remote') }), { instanceOf: ConfigError, message: /cannot take the first hop, and nothing was rebooted:\n.*0000:00:1f\.7, which the host does not have/ });
  t.is((await ownView(host)).bootId, before.bootId, 'nothing rebooted');

  const log: string[] = [];
  const remote = await open(t, host, { 'power-cycle': host.resetCommand }, log);
  const panic = defineScenario({
    name: 'panic-after-first-hop',
    description: 'the test kernel panics (sysrq c) while a command runs over SSH',
    params: {},
    async run(ctx) {
      const vm = await bootFor(ctx, {});
      await ctx.check('the test kernel runs on the host', () => vm.exec('true'));
      await ctx.check('crash the kernel through sysrq', () => vm.exec('echo c > /proc/sysrq-trigger', 60_000));
    },
  });
  const r = await runScenario(panic, { kernel, target: remote, dir: join(results, 'panic'), resultsDir: results });
  t.is(r.status, 'fail', detail(r));
  t.log(r.reason, log);
  t.regex(r.reason ?? '', /The kernel crashed \(panic\) on boot 0: .*Kernel panic - not syncing: sysrq triggered crash/);
  t.true(log.some((l) => /is back on its own system/.test(l)), log.join('\n'));
  t.not((await ownView(host)).bootId, before.bootId);
});

test.serial('the host dies mid-scenario (its QEMU killed during the live update): an infrastructure error with the console tail, then the power-cycle command brings it back', async (t) => {
  const host = await standIn(t);
  const flag = join(results, 'power-cycled');
  const remote = await open(t, host, { 'power-cycle': `echo cycled >> ${flag}` });
  // The lab's power switch: the command leaves a note, and "power" comes back on (the same machine, same disk and keys).
  let restarted: Promise<void> | undefined;
  const watch = setInterval(() => {
    if (!restarted && existsSync(flag)) restarted = host.start();
  }, 100);
  t.teardown(() => clearInterval(watch));
  let killed = false;
  const r = await runScenario(SCENARIOS['memfd-basic']!, {
    kernel,
    target: remote,
    dir: join(results, 'killed'),
    resultsDir: results,
    log: (m) => {
      if (!killed && /kexec \S+ -> \S+ \(boot 0 -> 1\)/.test(m)) {
        killed = true;
        host.kill();
      }
    },
  });
  t.true(killed, 'the host was killed during the live update');
  t.is(r.status, 'error', detail(r));
  t.log(r.reason);
  // The host's end as the harness can know it: its console went away, or it stopped answering (with the console's tail).
  t.regex(r.reason ?? '', /the console command `[^`]+` (exited \(.*\)|is not running \(it exited; see above\)): the host's console is gone|The machine stopped answering \(the last lines of its console follow\)/);
  t.true(existsSync(flag), 'the power-cycle command ran');
  await restarted;
  await remote.release();
  t.like(remote.record(), { after: 'back on its own system' });
  t.truthy((await ownView(host)).bootId, 'and the host answers on its own system');
});
