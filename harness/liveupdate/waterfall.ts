// The waterfall of a scenario: host-side spans of everything the harness
// waits for (QEMU spawn, the guest's boot to init and sshd, the first SSH
// command, each agent call, the kexec and each phase of its blackout, the
// reconnect, the verification), on one monotonic clock from the scenario's
// start. It shows where a scenario's wall time goes, harness overhead
// included, so that overhead can be cut where it is.
import type { WaterfallSpan } from '../report/result.ts';

export type SpanKind = WaterfallSpan['kind'];

export class Waterfall {
  readonly #originNs: bigint;
  readonly #spans: WaterfallSpan[] = [];

  constructor(originNs: bigint = process.hrtime.bigint()) {
    this.#originNs = originNs;
  }

  /** Milliseconds since the waterfall's origin. */
  now(): number {
    return Number(process.hrtime.bigint() - this.#originNs) / 1e6;
  }

  /** A console's ms (since its own origin, e.g. QEMU's spawn) on this waterfall's clock. */
  fromConsole(consoleOriginNs: bigint, ms: number): number {
    return Number(consoleOriginNs - this.#originNs) / 1e6 + ms;
  }

  add(name: string, kind: SpanKind, startMs: number, endMs: number): void {
    this.#spans.push({ name, kind, startMs: round(startMs), ms: round(Math.max(0, endMs - startMs)) });
  }

  /** Starts a span now; call the returned function when it ends. */
  start(name: string, kind: SpanKind): () => void {
    const at = this.now();
    return () => this.add(name, kind, at, this.now());
  }

  /** Times `fn` as a span. */
  async time<T>(name: string, kind: SpanKind, fn: () => Promise<T>): Promise<T> {
    const end = this.start(name, kind);
    try {
      return await fn();
    } finally {
      end();
    }
  }

  spans(): WaterfallSpan[] {
    return [...this.#spans].sort((a, b) => a.startMs - b.startMs);
  }
}

const round = (ms: number) => Math.round(ms * 10) / 10;
