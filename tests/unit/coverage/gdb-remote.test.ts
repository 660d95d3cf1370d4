import test from 'ava';
import { createServer, type Socket } from 'node:net';
import { checksum, decodePayload, framePacket, GdbRemote, parseStop, splitPackets } from '../../../harness/coverage/gdb-remote.ts';

test('packets are framed with their checksum, split from a stream with acks, and damaged ones are counted', (t) => {
  t.is(checksum('OK'), '9a');
  t.is(framePacket('m10,4'), '$m10,4#' + checksum('m10,4'));
  const { packets, rest, bad } = splitPackets(`+$OK#9a+$T05thread:01;#${checksum('T05thread:01;')}$E01#00$par`);
  t.deepEqual(packets, ['OK', 'T05thread:01;']);
  t.is(bad, 1);
  t.is(rest, '$par');
  t.is(decodePayload('0* '), '0000'); // run-length: ' ' is 32, so three more
  t.deepEqual(parseStop('T05thread:01;'), { kind: 'stopped', signal: 5 });
  t.deepEqual(parseStop('W00'), { kind: 'ended', reply: 'W00' });
  t.is(parseStop('OK'), undefined);
});

/** A debugger stub that answers as QEMU does: a stop announced on connect, memory from a buffer, one breakpoint. */
async function fakeStub(memory: Buffer, base: bigint) {
  const seen: string[] = [];
  let client: Socket | undefined;
  const send = (s: Socket, data: string) => s.write(framePacket(data));
  const server = createServer((s) => {
    client = s;
    s.setEncoding('latin1');
    send(s, 'T02thread:01;'); // unasked: the stop the connection caused
    let buffer = '';
    s.on('data', (chunk: string) => {
      const { packets, rest } = splitPackets(buffer + chunk);
      buffer = rest;
      for (const p of packets) {
        s.write('+');
        seen.push(p);
        if (p === '?') send(s, 'T02thread:01;');
        else if (p.startsWith('Z0,') || p.startsWith('z0,')) send(s, 'OK');
        else if (p === 'c') setTimeout(() => send(s, 'T05thread:02;'), 20);
        else if (p === 'D') send(s, 'OK');
        else if (p.startsWith('m')) {
          const [addr, len] = p.slice(1).split(',').map((x) => BigInt(`0x${x}`));
          const from = Number(addr! - base);
          send(s, from < 0 || from + Number(len) > memory.length ? 'E14' : memory.subarray(from, from + Number(len)).toString('hex'));
        } else send(s, '');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { port, seen, close: () => (client?.destroy(), new Promise((r) => server.close(r))) };
}

test('a breakpoint, a stop, memory read in packets of 2 KiB, and detach, against a stub that announces stops unasked', async (t) => {
  const memory = Buffer.alloc(5000);
  for (let i = 0; i < memory.length; i++) memory[i] = i % 251;
  const stub = await fakeStub(memory, 0xffff0000n);
  const gdb = await GdbRemote.open({ host: '127.0.0.1', port: stub.port });
  await gdb.insertBreakpoint(0xffffffff8123df40n);
  t.deepEqual(await gdb.continueUntilStop(5000), { kind: 'stopped', signal: 5 });
  t.deepEqual(await gdb.readMemory(0xffff0000n + 10n, 4500), memory.subarray(10, 4510));
  const e = await t.throwsAsync(gdb.readMemory(0x10n, 4));
  t.regex(e!.message, /could not read 4 bytes at 0x10: "E14"/);
  await gdb.detach();
  t.deepEqual(stub.seen.filter((p) => p.startsWith('m')), ['mffff000a,800', 'mffff080a,800', 'mffff100a,194', 'm10,4']);
  t.true(stub.seen.includes('Z0,ffffffff8123df40,1'));
  t.is(stub.seen.at(-1), 'D');
  await stub.close();
});

test('no stub listening is an infrastructure error that names where it looked', async (t) => {
  const e = await t.throwsAsync(GdbRemote.open({ host: '127.0.0.1', port: 1 }, 2000));
  t.regex(e!.message, /cannot reach QEMU's debugger stub at 127\.0\.0\.1:1/);
});
