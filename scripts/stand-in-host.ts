// A QEMU machine standing in for a lab host, to try `luo-harness run --target`
// without one (harness/target/stand-in.ts): boots it, prints the flags that
// reach it as a real host is reached (SSH, its serial console on a TCP port,
// its reset button for --power-cycle), and keeps it up until Ctrl-C, or for
// the seconds given.
//
// Usage: node --import tsx scripts/stand-in-host.ts [recipe=luo-7.2] [seconds]
import { resolveKernelRef } from '../harness/kernel/refs.ts';
import { newRunDir } from '../harness/liveupdate/machine-logs.ts';
import { StandInHost } from '../harness/target/stand-in.ts';
import { shellQuote } from '../harness/guest/shell-quote.ts';

const kernel = await resolveKernelRef(process.argv[2] ?? 'luo-7.2');
const seconds = process.argv[3] ? Number(process.argv[3]) : undefined;
const host = await StandInHost.boot({ kernel, runDir: newRunDir('stand-in') });
const flags = [
  '--target', host.url,
  '--console', host.consoleCommand,
  '--power-cycle', host.resetCommand,
  '--host-key', host.hostKey,
  '--identity', host.identityFile,
  '--yes-reboot-the-target',
];
process.stdout.write(`stand-in host up (QEMU pid ${host.machine.qemuPid}); run the scenarios on it with:\n  luo-harness run ${flags.map(shellQuote).join(' ')}\n`);
const stop = async () => {
  await host.stop();
  process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
if (seconds) setTimeout(stop, seconds * 1000);
else setInterval(() => {}, 1 << 30);
