// The serial console as a stream of host-timestamped lines, split per boot, with
// harness markers and kernel faults picked out, and waits that fail as soon as
// the answer is known: the kernel crashed, QEMU exited, or the deadline passed.
import { EventEmitter } from 'node:events';
import { StringDecoder } from 'node:string_decoder';
import { BootError, InfraError, KernelFault } from '../errors.ts';
import {
  FAULT_PATTERNS,
  detectFault,
  isBootBanner,
  isKexecStart,
  parseMarker,
  type FaultKind,
  type FaultPattern,
  type MarkerMatch,
} from './console-patterns.ts';

export interface ConsoleLine {
  /** 0, 1, 2... over the whole run. */
  seq: number;
  /** 0 for the first kernel, +1 at every "Linux version" banner after it (kexec or reset); -1 before the first one of a console joined midway. */
  boot: number;
  /** Host monotonic clock (process.hrtime.bigint) when the end of the line arrived. */
  at: bigint;
  /** Milliseconds from the monitor's origin (QEMU spawn) to `at`. */
  ms: number;
  /** The line without its line ending. */
  text: string;
}

export interface Marker extends MarkerMatch {
  boot: number;
  line: ConsoleLine;
}

export interface Fault {
  kind: FaultKind;
  boot: number;
  line: ConsoleLine;
}

/** A new boot began: its banner line, and whether a kexec announced it. */
export interface BootStart {
  boot: number;
  viaKexec: boolean;
  line: ConsoleLine;
}

/** How the console ended (QEMU exited). `infra` names a host-side failure (e.g. KVM broke). */
export interface ConsoleEnd {
  description: string;
  infra?: string;
}

export interface WaitOptions {
  deadlineMs: number;
  /** Only lines of this boot count (and only faults of this boot or later). Default: any boot. */
  boot?: number;
  /** Only lines with a larger seq count (and only faults after it). Default: from the start. */
  afterSeq?: number;
}

export interface ConsoleSink {
  write(line: ConsoleLine): void;
  close(): void;
}

export interface ConsoleMonitorOptions {
  /** Clock origin for `ms` (default: now at construction). */
  origin?: bigint;
  now?: () => bigint;
  sink?: ConsoleSink;
  faultPatterns?: readonly FaultPattern[];
  /** After a fault, waits hold this long (or until QEMU exits) so the error carries the whole report. */
  faultSettleMs?: number;
  /** Console lines put in an error's detail. */
  tailLines?: number;
  /** Appended to error details, e.g. where the full log is. */
  logHint?: string;
  /**
   * The console of a machine that is already running (a remote host's, read
   * from the middle): what comes before the first "Linux version" banner is
   * the previous system's and counts as boot -1; that banner starts boot 0.
   */
  joinedMidway?: boolean;
}

type Events = {
  line: [ConsoleLine];
  marker: [Marker];
  fault: [Fault];
  boot: [BootStart];
  end: [ConsoleEnd];
};

export class ConsoleMonitor extends EventEmitter<Events> {
  readonly origin: bigint;
  readonly #now: () => bigint;
  readonly #sink: ConsoleSink | undefined;
  readonly #patterns: readonly FaultPattern[];
  readonly #settleMs: number;
  readonly #tailLines: number;
  readonly #logHint: string | undefined;
  readonly #decoder = new StringDecoder('utf8');
  readonly #lines: ConsoleLine[] = [];
  readonly #markers: Marker[] = [];
  readonly #faults: Fault[] = [];
  readonly #boots: BootStart[] = [];
  #partial = '';
  #boot = 0;
  #bannerSeen = false;
  #kexecPending = false;
  #end: ConsoleEnd | undefined;

  constructor(options: ConsoleMonitorOptions = {}) {
    super();
    this.setMaxListeners(0); // every pending wait listens
    this.#now = options.now ?? process.hrtime.bigint;
    this.origin = options.origin ?? this.#now();
    this.#sink = options.sink;
    this.#patterns = options.faultPatterns ?? FAULT_PATTERNS;
    this.#settleMs = options.faultSettleMs ?? 250;
    this.#tailLines = options.tailLines ?? 60;
    this.#logHint = options.logHint;
    if (options.joinedMidway) {
      this.#boot = -1;
      this.#bannerSeen = true;
    }
  }

  /** Feed console bytes as they arrive. */
  push(chunk: Buffer | string): void {
    if (this.#end) return;
    const at = this.#now();
    const text = this.#partial + (typeof chunk === 'string' ? chunk : this.#decoder.write(chunk));
    const pieces = text.split('\n');
    this.#partial = pieces.pop()!;
    for (const piece of pieces) this.#accept(piece, at);
  }

  /** QEMU exited: flush an unterminated last line, fail pending waits, close the logs. Idempotent. */
  end(info: ConsoleEnd): void {
    if (this.#end) return;
    const rest = this.#partial + this.#decoder.end();
    this.#partial = '';
    if (rest.length > 0) this.#accept(rest, this.#now());
    this.#end = info;
    this.#sink?.close();
    this.emit('end', info);
  }

  /** The current boot index. */
  get boot(): number {
    return this.#boot;
  }

  /** Set once QEMU has exited. */
  get ended(): ConsoleEnd | undefined {
    return this.#end;
  }

  get faults(): readonly Fault[] {
    return this.#faults;
  }

  get boots(): readonly BootStart[] {
    return this.#boots;
  }

  lines(boot?: number): ConsoleLine[] {
    return boot === undefined ? [...this.#lines] : this.#lines.filter((line) => line.boot === boot);
  }

  markers(name?: string, boot?: number): Marker[] {
    return this.#markers.filter((m) => (name === undefined || m.name === name) && (boot === undefined || m.boot === boot));
  }

  /** The last `n` lines as text, one per line (what error details carry). */
  tail(n = this.#tailLines, boot?: number): string {
    const lines = boot === undefined ? this.#lines : this.lines(boot);
    return lines.slice(-n).map((line) => line.text).join('\n');
  }

  /** The first marker `name` (of `boot`, after `afterSeq`), waiting for it if it has not appeared yet. */
  waitForMarker(name: string, options: WaitOptions): Promise<Marker> {
    return this.#wait(`marker "${name}"`, options, (line) => {
      const match = parseMarker(line.text);
      return match?.name === name ? { ...match, boot: line.boot, line } : undefined;
    });
  }

  /** The first line matching `pattern` (of `boot`, after `afterSeq`), waiting for it if needed. */
  waitForLine(pattern: RegExp, options: WaitOptions): Promise<ConsoleLine> {
    return this.#wait(`a line matching ${pattern}`, options, (line) => (pattern.test(line.text) ? line : undefined));
  }

  /** The banner line of boot `boot` (0 is the first kernel, 1 the first kexec'd one...). */
  waitForBoot(boot: number, options: Omit<WaitOptions, 'boot'>): Promise<ConsoleLine> {
    return this.#wait(`boot ${boot} to start`, { ...options, boot }, (line) =>
      isBootBanner(line.text) ? line : undefined,
    );
  }

  /** Every line from the first, then live ones until QEMU exits. */
  async *[Symbol.asyncIterator](): AsyncGenerator<ConsoleLine> {
    let next = 0;
    for (;;) {
      while (next < this.#lines.length) yield this.#lines[next++]!;
      if (this.#end) return;
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.off('line', wake);
          this.off('end', wake);
          resolve();
        };
        this.on('line', wake);
        this.on('end', wake);
      });
    }
  }

  #accept(raw: string, at: bigint): void {
    const text = raw.replaceAll('\r', '');
    let started: boolean | undefined;
    if (isBootBanner(text)) {
      if (this.#bannerSeen) {
        started = this.#kexecPending;
        this.#boot += 1;
      }
      this.#bannerSeen = true;
      this.#kexecPending = false;
    }
    const line: ConsoleLine = { seq: this.#lines.length, boot: this.#boot, at, ms: Number(at - this.origin) / 1e6, text };
    this.#lines.push(line);
    this.#sink?.write(line);
    if (isKexecStart(text)) this.#kexecPending = true;
    if (started !== undefined) {
      const start = { boot: line.boot, viaKexec: started, line };
      this.#boots.push(start);
      this.emit('boot', start);
    }
    this.emit('line', line);
    const marker = parseMarker(text);
    if (marker) {
      const found = { ...marker, boot: line.boot, line };
      this.#markers.push(found);
      this.emit('marker', found);
    }
    const kind = detectFault(text, this.#patterns);
    if (kind) {
      const fault = { kind, boot: line.boot, line };
      this.#faults.push(fault);
      this.emit('fault', fault);
    }
  }

  #detail(): string {
    const tail = this.tail();
    return this.#logHint ? `${tail}\n(${this.#logHint})` : tail;
  }

  #wait<T>(what: string, options: WaitOptions, match: (line: ConsoleLine) => T | undefined): Promise<T> {
    const after = options.afterSeq ?? -1;
    const counts = (line: ConsoleLine) => line.seq > after && (options.boot === undefined || line.boot === options.boot);
    const relevant = (fault: Fault) => fault.line.seq > after && (options.boot === undefined || fault.boot >= options.boot);
    for (const line of this.#lines) {
      if (!counts(line)) continue;
      const found = match(line);
      if (found !== undefined) return Promise.resolve(found);
    }
    const where = options.boot === undefined ? '' : ` on boot ${options.boot}`;
    const faultError = (fault: Fault) =>
      new KernelFault(
        `The kernel crashed (${fault.kind}) on boot ${fault.boot} while waiting for ${what}: ${fault.line.text.trim()}`,
        { detail: this.#detail() },
      );
    return new Promise<T>((resolve, reject) => {
      let settle: NodeJS.Timeout | undefined;
      let firstFault: Fault | undefined;
      const finish = (outcome: () => void) => {
        clearTimeout(deadline);
        clearTimeout(settle);
        this.off('line', onLine);
        this.off('fault', onFault);
        this.off('end', onEnd);
        outcome();
      };
      const onLine = (line: ConsoleLine) => {
        if (!counts(line)) return;
        const found = match(line);
        if (found !== undefined) finish(() => resolve(found));
      };
      const onFault = (fault: Fault) => {
        if (firstFault || !relevant(fault)) return;
        firstFault = fault;
        settle = setTimeout(() => finish(() => reject(faultError(fault))), this.#settleMs);
      };
      const onEnd = (end: ConsoleEnd) => {
        finish(() => {
          if (firstFault) reject(faultError(firstFault));
          else if (end.infra) reject(new InfraError(`${end.infra} (while waiting for ${what}${where})`, { detail: this.#detail() }));
          else reject(new BootError(`${end.description} before ${what} appeared${where}.`, { detail: this.#detail() }));
        });
      };
      const deadline = setTimeout(
        () => finish(() => reject(new BootError(`${what} did not appear${where} within ${options.deadlineMs} ms.`, { detail: this.#detail() }))),
        options.deadlineMs,
      );
      this.on('line', onLine);
      this.on('fault', onFault);
      this.on('end', onEnd);
      const earlier = this.#faults.find(relevant);
      if (earlier) onFault(earlier);
      if (this.#end) onEnd(this.#end);
    });
  }
}
