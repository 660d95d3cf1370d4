// Byte sizes as suites, flags and the in-guest agent write them: a number of
// bytes, or a number with K, M or G (either case, binary units; an optional
// "iB" as in 64MiB). The one parser: the agent reads the same forms.
export type Size = number | string;

const UNITS: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30 };
const SIZE = /^(\d+)\s*([KMG]?)(?:i?B)?$/i;

/** Bytes of a size, or undefined when the text is not one. */
export function parseSize(size: Size): number | undefined {
  if (typeof size === 'number') return Number.isSafeInteger(size) && size >= 0 ? size : undefined;
  const m = SIZE.exec(size.trim());
  if (!m) return undefined;
  const bytes = Number(m[1]) * UNITS[m[2]!.toUpperCase()]!;
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** Bytes of a size; throws a RangeError naming the text when it is not one. */
export function sizeInBytes(size: Size): number {
  const bytes = parseSize(size);
  if (bytes === undefined) throw new RangeError(`${JSON.stringify(size)} is not a size (write bytes, or a number with K, M or G: 64M, 4096, 1G)`);
  return bytes;
}

/** 67108864 -> "64 MiB"; sizes that are not whole units stay in bytes. */
export function formatSize(bytes: number): string {
  for (const [unit, n] of [['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 2 ** 10]] as const) if (bytes >= n && bytes % n === 0) return `${bytes / n} ${unit}`;
  return `${bytes} bytes`;
}

/** 67108864 -> "64M", as suites write sizes; sizes that are not whole units stay in bytes. */
export function compactSize(bytes: number): string {
  for (const [unit, n] of [['G', 2 ** 30], ['M', 2 ** 20], ['K', 2 ** 10]] as const) if (bytes >= n && bytes % n === 0) return `${bytes / n}${unit}`;
  return String(bytes);
}
