// Progress on stderr: a live line on a terminal, plain lines elsewhere (CI logs
// stay readable and free of ANSI codes). A plain log never goes quiet for
// long: when nothing was printed for HEARTBEAT_MS, the current phase and its
// last detail are printed again with the elapsed time, so a CI log always
// shows where a long step is.
export interface Progress {
  phase(name: string, detail?: string): void;
  update(detail: string): void;
  done(message?: string): void;
}

/** Plain updates come at most this often. */
const UPDATE_MS = 10_000;
/** A plain log prints something at least this often while a phase runs. */
export const HEARTBEAT_MS = 20_000;

export interface ProgressOptions {
  quiet?: boolean;
  /** Overrides the terminal test (tests). */
  live?: boolean;
  heartbeatMs?: number;
}

export function createProgress(label: string, stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number } = process.stderr, options: ProgressOptions | boolean = {}): Progress {
  const opts: ProgressOptions = typeof options === 'boolean' ? { quiet: options } : options;
  const quiet = opts.quiet ?? false;
  const live = opts.live ?? (stream.isTTY === true && !process.env.CI);
  const started = performance.now();
  let phase = '';
  let detail = '';
  let lastPlain = 0;
  let heartbeat: NodeJS.Timeout | undefined;
  const elapsed = () => `${((performance.now() - started) / 1000).toFixed(0)}s`;
  const line = () => `[${label}] ${phase}${detail ? `: ${detail}` : ''} (${elapsed()})`;
  const write = (text: string, force = false) => {
    if (quiet) return;
    if (live) stream.write(`\r\x1b[2K${text.slice(0, (stream.columns ?? 100) - 1)}`);
    else if (force || performance.now() - lastPlain > UPDATE_MS) {
      stream.write(text + '\n');
      lastPlain = performance.now();
    }
  };
  const beat = () => {
    if (quiet || heartbeat) return;
    const every = opts.heartbeatMs ?? HEARTBEAT_MS;
    heartbeat = setInterval(() => {
      if (live) write(line());
      else if (performance.now() - lastPlain >= every - 50) write(line(), true);
    }, live ? 1000 : Math.max(50, Math.floor(every / 4)));
    heartbeat.unref();
  };
  return {
    phase(name, d) {
      phase = name;
      detail = d ?? '';
      write(line(), true);
      beat();
    },
    update(d) {
      detail = d;
      write(line());
    },
    done(message) {
      clearInterval(heartbeat);
      heartbeat = undefined;
      if (quiet) return;
      if (live) stream.write('\r\x1b[2K');
      if (message) stream.write(`[${label}] ${message} (${elapsed()})\n`);
    },
  };
}
