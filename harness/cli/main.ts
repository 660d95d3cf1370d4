// luo-harness: one file per command; this one only dispatches.
import { ConfigError, EXIT, describeError, exitCodeOf } from '../errors.ts';

type Command = (args: string[]) => Promise<number>;

const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  kernel: { summary: 'build, list, show, export or fetch LUO kernels', load: async () => (await import('./kernel.ts')).kernelCommand },
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
