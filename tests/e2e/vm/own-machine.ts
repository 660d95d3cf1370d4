// Child process for the e2e tests: owns a Machine, reports its QEMU pid once the
// guest's init is up, then idles until it is killed.
import { Machine } from '../../../harness/vm/machine.ts';

const [kernel, initrd, runDir] = process.argv.slice(2);
const machine = await Machine.boot({ kernel: kernel!, initrd: initrd!, runDir: runDir!, cmdline: ['luo_mode=hold'], memoryMiB: 256 });
await machine.console.waitForMarker('init', { deadlineMs: 60_000 });
process.stdout.write(JSON.stringify({ qemuPid: machine.qemuPid }) + '\n');
setInterval(() => undefined, 60_000);
