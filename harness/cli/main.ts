// luo-harness: one file per command; this one only dispatches.
import { ConfigError, EXIT, describeError, exitCodeOf } from '../errors.ts';
import type { Command } from './command.ts';

export const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  kernel: { summary: 'build, list, show, export or fetch LUO kernels', load: async () => (await import('./kernel.ts')).kernelCommand },
  report: { summary: 'render report.html from results, compare two runs, merge shards', load: async () => (await import('./report.ts')).reportCommand },
  baseline: { summary: 'save a baseline, or gate a run against one (exit 1 on regression)', load: async () => (await import('./baseline.ts')).baselineCommand },
  boot: { summary: 'boot a kernel in QEMU with devices and run a command (or a shell) over SSH', load: async () => (await import('./boot.ts')).bootCommand },
  run: { summary: 'run a suite of live-update scenarios (default: the default suite on luo-7.2)', load: async () => (await import('./run.ts')).runCommand },
  fuzz: { summary: 'model-based fuzzing of the LUO uAPI across kexec; --replay a finding', load: async () => (await import('./fuzz.ts')).fuzzCommand },
  kselftest: { summary: "run the kernel's own Live Update selftests, staged around kexec (--matrix for kernel pairs)", load: async () => (await import('./kselftest.ts')).kselftestCommand },
  bisect: { summary: 'find the patch of a series after which a scenario or selftest stops passing (--each: every prefix)', load: async () => (await import('./bisect.ts')).bisectCommand },
  doctor: { summary: 'check the host: tools, versions, disk, accelerator', load: async () => (await import('./doctor.ts')).doctorCommand },
};

export function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return [
    'usage: luo-harness <command> [options]',
    '',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `luo-harness <command> --help` for the options of a command.',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name ? EXIT.ok : EXIT.badInput;
  }
  const command = COMMANDS[name];
  try {
    if (!command) throw new ConfigError(`unknown command "${name}"\n\n${usage()}`);
    return await (await command.load())(rest);
  } catch (error) {
    process.stderr.write(`luo-harness ${name}: ${describeError(error)}\n`);
    return exitCodeOf(error);
  }
}
