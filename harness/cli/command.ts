// One shape for every command and subcommand: its help and its options,
// declared once. `--help`/`-h` is answered here, before the command runs,
// with exit 0, so no command handles it itself and none can forget it.
import type { ParseArgsConfig } from 'node:util';
import { ConfigError, EXIT } from '../errors.ts';
import { parse } from './args.ts';

type Options = NonNullable<ParseArgsConfig['options']>;
export type Out = (line: string) => void;

const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;
type Parsed<O extends Options> = ReturnType<typeof parse<O & typeof HELP_OPTION>>;

export const print: Out = (line) => process.stdout.write(line + '\n');

/** What a command is made of, kept on it so the tests can hold its help against its options. */
export interface Command {
  (args: string[], out?: Out): Promise<number>;
  readonly help: string;
  readonly options: Options;
  readonly subs?: Readonly<Record<string, Command>>;
}

export interface CommandSpec<O extends Options> {
  help: string;
  options: O;
  /** Whether it takes arguments besides options (default: no). */
  positionals?: boolean;
  run: (parsed: Parsed<O>, out: Out) => Promise<number>;
}

export function command<const O extends Options>(spec: CommandSpec<O>): Command {
  const run = async (args: string[], out: Out = print) => {
    const parsed = parse(args, { ...spec.options, ...HELP_OPTION }, spec.positionals ?? false);
    if ((parsed.values as { help?: boolean }).help) {
      out(spec.help);
      return EXIT.ok;
    }
    return spec.run(parsed, out);
  };
  return Object.assign(run, { help: spec.help, options: spec.options });
}

export interface SubcommandsSpec {
  /** `kernel`, `baseline`: how an unknown subcommand is named in the error. */
  name: string;
  help: string;
  subs: Record<string, Command>;
  /** What runs when the first argument is no subcommand (report DIR); without it that is an error. */
  otherwise?: Command;
}

export function subcommands(spec: SubcommandsSpec): Command {
  const run = async (args: string[], out: Out = print) => {
    const [sub, ...rest] = args;
    if (sub === '--help' || sub === '-h') {
      out(spec.help);
      return EXIT.ok;
    }
    if (sub !== undefined && Object.hasOwn(spec.subs, sub)) return spec.subs[sub]!(rest, out);
    if (spec.otherwise) return spec.otherwise(args, out);
    if (sub === undefined) {
      out(spec.help);
      return EXIT.badInput;
    }
    throw new ConfigError(`unknown subcommand "${spec.name} ${sub}"\n\n${spec.help}`);
  };
  return Object.assign(run, { help: spec.help, options: spec.otherwise?.options ?? {}, subs: spec.subs });
}
