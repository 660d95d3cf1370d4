// The readiness contract after every boot and kexec. sshd answers before init
// has mounted the shares (it starts first, to shorten the blackout), and the
// agent says agent-ready before init is done: neither means the guest is
// ready. init's `guest-ready` line does: it comes once every share was
// tried, /tmp and devpts are mounted, sshd listens with a seeded RNG and the
// agent has restored and listens. Nothing runs in a new boot before it.
//
// When the line does not come, or comes without a resource the next step
// needs, the error says which resource and since when, from the boot's own
// markers: never a shell's "not found" later on.
import { BootError, HarnessError } from '../errors.ts';
import type { ConsoleMonitor, Marker } from '../vm/console-monitor.ts';

export interface ReadyNeeds {
  /** The boot that must say it is ready (0: the cold boot, n: after the n-th kexec). */
  boot: number;
  /** 9p shares the next steps read: each must be mounted. */
  shares: readonly { tag: string; mount: string }[];
  /** The in-guest agent must be up (every harness image has one). */
  agent: boolean;
  deadlineMs: number;
}

export interface GuestReady {
  boot: number;
  /** Host ms of the guest-ready line, on the console's clock. */
  ms: number;
  shares: string[];
}

/** Waits for `guest-ready` of `needs.boot` and checks that it holds what the caller needs. */
export async function waitForGuestReady(console: ConsoleMonitor, needs: ReadyNeeds): Promise<GuestReady> {
  let marker: Marker;
  try {
    marker = await console.waitForMarker('guest-ready', { boot: needs.boot, deadlineMs: needs.deadlineMs });
  } catch (error) {
    // A crash or a dead QEMU says more than what was missing; a plain deadline says less.
    if (!(error instanceof BootError)) throw error;
    throw new BootError(`Boot ${needs.boot} did not say it was ready within ${needs.deadlineMs} ms: ${missing(console, needs).join('; ') || 'init printed no guest-ready line'}.`, {
      cause: error,
      ...(error instanceof HarnessError && error.detail ? { detail: error.detail } : {}),
    });
  }
  const list = (v: string | undefined) => (v ? v.split(',').filter(Boolean) : []);
  const shares = list(marker.fields.shares);
  const problems: string[] = [];
  for (const s of needs.shares) if (!shares.includes(s.tag)) problems.push(shareProblem(console, needs.boot, s, marker.line.ms));
  if (needs.agent && marker.fields.agent !== 'ready') problems.push(agentProblem(console, needs.boot, marker.fields.agent));
  if (problems.length > 0) {
    throw new BootError(`Boot ${needs.boot} came up without what the next step needs: ${problems.join('; ')}.`, { detail: console.tail() });
  }
  return { boot: needs.boot, ms: marker.line.ms, shares };
}

/** What `needs` lacks in `boot` so far, each as a phrase that says since when. */
export function missing(console: ConsoleMonitor, needs: Omit<ReadyNeeds, 'deadlineMs'>, now = Number(process.hrtime.bigint() - console.origin) / 1e6): string[] {
  const first = (name: string) => console.markers(name, needs.boot)[0];
  const init = first('init');
  if (!init) {
    const began = console.boots.find((b) => b.boot === needs.boot)?.line.ms;
    return [began === undefined ? `the kernel of boot ${needs.boot} never started` : `init never started (the kernel started ${secs(now - began)} ago)`];
  }
  const out: string[] = [];
  for (const s of needs.shares) {
    const mounted = console.markers('share-mounted', needs.boot).some((m) => m.fields.tag === s.tag);
    if (!mounted) out.push(shareProblem(console, needs.boot, s, now));
  }
  if (!first('sshd-ready')) out.push(`sshd not ready, missing since init started ${secs(now - init.line.ms)} ago`);
  if (needs.agent && !first('agent-ready')) out.push(agentProblem(console, needs.boot, undefined, now));
  return out;
}

function shareProblem(console: ConsoleMonitor, boot: number, share: { tag: string; mount: string }, now: number): string {
  const what = `the share '${share.tag}' at ${share.mount}`;
  const failed = console.markers('share-failed', boot).find((m) => m.fields.tag === share.tag);
  const init = console.markers('init', boot)[0];
  if (failed) return `${what} could not be mounted (share-failed ${init ? `${secs(failed.line.ms - init.line.ms)} after init started` : ''})`;
  return `${what} is not mounted, missing since init started ${init ? `${secs(now - init.line.ms)} ago` : '(never)'}`;
}

function agentProblem(console: ConsoleMonitor, boot: number, state: string | undefined, now?: number): string {
  const errors = console.markers('agent-error', boot).map((m) => `${m.fields.op ?? '?'}: ${m.fields.errno_name ?? m.fields.errno ?? '?'}`);
  const why = errors.length ? ` (agent-error ${errors.join(', ')})` : '';
  if (state === 'failed') return `the agent failed to start${why}`;
  if (state === 'none') return 'the image has no agent';
  const init = console.markers('init', boot)[0];
  const since = init && now !== undefined ? `, missing since init started ${secs(now - init.line.ms)} ago` : '';
  return `the agent is not listening${since}${why}`;
}

const secs = (ms: number) => `${(Math.max(0, ms) / 1000).toFixed(1)} s`;
