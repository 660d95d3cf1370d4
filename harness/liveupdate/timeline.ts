// The blackout of one live update, from host-timestamped console lines: the
// host clock is the reference; the guest's TSC, which runs on across kexec,
// is a second opinion on the freeze -> restored span.
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
  /** Allowed disagreement between host and guest clocks, as a fraction (default 5%). */
  tolerance?: number;
}

/** Host and guest spans may differ by this much in absolute terms before a 5% rule bites (console latency). */
const AGREEMENT_FLOOR_MS = 20;

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

  const ends = [kexec.ms, banner.ms, init.line.ms, restored.line.ms, Math.max(sshReadyMs, restored.line.ms)];
  // Each event must follow the one before: a line out of order means the console (or its clock) cannot be trusted.
  const events = ['the freeze marker', '"Starting new kernel"', `the banner of boot ${next}`, `the init marker of boot ${next}`, `the agent's restored marker of boot ${next}`];
  [freeze.line.ms, ...ends.slice(0, 4)].forEach((ms, i, all) => {
    if (i > 0 && ms < all[i - 1]!) throw new TestFailure(`blackout timeline: ${events[i]} (${ms} ms) comes before ${events[i - 1]} (${all[i - 1]} ms) on the console`);
  });
  let from = freeze.line.ms;
  const phases = BLACKOUT_PHASES.map((name, i) => {
    const ms = round(ends[i]! - from);
    from = ends[i]!;
    return { name, ms };
  });
  const timeline: BlackoutTimeline = { totalMs: round(ends[4]! - freeze.line.ms), phases };

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
