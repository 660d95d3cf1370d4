// The serial console.

/**
 * ttyS0 goes to QEMU's stdout. A pipe needs no socket path (those are limited to
 * 107 bytes, and a run directory may be deeper), cannot be connected too late
 * (no lost first lines), and reaches end-of-file exactly when QEMU exits. QEMU's own
 * diagnostics stay on stderr. `signal=off`: stdin is never a terminal whose ^C matters.
 */
export function consoleArgs(serialTcpPort?: number): string[] {
  if (serialTcpPort !== undefined) return serialTcpArgs(serialTcpPort);
  return ['-chardev', 'stdio,id=console0,signal=off', '-serial', 'chardev:console0'];
}

/**
 * ttyS0 on a loopback TCP server, for a machine that stands in for a lab host
 * whose console is a console server. `wait=off`: the guest runs with nobody
 * connected (its output is then dropped, as a real serial line drops it);
 * `server=on` accepts the next client after one leaves.
 */
function serialTcpArgs(port: number): string[] {
  return ['-chardev', `socket,id=console0,host=127.0.0.1,port=${port},server=on,wait=off`, '-serial', 'chardev:console0'];
}

/** QEMU's human monitor on a loopback TCP server (`system_reset`, `quit`): a stand-in host's power button. */
export function monitorArgs(port: number | undefined): string[] {
  return port === undefined ? [] : ['-monitor', `tcp:127.0.0.1:${port},server=on,wait=off`];
}

/** QEMU's debugger stub on a loopback TCP server; nothing stops until a debugger connects. */
export function debugStubArgs(port: number | undefined): string[] {
  return port === undefined ? [] : ['-gdb', `tcp:127.0.0.1:${port},server=on,wait=off`];
}

/** The fd a machine with a second serial line hands QEMU for it (stdio's three come first). */
export const AUX_SERIAL_FD = 3;

/**
 * ttyS1 (the second -serial) to fd 3, a socket the harness holds (node's extra
 * stdio is a socket pair, which QEMU takes as a connected socket chardev):
 * like ttyS0's pipe, nothing to connect too late and no path to outgrow.
 */
export function auxSerialArgs(enabled: boolean | undefined): string[] {
  return enabled ? ['-chardev', `socket,id=aux0,fd=${AUX_SERIAL_FD}`, '-serial', 'chardev:aux0'] : [];
}
