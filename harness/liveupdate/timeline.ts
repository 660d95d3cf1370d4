// The blackout of one live update, from host-timestamped console lines: the
// host clock is the reference; the guest's TSC, which runs on across kexec,
// is a second opinion on the freeze -> restored span.
//
// Phases (each starts where the one before ended):
//   shutdown        the agent's freeze marker -> "Starting new kernel": the
//                   old kernel freezes the LUO sessions, KHO finalizes,
//                   devices shut down.
//   kexec-jump      -> the new kernel's clock starts: machine_kexec, the copy
//                   of the new kernel's segments over the old kernel where
//                   they overlap it, purgatory's checksum of the segments,
//                   the decompressor, the start of setup_arch.
//   kernel-init     -> "Run /init as init process": the new kernel's boot
//                   (KHO brings preserved memory back, LUO sets up the
//                   incoming sessions, drivers probe).
//   userspace-init  -> the agent starts its restore (init mounted the
//                   pseudo filesystems and started it).
//   restore         -> the agent has retrieved every session and file.
//   service         -> SSH answers again and the guest said guest-ready
//                   (whichever comes later: either alone is not service).
//
// The new kernel's early lines reach the console only when its serial
// console registers (a few hundred ms into its boot), so their arrival says
// nothing about when they happened. Their printk timestamps do: the kernel's
// clock starts with TSC calibration early in setup_arch, and the host instant
// of that zero is the smallest (arrival - printk time) over the new boot's
// lines (output only ever adds delay). Measured against earlyprintk, which
// prints those lines as they happen, the estimate is within 1 ms.
import { BLACKOUT_PHASES, type BlackoutTimeline } from '../report/result.ts';
import { TestFailure } from '../errors.ts';
import { isBootBanner, isKexecStart, parseMarker } from '../vm/console-patterns.ts';

/** What the timeline needs of a console line (a subset of vm's ConsoleLine). */
export interface TimedLine {
  boot: number;
  ms: number;
  text: string;
}

export interface TimelineInput {
  lines: readonly TimedLine[];
  /** The boot that froze (the old kernel); the new kernel is `fromBoot + 1`. */
  fromBoot: number;
  /** Host ms, same clock as the lines, when the first SSH command after the kexec succeeded. */
  sshReadyMs: number;
  /** Host ms of the new boot's guest-ready line (the readiness contract), when it was waited for. */
  guestReadyMs?: number;
  /** Allowed disagreement between host and guest clocks, as a fraction (default 5%). */
  tolerance?: number;
}

/** Host and guest spans may differ by this much in absolute terms before a 5% rule bites (console latency). */
const AGREEMENT_FLOOR_MS = 20;
const PRINTK = /^\[\s*(\d+)\.(\d{6})\]\s/;
const RUN_INIT = /Run \/init as init process/;

/** The printk time of a line in ms, when it carries one. */
export function printkMs(text: string): number | undefined {
  const m = PRINTK.exec(text);
  return m ? Number(m[1]) * 1000 + Number(m[2]) / 1000 : undefined;
}

const CONSOLE_ENABLED = /console \[ttyS\d+\] enabled/;

/**
 * Where on the host clock the kernel of `boot` started its printk clock;
 * undefined without timestamps. Only lines printed live count: those from
 * the serial console's registration on (what came before is replayed from
 * the log buffer, and early timestamps are not all on one scale).
 */
export function kernelClockZero(lines: readonly TimedLine[], boot: number, notBefore = -Infinity): number | undefined {
  const own = lines.filter((l) => l.boot === boot);
  const from = Math.max(0, own.findIndex((l) => CONSOLE_ENABLED.test(l.text)));
  let zero: number | undefined;
  for (const l of own.slice(from)) {
    const t = printkMs(l.text);
    // Lines stamped 0.000000 come before the clock runs; they say nothing about its zero.
    if (t === undefined || t === 0) continue;
    // A zero before the old kernel let go is impossible: such a line's stamp is not on the new clock
    // (seen once under heavy load after 144 kexecs); it says nothing either.
    if (l.ms - t < notBefore) continue;
    zero = Math.min(zero ?? Infinity, l.ms - t);
  }
  return zero;
}

/**
 * Whether the kernel of `boot` restarted its printk clock: in log order, a
 * stamp well below one before it, and the lines after it staying below too.
 * A kernel whose early TSC calibration failed stamps its first lines on
 * jiffies (0.004, 0.008, ... 0.216) and starts again near 0 when the TSC
 * takes over, so its clock zero is not the start of its boot. One line out
 * of step is not that: a secondary CPU prints with its own clock while it
 * comes up ("calibrate_delay_direct() ..." at 0.044 between lines at 0.413).
 */
export function clockRestarted(lines: readonly TimedLine[], boot: number): boolean {
  const stamps = lines.filter((l) => l.boot === boot).map((l) => printkMs(l.text)).filter((t) => t !== undefined);
  let highest = 0;
  for (let i = 0; i < stamps.length; i++) {
    const t = stamps[i]!;
    if (t < highest - CLOCK_RESTART_MS) {
      const after = stamps.slice(i, i + RESTART_LINES);
      if (after.length === RESTART_LINES && after.every((x) => x < highest - CLOCK_RESTART_MS)) return true;
      continue; // a line out of step: the clock is the one it was
    }
    highest = Math.max(highest, t);
  }
  return false;
}

/** A stamp this far below an earlier one is on another clock. */
const CLOCK_RESTART_MS = 2;
/** This many lines in a row on the lower clock make a restart (a restarted clock stays below for hundreds of ms). */
const RESTART_LINES = 5;

export function blackoutTimeline(input: TimelineInput): BlackoutTimeline {
  const { lines, fromBoot, sshReadyMs } = input;
  const next = fromBoot + 1;
  const marker = (name: string, boot: number) => {
    for (const line of lines) {
      if (line.boot !== boot) continue;
      const m = parseMarker(line.text);
      if (m?.name === name) return { line, fields: m.fields };
    }
    return undefined;
  };
  const need = <T>(what: string, v: T | undefined): T => {
    if (v === undefined) throw new TestFailure(`blackout timeline: no ${what} on the console`);
    return v;
  };
  const freeze = need(`freeze marker in boot ${fromBoot}`, marker('freeze', fromBoot));
  const kexec = need(`"Starting new kernel" in boot ${fromBoot}`, lines.find((l) => l.boot === fromBoot && l.ms >= freeze.line.ms && isKexecStart(l.text)));
  const banner = need(`banner of boot ${next}`, lines.find((l) => l.boot === next && isBootBanner(l.text)));
  const init = need(`init marker in boot ${next}`, marker('init', next));
  // Without a plan to restore (e.g. the kernel's selftests hold the sessions) the agent only says it is ready.
  const restored = need(`agent-restored (or agent-ready) marker in boot ${next}`, marker('agent-restored', next) ?? marker('agent-ready', next));

  // Kernel events on the host clock through the new kernel's own timestamps; without them, by arrival.
  const zero = kernelClockZero(lines, next, kexec.ms);
  const runInit = lines.find((l) => l.boot === next && RUN_INIT.test(l.text));
  const runInitPrintk = runInit && printkMs(runInit.text);
  const runInitMs = !runInit ? init.line.ms : zero !== undefined && runInitPrintk !== undefined ? zero + runInitPrintk : runInit.ms;
  const clockStart = zero ?? banner.ms;
  const restoreStart = marker('agent-restore-start', next)?.line.ms ?? init.line.ms;

  const ends = [kexec.ms, clockStart, runInitMs, restoreStart, restored.line.ms, Math.max(sshReadyMs, restored.line.ms, input.guestReadyMs ?? 0)];
  // Each event must follow the one before: a line out of order means the console (or its clock) cannot be trusted.
  const events = [
    'the freeze marker',
    '"Starting new kernel"',
    `the start of boot ${next}'s clock`,
    `"Run /init" of boot ${next}`,
    `the agent's restore start in boot ${next}`,
    `the agent's restored marker of boot ${next}`,
  ];
  [freeze.line.ms, ...ends.slice(0, 5)].forEach((ms, i, all) => {
    if (i > 0 && ms < all[i - 1]!) throw new TestFailure(`blackout timeline: ${events[i]} (${round(ms)} ms) comes before ${events[i - 1]} (${round(all[i - 1]!)} ms) on the console`);
  });
  let from = freeze.line.ms;
  const phases = BLACKOUT_PHASES.map((name, i) => {
    const ms = round(ends[i]! - from);
    from = ends[i]!;
    return { name, ms };
  });
  const timeline: BlackoutTimeline = { totalMs: round(ends.at(-1)! - freeze.line.ms), phases };
  if (zero !== undefined && clockRestarted(lines, next)) timeline.lateClock = true;

  const khz = Number(marker('tsc-khz', next)?.fields.khz ?? marker('tsc-khz', fromBoot)?.fields.khz);
  const t0 = Number(freeze.fields.tsc);
  const t1 = Number(restored.fields.tsc);
  if (khz > 0 && t0 > 0 && t1 > t0) {
    const guestTscMs = round((t1 - t0) / khz);
    const hostMs = restored.line.ms - freeze.line.ms;
    const deltaMs = round(guestTscMs - hostMs);
    const tolerance = input.tolerance ?? 0.05;
    timeline.guestTscMs = guestTscMs;
    timeline.agreement = { deltaMs, ok: Math.abs(deltaMs) <= Math.max(AGREEMENT_FLOOR_MS, tolerance * hostMs) };
  }
  return timeline;
}

const round = (ms: number) => Math.round(ms * 100) / 100;
