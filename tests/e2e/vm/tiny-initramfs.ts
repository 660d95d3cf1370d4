// A throwaway busybox initramfs for the machine e2e tests. Its init reads
// `luo_mode=` from the kernel command line and does one thing per mode, writing
// harness markers to the console.
import { execa } from 'execa';
import { chmodSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const INIT = `#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /tmp /sbin /usr/bin /usr/sbin /mnt
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
boot=0
grep -q luo_boot=1 /proc/cmdline && boot=1
mode=$(sed -n 's/.*luo_mode=\\([a-z]*\\).*/\\1/p' /proc/cmdline)
echo "LUO-HARNESS-MARK init boot=$boot" > /dev/console
case "$mode$boot" in
  pci*)
    for d in /sys/bus/pci/devices/*; do
      echo "LUO-HARNESS-MARK pci bdf=\${d##*/} id=$(sed s/0x// $d/vendor):$(sed s/0x// $d/device)" > /dev/console
    done
    mount -t 9p -o trans=virtio,ro hostshare /mnt && echo "LUO-HARNESS-MARK share content=$(cat /mnt/hello)" > /dev/console
    echo "LUO-HARNESS-MARK pci-done" > /dev/console ;;
  sysrq*) echo c > /proc/sysrq-trigger ;;
  kexec0)
    kexec -s -l /bzImage --initrd=/small.cpio --append="$(cat /proc/cmdline) luo_boot=1" || echo "kexec load failed" > /dev/console
    kexec -e ;;
  kexec1) echo c > /proc/sysrq-trigger ;;
  *) while true; do sleep 3600; done ;;
esac
sleep 5
`;

async function which(tool: string): Promise<string | undefined> {
  const result = await execa('sh', ['-c', `command -v ${tool}`], { reject: false });
  return result.exitCode === 0 ? result.stdout.trim() : undefined;
}

async function packCpio(root: string, out: string): Promise<void> {
  await execa('sh', ['-c', `find . | cpio -o -H newc --quiet > "$0"`, out], { cwd: root });
}

/** Tools the image needs, or the reason the test must skip. */
export async function missingTools(): Promise<string | undefined> {
  for (const tool of ['busybox', 'cpio', 'kexec', 'ldd']) if (!(await which(tool))) return `${tool} is not installed`;
  return undefined;
}

/** Build `<dir>/initrd.cpio`: busybox + init + kexec (with its libraries) + the kernel and a copy of the image for the kexec mode. */
export async function buildTinyInitramfs(dir: string, kernel: string): Promise<string> {
  const root = join(dir, 'root');
  mkdirSync(join(root, 'bin'), { recursive: true });
  copyFileSync((await which('busybox'))!, join(root, 'bin/busybox'));
  writeFileSync(join(root, 'init'), INIT);
  chmodSync(join(root, 'init'), 0o755);
  const kexec = (await which('kexec'))!;
  const libs = (await execa('ldd', [kexec], { reject: false })).stdout.match(/\/\S+/g) ?? [];
  for (const file of [kexec, ...libs]) {
    mkdirSync(dirname(join(root, file)), { recursive: true });
    copyFileSync(file, join(root, file));
    chmodSync(join(root, file), 0o755);
  }
  const small = join(dir, 'small.cpio');
  await packCpio(root, small);
  copyFileSync(small, join(root, 'small.cpio'));
  copyFileSync(kernel, join(root, 'bzImage'));
  const initrd = join(dir, 'initrd.cpio');
  await packCpio(root, initrd);
  return initrd;
}
