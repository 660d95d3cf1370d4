// A setup kexec of a remote host into a kernel and initrd: upload both over
// SSH, load them with kexec_file_load (`kexec -s -l`, which fails before
// anything reboots when the host cannot take them), then reboot into them in
// the background so the SSH command returns first. Used for the first hop
// into a test kernel, for every later scenario's fresh boot, and to take the
// host back to its own kernel. Not a measured live update: the harness's own
// agent is stopped first, so no session is carried over.
import { basename } from 'node:path';
import { ConfigError } from '../errors.ts';
import type { GuestSession } from '../guest/session.ts';
import { shellQuote } from '../guest/shell-quote.ts';

/** Where the hop's files go on the host (tmpfs on the harness's initramfs; small files on a real disk). */
export const HOP_DIR = '/tmp/luo-harness-hop';

export interface HopPlan {
  /** Local paths. */
  kernel: string;
  initrd: string | undefined;
  cmdline: string;
  /** The host runs systemd: `systemctl kexec` shuts it down cleanly first. */
  systemd: boolean;
}

/** Stop the harness's agent (its sessions close with it), then load the kernel; prints kexec's own error on failure. */
export function loadScript(kernel: string, initrd: string | undefined, cmdline: string): string {
  return [
    'for p in $(pidof luo-agent 2>/dev/null); do kill "$p" 2>/dev/null; done',
    'n=0; while pidof luo-agent >/dev/null 2>&1 && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done',
    `kexec -s -l ${shellQuote(kernel)}${initrd ? ` --initrd=${shellQuote(initrd)}` : ''} --command-line=${shellQuote(cmdline)}`,
  ].join('\n');
}

/** Reboot into the loaded kernel after this SSH command has returned, detached from the session. */
export function execScript(systemd: boolean): string {
  const reboot = systemd ? 'systemctl kexec || kexec -e' : 'kexec -e';
  return `setsid sh -c ${shellQuote(`sleep 0.5; sync; ${reboot}`)} </dev/null >/dev/null 2>&1 &`;
}

/** Uploads and loads; a refusal is a ConfigError with kexec's words (nothing rebooted). */
export async function loadKernel(ssh: GuestSession, plan: HopPlan, where: string, lockdown: string | undefined): Promise<void> {
  const kernel = `${HOP_DIR}/kernel`;
  const initrd = plan.initrd ? `${HOP_DIR}/initrd` : undefined;
  await ssh.exec(`rm -rf ${HOP_DIR} && mkdir -p ${HOP_DIR}`);
  await ssh.upload(plan.kernel, kernel);
  if (plan.initrd) await ssh.upload(plan.initrd, initrd!);
  const r = await ssh.run(loadScript(kernel, initrd, plan.cmdline), { timeoutMs: 120_000 });
  if (r.exitCode !== 0) {
    const locked = lockdown && !/\[none\]/.test(lockdown) ? ` The host's kernel is locked down (${lockdown}): it loads only kernels signed for its keyring.` : '';
    throw new ConfigError(`${where} refused to load ${basename(plan.kernel)} with kexec_file_load (kexec -s exited ${r.exitCode}), and nothing was rebooted.${locked}`, {
      detail: (r.stderr || r.stdout).trim(),
    });
  }
}

/** Issues the reboot into the loaded kernel; returns at once (the host goes down half a second later). */
export async function execLoaded(ssh: GuestSession, systemd: boolean): Promise<void> {
  await ssh.exec(execScript(systemd), { timeoutMs: 15_000 });
}
