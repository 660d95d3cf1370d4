// The agent's calls over one long-lived `luo-agent relay` per SSH connection:
// a request is written to its stdin, the reply is the next line of its
// stdout. One exec per connection instead of one per call (each exec of the
// agent costs ~45 ms under TCG). A kexec ends the connection and with it the
// relay; the first call on the new connection starts another.
import type { ClientChannel } from 'ssh2';
import { GuestConnectionLost, GuestTimeout } from '../guest/errors.ts';
import { AGENT_BIN } from './protocol.ts';

/** What carries one agent request to the daemon and its reply back. */
export interface AgentTransport {
  /** The daemon's reply line to one request in its wire form (NUL-terminated words). */
  request(verb: string, wire: Buffer, options: { timeoutMs: number }): Promise<string>;
}

/** What the relay needs of a GuestSession. */
export interface ChannelSource {
  readonly connection: number;
  openChannel(command: string): Promise<ClientChannel>;
}

interface Pending {
  verb: string;
  resolve(line: string): void;
  reject(e: Error): void;
}

interface Link {
  connection: number;
  channel: ClientChannel;
  closed: boolean;
  buffer: string;
  stderr: string;
  waiting: Pending | undefined;
}

export class AgentRelay implements AgentTransport {
  #link: Link | undefined;
  /** Requests go one at a time: the relay answers in order, and a reply must be matched to its call. */
  #tail: Promise<unknown> = Promise.resolve();

  constructor(readonly session: ChannelSource) {}

  request(verb: string, wire: Buffer, options: { timeoutMs: number }): Promise<string> {
    const run = this.#tail.then(() => this.#send(verb, wire, options.timeoutMs));
    this.#tail = run.catch(() => {});
    return run;
  }

  async #send(verb: string, wire: Buffer, timeoutMs: number): Promise<string> {
    const link = await this.#open();
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        settle(() => reject(new GuestTimeout(`luo-agent ${verb} did not answer within ${timeoutMs} ms.`, { detail: link.stderr || undefined })));
        // The relay may still be writing the late reply: never read it as the next call's.
        this.#drop(link);
      }, timeoutMs);
      let settled = false;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        link.waiting = undefined;
        fn();
      };
      link.waiting = { verb, resolve: (line) => settle(() => resolve(line)), reject: (e) => settle(() => reject(e)) };
      // One write: two small ones would wait out the guest's delayed ACK (Nagle), ~40 ms a call.
      link.channel.write(Buffer.concat([Buffer.from(`${wire.length}\n`), wire]));
    });
  }

  async #open(): Promise<Link> {
    const current = this.#link;
    if (current && !current.closed && current.connection === this.session.connection) return current;
    if (current) this.#drop(current);
    const connection = this.session.connection;
    const channel = await this.session.openChannel(`exec ${AGENT_BIN} relay`);
    const link: Link = { connection, channel, closed: false, buffer: '', stderr: '', waiting: undefined };
    channel.on('data', (d: Buffer) => {
      link.buffer += d.toString('utf8');
      let nl: number;
      while ((nl = link.buffer.indexOf('\n')) >= 0) {
        const line = link.buffer.slice(0, nl);
        link.buffer = link.buffer.slice(nl + 1);
        link.waiting?.resolve(line);
      }
    });
    channel.stderr.on('data', (d: Buffer) => {
      link.stderr = (link.stderr + d.toString('utf8')).slice(-2000);
    });
    channel.on('close', () => {
      link.closed = true;
      const w = link.waiting;
      w?.reject(new GuestConnectionLost(`The SSH connection closed before luo-agent ${w.verb} answered.`, { detail: link.stderr || undefined }));
      if (this.#link === link) this.#link = undefined;
    });
    this.#link = link;
    return link;
  }

  #drop(link: Link): void {
    link.closed = true;
    if (this.#link === link) this.#link = undefined;
    link.channel.close();
  }
}
