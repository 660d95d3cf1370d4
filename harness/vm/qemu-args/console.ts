// The serial console.

/**
 * ttyS0 goes to QEMU's stdout. A pipe needs no socket path (those are limited to
 * 107 bytes, and a run directory may be deeper), cannot be connected too late
 * (no lost first lines), and reaches end-of-file exactly when QEMU exits. QEMU's own
 * diagnostics stay on stderr. `signal=off`: stdin is never a terminal whose ^C matters.
 */
export function consoleArgs(): string[] {
  return ['-chardev', 'stdio,id=console0,signal=off', '-serial', 'chardev:console0'];
}
