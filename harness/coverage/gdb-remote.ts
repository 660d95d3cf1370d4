// The few GDB remote-protocol packets the harness needs from QEMU's
// debugger stub: stop on a kernel function, read kernel memory, go on.
// It is how the outgoing kernel's state is read inside reboot(), where no
// SSH and no userspace run any more. QEMU stops the guest when a debugger
// connects and lets it run again on `c` or on detach.
import { connect, type Socket } from 'node:net';
import { InfraError } from '../errors.ts';

/** A packet's checksum: the sum of its bytes modulo 256, two hex digits. */
export function checksum(data: string): string {
  let sum = 0;
  for (let i = 0; i < data.length; i++) sum = (sum + data.charCodeAt(i)) & 0xff;
  return sum.toString(16).padStart(2, '0');
}

export const framePacket = (data: string): string => `$${data}#${checksum(data)}`;

/** The payload of a reply, run-length encoding undone (`X*n`: X repeated n-29 more times). */
export function decodePayload(data: string): string {
  return data.replace(/(.)\*(.)/g, (_, c: string, n: string) => c.repeat(1 + n.charCodeAt(0) - 29));
}

/**
 * Splits a byte stream into packets: `+`/`-` acks are skipped, each `$...#cc`
 * whose checksum holds is a packet. Returns the packets and what is left over.
 */
export function splitPackets(buffer: string): { packets: string[]; rest: string; bad: number } {
  const packets: string[] = [];
  let bad = 0;
  let rest = buffer;
  for (;;) {
    const start = rest.indexOf('$');
    if (start < 0) return { packets, rest: '', bad };
    const hash = rest.indexOf('#', start);
    if (hash < 0 || hash + 3 > rest.length) return { packets, rest: rest.slice(start), bad };
    const data = rest.slice(start + 1, hash);
    if (rest.slice(hash + 1, hash + 3).toLowerCase() === checksum(data)) packets.push(decodePayload(data));
    else bad++;
    rest = rest.slice(hash + 3);
  }
}

/** What a stop reply says: `T05...`/`S05` a stop by signal (a breakpoint is SIGTRAP, 05); `W`/`X` the machine ended. */
export function parseStop(reply: string): { kind: 'stopped'; signal: number } | { kind: 'ended'; reply: string } | undefined {
  if (/^[TS][0-9a-f]{2}/i.test(reply)) return { kind: 'stopped', signal: Number.parseInt(reply.slice(1, 3), 16) };
  if (/^[WX]/.test(reply)) return { kind: 'ended', reply };
  return undefined;
}

/** Bytes one `m` packet asks for. */
const READ_CHUNK = 2048;

/** Where QEMU's debugger stub listens. */
export interface StubAddress {
  host: string;
  port: number;
}

/** One debugger connection to QEMU's stub. */
export class GdbRemote {
  #socket: Socket;
  #buffer = '';
  #waiting: { resolve: (p: string) => void; reject: (e: Error) => void } | undefined;
  #queue: string[] = [];
  #closed: Error | undefined;

  private constructor(socket: Socket, readonly where: string) {
    this.#socket = socket;
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      const { packets, rest, bad } = splitPackets(this.#buffer + chunk);
      this.#buffer = rest;
      if (bad) socket.write('-'); // ask again for a packet that arrived damaged
      for (const p of packets) {
        socket.write('+');
        this.#deliver(p);
      }
    });
    const ended = (why: string) => {
      this.#closed ??= new InfraError(`the debugger stub at ${where} ${why}`);
      this.#waiting?.reject(this.#closed);
      this.#waiting = undefined;
    };
    socket.on('close', () => ended('closed the connection'));
    socket.on('error', (e) => ended(`failed: ${e.message}`));
  }

  /** Connects (QEMU stops the guest) and asks why it stopped, which also settles the handshake. */
  static async open(stub: StubAddress, timeoutMs = 10_000): Promise<GdbRemote> {
    const where = `${stub.host}:${stub.port}`;
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ host: stub.host, port: stub.port });
      const timer = setTimeout(() => (s.destroy(), reject(new InfraError(`no answer from QEMU's debugger stub at ${where} within ${timeoutMs} ms`))), timeoutMs);
      s.once('connect', () => (clearTimeout(timer), resolve(s)));
      s.once('error', (e) => (clearTimeout(timer), reject(new InfraError(`cannot reach QEMU's debugger stub at ${where}: ${e.message}`, { cause: e }))));
    });
    const gdb = new GdbRemote(socket, where);
    await gdb.request('?', timeoutMs);
    return gdb;
  }

  #deliver(packet: string) {
    if (this.#waiting) {
      const w = this.#waiting;
      this.#waiting = undefined;
      w.resolve(packet);
    } else this.#queue.push(packet);
  }

  #next(timeoutMs: number, what: string): Promise<string> {
    const queued = this.#queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.#closed) return Promise.reject(this.#closed);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting = undefined;
        reject(new InfraError(`QEMU's debugger stub gave no reply to ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiting = {
        resolve: (p) => (clearTimeout(timer), resolve(p)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      };
    });
  }

  /**
   * Sends one packet and returns the reply's payload. A stop reply that
   * comes unasked (QEMU announces the stop a connection caused) is skipped,
   * except for `?`, whose answer is one.
   */
  async request(data: string, timeoutMs = 10_000): Promise<string> {
    this.#queue = this.#queue.filter((p) => !parseStop(p));
    this.#socket.write(framePacket(data));
    for (;;) {
      const reply = await this.#next(timeoutMs, JSON.stringify(data.slice(0, 24)));
      if (data === '?' || !parseStop(reply)) return reply;
    }
  }

  async #ok(data: string): Promise<void> {
    const reply = await this.request(data);
    if (reply !== 'OK') throw new InfraError(`QEMU's debugger stub refused ${JSON.stringify(data)}: ${JSON.stringify(reply)}`);
  }

  /** A breakpoint at a kernel address (TCG and KVM both take `Z0`; QEMU leaves guest memory alone). */
  insertBreakpoint(address: bigint): Promise<void> {
    return this.#ok(`Z0,${address.toString(16)},1`);
  }

  removeBreakpoint(address: bigint): Promise<void> {
    return this.#ok(`z0,${address.toString(16)},1`);
  }

  /** Lets the guest run until it stops (a breakpoint) or ends; `timeoutMs` bounds the wait. */
  async continueUntilStop(timeoutMs: number): Promise<ReturnType<typeof parseStop>> {
    this.#socket.write(framePacket('c'));
    for (;;) {
      const reply = await this.#next(timeoutMs, 'continue');
      const stop = parseStop(reply);
      if (stop) return stop;
    }
  }

  /** `length` bytes of guest memory at a virtual address, as the stopped CPU sees it. */
  async readMemory(address: bigint, length: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    // QEMU's packets hold 4 KiB: 2 KiB of memory as hex fits with room to spare.
    for (let done = 0; done < length; ) {
      const n = Math.min(READ_CHUNK, length - done);
      const at = address + BigInt(done);
      const reply = await this.request(`m${at.toString(16)},${n.toString(16)}`);
      if (!/^([0-9a-f]{2})+$/i.test(reply) || reply.length !== 2 * n) {
        throw new InfraError(`QEMU's debugger stub could not read ${n} bytes at 0x${at.toString(16)}: ${JSON.stringify(reply.slice(0, 40))}`);
      }
      parts.push(Buffer.from(reply, 'hex'));
      done += n;
    }
    return Buffer.concat(parts);
  }

  /** Detaches: QEMU removes every breakpoint and lets the guest run. */
  async detach(): Promise<void> {
    if (!this.#closed) await this.request('D', 5000).catch(() => {});
    this.#socket.destroy();
  }
}
