// QEMU splits -device/-drive/-fsdev option strings on commas; a literal comma is written twice.

/** Escape a free-form value (a path) for use inside a QEMU `key=value,...` option string. */
export function optionValue(value: string): string {
  return value.replaceAll(',', ',,');
}
