// The flags of a remote target (`run --target ssh://...`), shared by the
// commands that boot machines: their parse options, their help, and opening
// the host they name.
export { REMOTE_OPTIONS, remoteOptions } from '../target/remote-options.ts';
import { RemoteHost } from '../target/remote.ts';
import { DEFAULT_REBOOT_TIMEOUT_S, type RemoteOptions } from '../target/remote-options.ts';
import { newRunDir } from '../liveupdate/machine-logs.ts';


export const REMOTE_HELP = `
  Remote target (a physical host instead of QEMU; docs/remote-target.md):
  --target ssh://root@HOST[:PORT]  run every scenario on that host: each boot is a kexec into the test kernel
  --console CMD         a command whose output is the host's serial console (ipmitool ... sol activate, nc HOST PORT)
  --yes-reboot-the-target  required: the host is kexec'd and everything on it stops
  --power-cycle CMD     resets the host when it stops answering (and at the end with --after power-cycle)
  --host-key KEY|FILE   the host's SSH host key (default: from known_hosts); never trusted on first use
  --identity FILE       private key for root on the host (default: ssh-agent, else ~/.ssh/id_ed25519, id_ecdsa, id_rsa)
  --devices vfio:BDF,.. host PCI functions to bind to vfio-pci in the test kernel (never the NIC it is reached over)
  --after kexec|power-cycle  how the host gets back to its own kernel at the end (default kexec)
  --kernel-console TTY  the test kernel's serial console, e.g. ttyS1,115200n8 (default: the host's own console=)
  --net-iface NAME      the NIC's name under the test kernel (default: the host's, when it is ethN)
  --reboot-timeout S    seconds the host may take to come back from a kexec or power cycle (default ${DEFAULT_REBOOT_TIMEOUT_S})`;

/** Opens the host: logs in, checks it is not this machine, learns it, checks its console. Nothing reboots. */
export function openRemote(options: RemoteOptions, say: (m: string) => void, userCmdline: readonly string[] = []): Promise<RemoteHost> {
  return RemoteHost.open({ ...options, workDir: newRunDir('remote'), userCmdline, log: (m) => say(`[remote] ${m}`) });
}
