// Argument parsing shared by the commands: node's parseArgs, with errors
// that name the option.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError } from '../errors.ts';

export function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, allowPositionals = true) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (cause) {
    throw new ConfigError((cause as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, ''), { cause });
  }
}
