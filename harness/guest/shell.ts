// An interactive shell in the guest on a pseudo-terminal, wired to this
// process's terminal (for `luo-harness boot`). Resolves with the shell's exit
// status once it ends.
import type { Client } from 'ssh2';
import { GuestConnectionLost } from './errors.ts';

export interface ShellStreams {
  stdin?: NodeJS.ReadStream | NodeJS.ReadableStream;
  stdout?: NodeJS.WriteStream | NodeJS.WritableStream;
}

export function interactiveShell(client: Client, streams: ShellStreams = {}): Promise<number> {
  const stdin = streams.stdin ?? process.stdin;
  const stdout = streams.stdout ?? process.stdout;
  const tty = 'isTTY' in stdout && stdout.isTTY ? (stdout as NodeJS.WriteStream) : undefined;
  const rawIn = 'setRawMode' in stdin && (stdin as NodeJS.ReadStream).isTTY ? (stdin as NodeJS.ReadStream) : undefined;
  const window = { term: process.env.TERM || 'vt100', rows: tty?.rows ?? 24, cols: tty?.columns ?? 80 };

  return new Promise<number>((resolve, reject) => {
    client.shell(window, (err, channel) => {
      if (err) return reject(new GuestConnectionLost(`Cannot open a shell in the guest: ${err.message}.`, { cause: err }));
      let status: number | undefined;
      const onResize = () => channel.setWindow(tty!.rows, tty!.columns, 0, 0);
      rawIn?.setRawMode(true);
      tty?.on('resize', onResize);
      stdin.pipe(channel);
      channel.pipe(stdout, { end: false });
      channel.stderr.pipe(stdout, { end: false });
      channel.on('exit', (code: number | null) => {
        status = typeof code === 'number' ? code : 1;
      });
      channel.on('close', () => {
        stdin.unpipe(channel);
        rawIn?.setRawMode(false);
        tty?.off('resize', onResize);
        if ('pause' in stdin) stdin.pause();
        if (status === undefined) reject(new GuestConnectionLost('The guest shell ended without an exit status (the connection dropped?).'));
        else resolve(status);
      });
    });
  });
}
