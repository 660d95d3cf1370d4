// Progress on stderr: a live line on a terminal, plain lines elsewhere (CI logs
// stay readable and free of ANSI codes).
export interface Progress {
  phase(name: string, detail?: string): void;
  update(detail: string): void;
  done(message?: string): void;
}

export function createProgress(label: string, stream: NodeJS.WriteStream = process.stderr, quiet = false): Progress {
  const live = stream.isTTY === true && !process.env.CI;
  const started = performance.now();
  let phase = '';
  let lastPlain = 0;
  const elapsed = () => `${((performance.now() - started) / 1000).toFixed(0)}s`;
  const write = (text: string, force = false) => {
    if (quiet) return;
    if (live) stream.write(`\r\x1b[2K${text.slice(0, (stream.columns ?? 100) - 1)}`);
    else if (force || performance.now() - lastPlain > 10_000) {
      stream.write(text + '\n');
      lastPlain = performance.now();
    }
  };
  return {
    phase(name, detail) {
      phase = name;
      write(`[${label}] ${name}${detail ? `: ${detail}` : ''} (${elapsed()})`, true);
    },
    update(detail) {
      write(`[${label}] ${phase}: ${detail} (${elapsed()})`);
    },
    done(message) {
      if (quiet) return;
      if (live) stream.write('\r\x1b[2K');
      if (message) stream.write(`[${label}] ${message} (${elapsed()})\n`);
    },
  };
}
