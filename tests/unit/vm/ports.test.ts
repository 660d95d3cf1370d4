import test from 'ava';
import { createServer } from 'node:net';
import { freeLoopbackPort, isHostForwardFailure } from '../../../harness/vm/ports.ts';

test('a probed port can be bound on 127.0.0.1', async (t) => {
  const port = await freeLoopbackPort();
  t.true(port > 0 && port < 65536);
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port, exclusive: true }, resolve);
  });
  await new Promise((resolve) => server.close(resolve));
});

test('parallel probes give distinct ports', async (t) => {
  const ports = await Promise.all(Array.from({ length: 8 }, () => freeLoopbackPort()));
  t.is(new Set(ports).size, ports.length);
});

test("QEMU's bind failure is recognised (recorded QEMU 7.2 stderr), other failures are not", (t) => {
  t.true(
    isHostForwardFailure(
      "qemu-system-x86_64: -netdev user,id=n,restrict=on,hostfwd=tcp:127.0.0.1:48121-:22: Could not set up host forwarding rule 'tcp:127.0.0.1:48121-:22'\n",
    ),
  );
  t.false(isHostForwardFailure('qemu-system-x86_64: -kernel bz: could not open kernel file'));
});
