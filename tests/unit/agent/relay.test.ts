// AgentRelay: requests framed on one channel, replies matched in order, a
// lost connection fails the call waiting on it and the next call starts a
// relay on the new connection.
import test from 'ava';
import { EventEmitter } from 'node:events';
import type { ClientChannel } from 'ssh2';
import { AgentRelay } from '../../../harness/agent/relay.ts';
import { agentWire } from '../../../harness/agent/protocol.ts';
import { GuestConnectionLost, GuestTimeout } from '../../../harness/guest/errors.ts';

/** A channel that answers each framed request with `answer(words)`, or stays silent when it returns undefined. */
class FakeChannel extends EventEmitter {
  readonly stderr = new EventEmitter();
  readonly requests: string[][] = [];
  closed = false;
  #pending = Buffer.alloc(0);
  constructor(readonly answer: (words: string[]) => string | undefined) {
    super();
  }
  write(chunk: Buffer): boolean {
    this.#pending = Buffer.concat([this.#pending, chunk]);
    for (;;) {
      const nl = this.#pending.indexOf('\n');
      if (nl < 0) return true;
      const len = Number(this.#pending.subarray(0, nl).toString());
      if (this.#pending.length < nl + 1 + len) return true;
      const words = this.#pending.subarray(nl + 1, nl + 1 + len).toString().split('\0').slice(0, -1);
      this.#pending = this.#pending.subarray(nl + 1 + len);
      this.requests.push(words);
      const reply = this.answer(words);
      // Replies may arrive split across packets.
      if (reply !== undefined) setImmediate(() => {
        const text = reply + '\n';
        this.emit('data', Buffer.from(text.slice(0, 5)));
        this.emit('data', Buffer.from(text.slice(5)));
      });
    }
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    setImmediate(() => this.emit('close'));
  }
}

class FakeSession {
  connection = 1;
  readonly opened: FakeChannel[] = [];
  commands: string[] = [];
  constructor(readonly answer: (words: string[]) => string | undefined) {}
  async openChannel(command: string): Promise<ClientChannel> {
    this.commands.push(command);
    const ch = new FakeChannel(this.answer);
    this.opened.push(ch);
    return ch as unknown as ClientChannel;
  }
}

const echo = (words: string[]) => JSON.stringify({ ok: true, verb: words[0], args: words.slice(1) });

test('calls share one relay; each reply goes to its own call, in order', async (t) => {
  const session = new FakeSession(echo);
  const relay = new AgentRelay(session);
  const [a, b] = await Promise.all([
    relay.request('memfd-create', agentWire('memfd-create', { name: 'm', size: 4096, seals: true, hugetlb: false }), { timeoutMs: 1000 }),
    relay.request('status', agentWire('status', {}), { timeoutMs: 1000 }),
  ]);
  t.deepEqual(JSON.parse(a), { ok: true, verb: 'memfd-create', args: ['name', 'm', 'size', '4096', 'seals', '1'] });
  t.deepEqual(JSON.parse(b), { ok: true, verb: 'status', args: [] });
  t.is(session.opened.length, 1);
  t.deepEqual(session.commands, ['exec /usr/sbin/luo-agent relay']);
});

test('a connection lost mid-call fails that call; the next call opens a relay on the new connection', async (t) => {
  let silent = true;
  const session = new FakeSession((w) => (silent ? undefined : echo(w)));
  const relay = new AgentRelay(session);
  const waiting = relay.request('kexec-exec', agentWire('kexec-exec', {}), { timeoutMs: 5000 });
  await new Promise((r) => setImmediate(r));
  session.opened[0]!.close();
  await t.throwsAsync(waiting, { instanceOf: GuestConnectionLost, message: /before luo-agent kexec-exec answered/ });
  silent = false;
  session.connection = 2;
  t.is(JSON.parse(await relay.request('status', agentWire('status', {}), { timeoutMs: 1000 })).verb, 'status');
  t.is(session.opened.length, 2);
});

test('a reconnect without a close event still gets a fresh relay', async (t) => {
  const session = new FakeSession(echo);
  const relay = new AgentRelay(session);
  await relay.request('status', agentWire('status', {}), { timeoutMs: 1000 });
  session.connection++;
  await relay.request('status', agentWire('status', {}), { timeoutMs: 1000 });
  t.is(session.opened.length, 2);
  t.true(session.opened[0]!.closed, 'the relay of the old connection is closed');
});

test('a call that times out drops its relay, so a late reply is never taken for the next call', async (t) => {
  let replies = 0;
  const session = new FakeSession((w) => (replies++ === 0 ? undefined : echo(w)));
  const relay = new AgentRelay(session);
  await t.throwsAsync(relay.request('status', agentWire('status', {}), { timeoutMs: 30 }), { instanceOf: GuestTimeout });
  t.true(session.opened[0]!.closed);
  t.is(JSON.parse(await relay.request('heartbeat-report', agentWire('heartbeat-report', {}), { timeoutMs: 1000 })).verb, 'heartbeat-report');
  t.is(session.opened.length, 2);
});
