// A QEMU machine that stands in for a lab host, for the remote target's tests
// and benchmarks. Its "own system" is a harness kernel and initramfs with its
// own keys and machine id; its serial console is a loopback TCP server (read
// with `nc 127.0.0.1 PORT`, as a console server is read), a QEMU monitor on
// another is its power button, its own kernel and initrd are in /boot (for the
// way back), and a reboot resets it as a real host's does. The remote target
// reaches it only as it reaches a real host: over SSH and through the console
// command. Not used by the remote target itself.
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { artifactPath, type KernelArtifact } from '../kernel/artifact.ts';
import { agentBinaryFor } from '../image/agent-binary.ts';
import { buildGuestImage } from '../image/build.ts';
import { prepareRunInitrd, type RunInitrd } from '../image/run-initrd.ts';
import { waitForSsh } from '../guest/session.ts';
import { Machine } from '../vm/machine.ts';
import { freeLoopbackPort } from '../vm/ports.ts';
import type { DeviceRequest, IommuKind } from '../vm/spec.ts';

export interface StandInOptions {
  kernel: KernelArtifact;
  /** Its files: keys, initrd, /boot, console logs. */
  runDir: string;
  devices?: DeviceRequest[];
  iommu?: IommuKind;
  memoryMiB?: number;
}

/** `nc`, or busybox's where no nc is installed (the harness's host packages include busybox-static). */
async function netcat(): Promise<string> {
  const r = await execa('sh', ['-c', 'command -v nc'], { reject: false });
  return r.exitCode === 0 ? 'nc' : 'busybox nc';
}

export class StandInHost implements AsyncDisposable {
  #machine: Machine | undefined;
  readonly #nc: string;

  private constructor(
    readonly options: StandInOptions,
    readonly ports: { ssh: number; console: number; monitor: number },
    readonly own: RunInitrd,
    nc: string,
  ) {
    this.#nc = nc;
  }

  /** Boots it and waits until its sshd answers with /boot mounted. */
  static async boot(options: StandInOptions): Promise<StandInHost> {
    await mkdir(join(options.runDir, 'boot'), { recursive: true });
    const image = await buildGuestImage({ agentBinary: await agentBinaryFor(options.kernel) });
    const own = await prepareRunInitrd(image, options.runDir);
    const release = options.kernel.manifest.release;
    await copyFile(artifactPath(options.kernel, 'bzImage'), join(options.runDir, 'boot', `vmlinuz-${release}`));
    await copyFile(own.initrd, join(options.runDir, 'boot', `initrd.img-${release}`));
    const ports = { ssh: await freeLoopbackPort(), console: await freeLoopbackPort(), monitor: await freeLoopbackPort() };
    const host = new StandInHost(options, ports, own, await netcat());
    await host.start();
    return host;
  }

  /** Powers it on (again): the same ports and the same initrd, so the same host key and login. */
  async start(deadlineMs = 120_000): Promise<void> {
    await this.#machine?.stop();
    const o = this.options;
    const machine = new Machine(
      {
        kernel: artifactPath(o.kernel, 'bzImage'),
        initrd: this.own.initrd,
        cmdline: ['liveupdate=on', 'luo_harness.share=boot:/boot'],
        runDir: join(o.runDir, 'qemu'),
        shares: [{ hostPath: join(o.runDir, 'boot'), tag: 'boot' }],
        serialTcpPort: this.ports.console,
        monitorTcpPort: this.ports.monitor,
        rebootResets: true,
        ...(o.devices ? { devices: o.devices } : {}),
        ...(o.iommu ? { iommu: o.iommu } : {}),
        ...(o.memoryMiB ? { memoryMiB: o.memoryMiB } : {}),
      },
      { pickPort: async () => this.ports.ssh },
    );
    this.#machine = machine;
    await machine.start();
    const ssh = await waitForSsh({ port: this.ports.ssh, keys: this.own.keys, deadlineMs });
    try {
      await ssh.exec(`n=0; until test -r /boot/vmlinuz-${o.kernel.manifest.release} || [ $n -ge 100 ]; do sleep 0.1; n=$((n+1)); done; test -r /boot/vmlinuz-${o.kernel.manifest.release}`);
    } finally {
      await ssh.stop();
    }
  }

  get machine(): Machine {
    return this.#machine!;
  }

  /** Its address as a remote target. */
  get url(): string {
    return `ssh://root@127.0.0.1:${this.ports.ssh}`;
  }

  /** Its serial console, as a console server's is read. */
  get consoleCommand(): string {
    return `${this.#nc} 127.0.0.1 ${this.ports.console}`;
  }

  /** Its reset button. busybox's nc, which ends when its input does (OpenBSD's would wait for QEMU to hang up). */
  get resetCommand(): string {
    return `echo system_reset | busybox nc 127.0.0.1 ${this.ports.monitor}`;
  }

  /** The login key a lab user would have (`--identity`). */
  get identityFile(): string {
    return this.own.keys.clientPrivateKeyPath;
  }

  /** Its own host key, as known_hosts would pin it (`--host-key`). */
  get hostKey(): string {
    return this.own.keys.hostPublicKey;
  }

  /** Pulls the plug: SIGKILL to its QEMU. */
  kill(): void {
    process.kill(this.machine.qemuPid, 'SIGKILL');
  }

  /** Powers it off for good and removes its files (keys, /boot copies). */
  async stop(): Promise<void> {
    await this.#machine?.stop();
    await rm(this.options.runDir, { recursive: true, force: true });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
