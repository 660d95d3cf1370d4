// Host ports for the ssh forward. Asking the kernel for a free port and then handing
// it to QEMU races with every other process doing the same, so the caller retries
// when QEMU reports the forward could not be bound (see isHostForwardFailure).
import { createServer } from 'node:net';

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('no port was assigned'))));
    });
  });
}

/** QEMU's stderr when slirp could not bind the hostfwd port (QEMU then exits with status 1). */
export function isHostForwardFailure(stderr: string): boolean {
  return /could not set up host forwarding rule/i.test(stderr);
}
