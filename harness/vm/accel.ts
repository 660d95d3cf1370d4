// Choosing the accelerator. `/dev/kvm` existing is not enough: on some hosts it is
// served by kvm_pvm (a paravirtual KVM for running inside a cloud VM), which fails on
// ordinary kernels with "KVM internal error ... emulation failure" and then leaves
// the guest paused forever. So `auto` picks KVM only when a hardware KVM vendor
// module is loaded, kvm_pvm is not, and a tiny probe guest actually runs.
import { accessSync, constants, readFileSync, readdirSync } from 'node:fs';
import { probeKvm } from './kvm-probe.ts';
import type { Accel, AccelRequest } from './spec.ts';

export interface AccelChoice {
  accel: Accel;
  /** Why, in a sentence for the result record and the log. */
  reason: string;
}

/** Host facts the decision reads; injected so the logic is testable with recorded text. */
export interface AccelHost {
  /** Whether /dev/kvm exists and is readable and writable by us. */
  kvmDeviceUsable(): boolean;
  /** Text of /proc/modules, or undefined if absent (containers often lack it). */
  procModules(): string | undefined;
  /** Entries of /sys/module (built-in modules with parameters show up here too), or undefined. */
  sysModules(): string[] | undefined;
  /** Runs a tiny guest under KVM with a short deadline; resolves to a failure reason or undefined on success. */
  probe?(): Promise<string | undefined>;
}

const VENDOR_MODULES = ['kvm_intel', 'kvm_amd'];
const BROKEN_MODULES = ['kvm_pvm'];

/** Module names from /proc/modules text (first column) and /sys/module entries. */
export function loadedModules(procModules: string | undefined, sysModules: readonly string[] | undefined): Set<string> {
  const names = new Set<string>(sysModules ?? []);
  for (const line of (procModules ?? '').split('\n')) {
    const name = line.split(' ', 1)[0]?.trim();
    if (name) names.add(name);
  }
  return names;
}

/** Decide the accelerator. `kvm` and `tcg` are obeyed as asked; `auto` is decided as described above. */
export async function chooseAccel(request: AccelRequest, host: AccelHost): Promise<AccelChoice> {
  if (request !== 'auto') return { accel: request, reason: `${request} was requested` };
  if (!host.kvmDeviceUsable()) return { accel: 'tcg', reason: '/dev/kvm is missing or not accessible' };
  const modules = loadedModules(host.procModules(), host.sysModules());
  const broken = BROKEN_MODULES.find((name) => modules.has(name));
  if (broken) {
    return {
      accel: 'tcg',
      reason: `/dev/kvm is served by ${broken}, which cannot run ordinary kernels ("KVM internal error ... emulation failure")`,
    };
  }
  const vendor = VENDOR_MODULES.find((name) => modules.has(name));
  if (!vendor) return { accel: 'tcg', reason: 'neither kvm_intel nor kvm_amd is loaded' };
  const failure = host.probe ? await host.probe() : undefined;
  if (failure !== undefined) return { accel: 'tcg', reason: `a KVM probe guest failed: ${failure}` };
  return { accel: 'kvm', reason: `${vendor} is loaded and a probe guest ran under KVM` };
}

/** The real host, with `probe` supplied by the caller (see kvm-probe.ts). */
export function realAccelHost(probe?: () => Promise<string | undefined>): AccelHost {
  const host: AccelHost = {
    kvmDeviceUsable() {
      try {
        accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
        return true;
      } catch {
        return false;
      }
    },
    procModules() {
      try {
        return readFileSync('/proc/modules', 'utf8');
      } catch {
        return undefined;
      }
    },
    sysModules() {
      try {
        return readdirSync('/sys/module');
      } catch {
        return undefined;
      }
    },
  };
  if (probe) host.probe = probe;
  return host;
}

const detected = new Map<string, Promise<AccelChoice>>();

/** `chooseAccel` on the real host with the KVM probe guest; the answer is cached per process. */
export function detectAccelerator(request: AccelRequest = 'auto', qemuBinary = 'qemu-system-x86_64'): Promise<AccelChoice> {
  const key = `${request}\0${qemuBinary}`;
  let choice = detected.get(key);
  if (!choice) {
    choice = chooseAccel(request, realAccelHost(() => probeKvm(qemuBinary)));
    detected.set(key, choice);
  }
  return choice;
}
