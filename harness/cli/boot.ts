// luo-harness boot: a guest for hands-on work or one command, then gone.
import { EXIT, ConfigError } from '../errors.ts';
import { command } from './command.ts';
import { boot } from '../liveupdate/live-vm.ts';
import { sweepStaleMachines } from '../vm/sweep.ts';
import { cacheLayout } from '../paths.ts';
import type { AccelRequest, DeviceRequest, IommuKind } from '../vm/spec.ts';
import { DEFAULT_RECIPE } from '../kernel/recipe.ts';

const HELP = `usage: luo-harness boot [options]

  --kernel RECIPE|KEY   kernel to boot (default ${DEFAULT_RECIPE})
  --devices a,b         edu, nvme, e1000e, vfio-host:<BDF>; bound to vfio-pci in the guest
  --iommu KIND          intel (default), virtio or none
  --accel MODE          auto (default: KVM only where it works), kvm or tcg
  --memory MiB          guest memory (default 1024)
  --exec CMD            run CMD over SSH, print its output, exit with its status
  --keep-logs           keep the run directory (console logs, keys) and print its path

Without --exec and on a terminal, opens a shell in the guest; the machine stops when it ends.`;

export const bootCommand = command({
  help: HELP,
  options: {
    kernel: { type: 'string' },
    devices: { type: 'string' },
    iommu: { type: 'string' },
    accel: { type: 'string' },
    memory: { type: 'string' },
    exec: { type: 'string' },
    'keep-logs': { type: 'boolean' },
  },
  run: async ({ values }) => {
    const iommu = values.iommu ?? 'intel';
    if (!['intel', 'virtio', 'none'].includes(iommu)) throw new ConfigError(`--iommu must be intel, virtio or none, not "${iommu}"`);
    const accel = values.accel ?? 'auto';
    if (!['auto', 'kvm', 'tcg'].includes(accel)) throw new ConfigError(`--accel must be auto, kvm or tcg, not "${accel}"`);
    const devices = (values.devices ?? '').split(',').map((d) => d.trim()).filter(Boolean);
    for (const d of devices) if (!/^(edu|nvme|e1000e|vfio-host:.+)$/.test(d)) throw new ConfigError(`--devices: unknown device "${d}" (edu, nvme, e1000e, vfio-host:<BDF>)`);
    const memoryMiB = values.memory ? Number(values.memory) : undefined;
    if (memoryMiB !== undefined && !(Number.isInteger(memoryMiB) && memoryMiB >= 256)) throw new ConfigError(`--memory must be a whole number of MiB, at least 256`);
    if (!values.exec && !process.stdin.isTTY) throw new ConfigError('no terminal for an interactive shell: pass --exec CMD');

    await sweepStaleMachines(cacheLayout().runs);
    const say = (m: string) => process.stderr.write(`[boot] ${m}\n`);
    const vm = await boot({
      kernel: values.kernel ?? DEFAULT_RECIPE,
      devices: devices as DeviceRequest[],
      iommu: iommu as IommuKind,
      accel: accel as AccelRequest,
      ...(memoryMiB ? { memoryMiB } : {}),
      log: say,
    });
    try {
      say(`ssh ready: ${vm.kernel.manifest.release} on ${vm.target.kind}${vm.vfio.length ? `; vfio: ${vm.vfio.map((d) => `${d.kind} ${d.bdf} ${d.cdev}`).join(', ')}` : ''}`);
      if (values.exec) {
        const r = await vm.ssh.run(values.exec, { timeoutMs: 3600_000 });
        process.stdout.write(r.stdout);
        process.stderr.write(r.stderr);
        return r.exitCode ?? EXIT.failed;
      }
      return await vm.ssh.shell();
    } finally {
      if (values['keep-logs']) {
        await vm.stop();
        say(`run directory: ${vm.runDir}`);
      } else await vm.discard();
    }
  },
});
