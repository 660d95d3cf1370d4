// Symbol addresses from a kernel's System.map (every symbol, static data
// too, where /proc/kallsyms holds only what CONFIG_KALLSYMS_ALL lets in).
import { readFile } from 'node:fs/promises';

/** The addresses of `names` in System.map text; throws naming the ones it lacks. */
export function symbolsOf(text: string, names: readonly string[], file = 'System.map'): Map<string, bigint> {
  const wanted = new Set(names);
  const found = new Map<string, bigint>();
  for (const line of text.split('\n')) {
    const [address, , name] = line.split(' ');
    if (name && wanted.has(name) && !found.has(name)) found.set(name, BigInt(`0x${address}`));
  }
  const lacking = names.filter((n) => !found.has(n));
  if (lacking.length) throw new Error(`${file} has no symbol ${lacking.join(', ')}`);
  return found;
}

export async function readSymbols(file: string, names: readonly string[]): Promise<Map<string, bigint>> {
  return symbolsOf(await readFile(file, 'utf8'), names, file);
}
