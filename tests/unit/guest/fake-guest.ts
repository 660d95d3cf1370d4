// A stand-in guest for the SSH layer's unit tests: an in-process ssh2 server
// that runs commands with the host's sh, behind a TCP forwarder that plays
// QEMU's hostfwd (it accepts on a fixed port whether or not a server is
// behind it, and can "freeze" to act like a guest that vanished in a kexec).
import { spawn } from 'node:child_process';
import { createServer, connect, type Server as NetServer, type Socket } from 'node:net';
import ssh2 from 'ssh2';
import { generateEd25519 } from '../../../harness/image/openssh-key.ts';

export interface FakeKeys {
  clientPrivateKey: string;
  clientPublicKey: string;
  hostPrivateKey: string;
  hostPublicKey: string;
}

export function fakeKeys(): FakeKeys {
  const client = generateEd25519('client');
  const host = generateEd25519('host');
  return { clientPrivateKey: client.private, clientPublicKey: client.public, hostPrivateKey: host.private, hostPublicKey: host.public.split(' ').slice(0, 2).join(' ') };
}

const listen = (srv: NetServer, port = 0) =>
  new Promise<number>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => resolve((srv.address() as { port: number }).port));
  });

/** The ssh2 server ("sshd"): accepts only the given client key. */
export async function startSshd(keys: FakeKeys): Promise<{ port: number; close: () => Promise<void> }> {
  const allowed = ssh2.utils.parseKey(keys.clientPublicKey);
  if (allowed instanceof Error) throw allowed;
  const clients = new Set<ssh2.Connection>();
  const server = new ssh2.Server({ hostKeys: [keys.hostPrivateKey] }, (client) => {
    clients.add(client);
    client.on('error', () => {});
    client.on('close', () => clients.delete(client));
    client.on('authentication', (ctx) => {
      if (ctx.method === 'publickey' && ctx.key.data.equals(allowed.getPublicSSH())) {
        if (!ctx.signature || !ctx.blob) return ctx.accept(); // the "would you take this key?" query
        if (allowed.verify(ctx.blob, ctx.signature, ctx.hashAlgo)) return ctx.accept();
      }
      ctx.reject(['publickey']);
    });
    client.on('ready', () => {
      client.on('session', (acceptSession) => {
        acceptSession().on('exec', (accept, _reject, info) => {
          const stream = accept();
          const child = spawn('sh', ['-c', info.command], { stdio: 'pipe' });
          stream.pipe(child.stdin);
          child.stdin.on('error', () => {});
          child.stdout.pipe(stream, { end: false });
          child.stderr.pipe(stream.stderr, { end: false });
          child.on('close', (code, signal) => {
            if (code !== null) stream.exit(code);
            else stream.exit(signal ?? 'KILL', false, '');
            stream.end();
          });
          stream.on('close', () => child.kill('SIGKILL'));
        });
      });
    });
  });
  const port = await listen(server);
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of clients) c.end();
        server.close(() => resolve());
      }),
  };
}

/** The forwarder ("QEMU hostfwd"): a fixed port; `backend` may change or be absent. */
export async function startForwarder(): Promise<{
  port: number;
  setBackend: (port: number | undefined) => void;
  freeze: () => void;
  close: () => Promise<void>;
}> {
  let backend: number | undefined;
  const pairs = new Set<[Socket, Socket]>();
  const server = createServer((down) => {
    down.on('error', () => {});
    if (backend === undefined) {
      down.destroy(); // like slirp when nothing listens in the guest
      return;
    }
    const up = connect(backend, '127.0.0.1');
    up.on('error', () => down.destroy());
    const pair: [Socket, Socket] = [down, up];
    pairs.add(pair);
    down.pipe(up).pipe(down);
    const drop = () => {
      pairs.delete(pair);
      down.destroy();
      up.destroy();
    };
    down.on('close', drop);
    up.on('close', drop);
  });
  const port = await listen(server);
  return {
    port,
    setBackend: (p) => {
      backend = p;
    },
    /** Keep every connection open but silent, as a guest that kexec'd without closing TCP. */
    freeze: () => {
      for (const [down, up] of pairs) {
        down.unpipe(up);
        up.unpipe(down);
        down.pause();
        up.pause();
      }
      backend = undefined;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const [down, up] of pairs) {
          down.destroy();
          up.destroy();
        }
        server.close(() => resolve());
      }),
  };
}
