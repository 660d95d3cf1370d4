// Which of the kernel's liveupdate selftests to run on a kernel, in which boot,
// with which guest command lines. Pure logic: the facts about the tests come
// from SelftestBuild (learned from their sources, see kernel/selftests.ts).
//
// Batching is possible: a staged test's stage 1 closes /dev/liveupdate before
// it forks the child that holds its sessions, so the next test's stage 1 can
// open the device in the same boot. Verified under TCG on 7.2.13: the stage 1
// of all four staged tests in one boot, one kexec, the four stage 2 passed.
// What does stop two tests sharing a kexec is a session-name clash: creating a
// session whose name is already in the outgoing list fails with EEXIST
// ("Bail out! ... luo_create_session for state tracking (errno: File exists)").
// Tests that cannot share go to later rounds, chained on the same machine:
// boot 1 runs round 1's stage 1, each later boot runs the previous round's
// stage 2 and then the next round's stage 1, so N rounds cost N kexecs and one
// cold boot. Stage 2 must come first in a boot: a stage 1 whose state session
// is still in the incoming list would take itself for stage 2.
import { ConfigError } from '../errors.ts';
import type { SelftestBuild, SelftestInfo } from './discovery.ts';
import { kselftestExitStatus } from './ktap.ts';
import { shellJoin } from '../guest/shell-quote.ts';
import { missingOptions } from './vfio-modes.ts';

export const DEFAULT_GUEST_SELFTEST_DIR = '/opt/selftests';

/** Printed by every 7.2/7.3 stage 1 once the forked child holds the sessions. */
export const STAGE1_READY_LINE = '[STAGE 1] You may now perform kexec reboot.';
/** Printed by every 7.2/7.3 stage 2 that verified everything (7.3's vmtest.sh greps for it). */
export const STAGE2_PASS_PATTERN = /TEST PASSED/;


export interface KselftestSelection {
  /** Names from --tests; undefined runs them all. */
  tests?: readonly string[];
  /** false (--no-batch): every staged test gets a kexec of its own. Default true. */
  batch?: boolean;
  /** Skip everything when the kernel lacks an option of the selftests' `config`, as vmtest.sh does. Default false: warn. */
  strictConfig?: boolean;
  /** Where the binaries are in the guest. */
  guestDir?: string;
}

export interface GuestCommand {
  test: string;
  /** null for a test without stages. */
  stage: 1 | 2 | null;
  argv: string[];
  /** argv as one shell command line. */
  shell: string;
  /**
   * Run in the foreground and wait for the exit: stage 1 returns by itself once
   * its forked, setsid()'d child holds the session fds (no `setsid ... &`).
   */
  foreground: true;
  /** A line the output carries when all went well (informational; the exit code decides). */
  successLine?: string;
  /** The test drives a PCI device: bind one to vfio-pci before the command and pass its BDF in VFIO_SELFTESTS_BDF. */
  device?: 'vfio-pci';
  /** IOMMU modes (fixture variants) left out with `-V`: the kernel lacks what they open. */
  leftOut?: { mode: string; missing: string[] }[];
}

export interface KexecRound {
  tests: string[];
  /** Why these tests share this kexec, or why a test has one of its own. */
  reason: string;
}

export interface BootStep {
  /** 1 is the cold boot; boot n+1 follows the n-th kexec. */
  boot: number;
  /** In order: direct tests (boot 1 only), stage 2 of the previous round, stage 1 of this boot's round. */
  commands: GuestCommand[];
  /** Whether a kexec (kexec_file_load of the same kernel, reboot(KEXEC)) follows the commands. */
  kexecAfter: boolean;
}

export interface KselftestPlan {
  /** Tests not run: `unsupported` when the kernel lacks what they need, `skip` when the selection (strict config) left them out. */
  skipped: { test: string; reason: string; status: 'skip' | 'unsupported' }[];
  /** Tests without stages; they run in boot 1 before any stage 1, while LUO state is clean. */
  direct: string[];
  rounds: KexecRound[];
  /** Tests that got a round of their own, and why. */
  alone: { test: string; reason: string }[];
  boots: BootStep[];
  warnings: string[];
}

/*
 * What the runner guarantees the guest, for any plan to mean something:
 * - nothing else holds /dev/liveupdate while a selftest runs (one opener at a
 *   time): the agent is told to leave it alone (luo_agent.device=off);
 *   otherwise every staged test exits 4 ("Failed to open /dev/liveupdate")
 *   and liveupdate fails basic_open_close;
 * - the kexec is reboot(LINUX_REBOOT_CMD_KEXEC) straight away, not an init
 *   shutdown: the stage-1 children hold the sessions and must be alive at it;
 * - no stage is ever run to find out which stage the machine is in: the test
 *   claims its state session to check, and exiting on a mismatch finishes
 *   that session, destroying the handed-over state.
 */

function command(t: SelftestInfo, stage: 1 | 2 | null, guestDir: string, leftOut: { mode: string; missing: string[] }[] = []): GuestCommand {
  const args = stage === null ? [] : (t.stageArgs ?? ['-s', 'N']).map((a) => (a === 'N' ? String(stage) : a));
  // kselftest_harness's -V <variant> leaves a fixture variant out.
  const argv = [`${guestDir.replace(/\/+$/, '')}/${t.binary}`, ...args, ...leftOut.flatMap((l) => ['-V', l.mode])];
  const successLine = stage === 1 ? STAGE1_READY_LINE : stage === 2 ? 'TEST PASSED' : undefined;
  return {
    test: t.name,
    stage,
    argv,
    shell: shellJoin(argv),
    foreground: true,
    ...(successLine ? { successLine } : {}),
    ...(t.device ? { device: t.device } : {}),
    ...(leftOut.length ? { leftOut } : {}),
  };
}

/**
 * What a test's IOMMU modes say on this kernel: a mode the test opens itself
 * that the kernel cannot serve makes the whole test unsupported; fixture
 * variants it cannot serve are left out (and reported per mode).
 */
function modesOn(t: SelftestInfo, caps: Record<string, boolean>): { unsupported?: string; leftOut: { mode: string; missing: string[] }[] } {
  const leftOut: { mode: string; missing: string[] }[] = [];
  for (const use of t.modes ?? []) {
    const missing = missingOptions(use.requires, caps);
    if (missing.length === 0) continue;
    if (!use.variant) return { unsupported: `its ${use.mode} IOMMU mode needs ${missing.join(', ')}, which this kernel lacks (the test opens that mode itself, so it cannot be left out)`, leftOut };
    leftOut.push({ mode: use.mode, missing });
  }
  const variants = (t.modes ?? []).filter((u) => u.variant);
  if (variants.length > 0 && leftOut.length === variants.length) {
    return { unsupported: `every IOMMU mode it runs needs what this kernel lacks: ${leftOut.map((l) => `${l.mode} (${l.missing.join(', ')})`).join('; ')}`, leftOut };
  }
  return { leftOut };
}

function selectTests(build: SelftestBuild, wanted: readonly string[] | undefined): SelftestInfo[] {
  if (wanted === undefined) return build.tests;
  const names = [...new Set(wanted.map((w) => w.trim()).filter(Boolean))];
  if (names.length === 0) throw new ConfigError('--tests names no test');
  const known = new Set(build.tests.map((t) => t.name));
  const unknown = names.filter((n) => !known.has(n));
  if (unknown.length > 0) {
    throw new ConfigError(
      `unknown selftest${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; this kernel's liveupdate selftests are: ${[...known].join(', ')}`,
    );
  }
  return build.tests.filter((t) => names.includes(t.name));
}

const CONVERSION = /%[-+ #0]*\d*(?:\.\d+)?(?:hh|h|ll|l|z)?([diuxXs])/g;
const CONVERSION_TEXT: Record<string, string> = { d: '-?\\d+', i: '-?\\d+', u: '\\d+', x: '[0-9a-f]+', X: '[0-9A-F]+', s: '.*' };

/** A printf-style session name (`many-test-%d`) as a regular expression. */
function nameRegex(name: string): RegExp {
  let out = '';
  let last = 0;
  for (const m of name.matchAll(CONVERSION)) {
    out += name.slice(last, m.index).replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + CONVERSION_TEXT[m[1]!];
    last = m.index! + m[0].length;
  }
  return new RegExp(`^${out}${name.slice(last).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
}
const isPattern = (n: string) => new RegExp(CONVERSION.source).test(n);

/** The literal text before the first and after the last conversion. */
function fixedEnds(pattern: string): [string, string] {
  const ms = [...pattern.matchAll(CONVERSION)];
  const lastEnd = ms.at(-1)!.index! + ms.at(-1)![0].length;
  return [pattern.slice(0, ms[0]!.index), pattern.slice(lastEnd)];
}

/** The first pair of session names that could be the same session, if any. */
export function sessionClash(a: readonly string[], b: readonly string[]): [string, string] | null {
  for (const x of a) {
    for (const y of b) {
      if (x === y) return [x, y];
      if (isPattern(x) && !isPattern(y) && nameRegex(x).test(y)) return [x, y];
      if (isPattern(y) && !isPattern(x) && nameRegex(y).test(x)) return [x, y];
      // Two patterns: compare their fixed text; overlapping prefixes and suffixes could meet.
      if (isPattern(x) && isPattern(y)) {
        const [px, sx] = fixedEnds(x);
        const [py, sy] = fixedEnds(y);
        if ((px.startsWith(py) || py.startsWith(px)) && (sx.endsWith(sy) || sy.endsWith(sx))) return [x, y];
      }
    }
  }
  return null;
}



/** Every Kconfig option the tests' requirements name, their modes' included ("A|B" counts as both). */
export function optionsNamed(tests: readonly SelftestInfo[]): string[] {
  return [...new Set(tests.flatMap((t) => [...t.requires, ...(t.modes ?? []).flatMap((m) => m.requires)]).flatMap((r) => r.split('|')))];
}

export function planKselftests(build: SelftestBuild, capabilities: Record<string, boolean>, selection: KselftestSelection = {}): KselftestPlan {
  const guestDir = selection.guestDir ?? DEFAULT_GUEST_SELFTEST_DIR;
  const selected = selectTests(build, selection.tests);
  const skipped: KselftestPlan['skipped'] = [];
  const warnings: string[] = [];

  // The selftests' `config` is a whole-directory fragment (it also asks for
  // debug and test-only options no test needs), so by default a miss warns.
  const configMisses = Object.entries(build.configRequirements)
    .filter(([opt, val]) => (val === 'y' || val === 'm') && capabilities[opt] === false)
    .map(([opt, val]) => `CONFIG_${opt}=${val}`);
  for (const miss of configMisses) {
    if (!selection.strictConfig) warnings.push(`the selftests' config asks for ${miss}, which this kernel lacks; no test needs it to run`);
  }
  const unrecorded = optionsNamed(selected).filter((opt) => capabilities[opt] === undefined);
  if (unrecorded.length > 0) warnings.push(`the artifact does not record ${unrecorded.map((o) => `CONFIG_${o}`).join(', ')}; tests needing them were not skipped`);

  const runnable: SelftestInfo[] = [];
  const leftOut = new Map<string, { mode: string; missing: string[] }[]>();
  for (const t of selected) {
    const missing = missingOptions(t.requires, capabilities);
    const modes = modesOn(t, capabilities);
    if (missing.length > 0) {
      skipped.push({ test: t.name, reason: `needs ${missing.join(', ')}, which this kernel lacks`, status: 'unsupported' });
    } else if (modes.unsupported) {
      skipped.push({ test: t.name, reason: modes.unsupported, status: 'unsupported' });
    } else if (selection.strictConfig && configMisses.length > 0) {
      skipped.push({ test: t.name, reason: `the selftests' config asks for ${configMisses.join(', ')}, which this kernel lacks (strict config)`, status: 'skip' });
    } else {
      runnable.push(t);
      if (modes.leftOut.length) leftOut.set(t.name, modes.leftOut);
    }
  }

  const direct = runnable.filter((t) => !t.staged);
  const staged = runnable.filter((t) => t.staged);
  // First fit: a staged test joins the first open round none of whose tests
  // shares a session name with it; a closed round takes nobody else.
  const groups: { tests: SelftestInfo[]; closedBecause?: string; notes: string[] }[] = [];
  for (const t of staged) {
    const closedBecause =
      selection.batch === false
        ? 'batching is off (--no-batch)'
        : t.sessions === null
          ? 'its session names could not be learned from its source, so sharing a kexec might clash'
          : undefined;
    if (closedBecause) {
      groups.push({ tests: [t], closedBecause, notes: [] });
      continue;
    }
    const clashes: string[] = [];
    let home: (typeof groups)[number] | undefined;
    for (const g of groups) {
      if (g.closedBecause) continue;
      const hit = g.tests.map((o) => [o.name, sessionClash(t.sessions!, o.sessions!)] as const).find(([, c]) => c !== null);
      if (!hit) {
        home = g;
        break;
      }
      const [x, y] = hit[1]!;
      clashes.push(`${hit[0]} (session ${x === y ? `'${x}'` : `'${x}' vs '${y}'`})`);
    }
    const note = clashes.length > 0 ? [`${t.name} clashes with ${clashes.join(', ')}: creating a session name that exists fails with EEXIST`] : [];
    if (home) {
      home.tests.push(t);
      home.notes.push(...note);
    } else groups.push({ tests: [t], notes: note });
  }

  const rounds: KexecRound[] = groups.map((g) => {
    const names = g.tests.map((t) => t.name);
    const why = g.closedBecause
      ? `${names[0]} alone: ${g.closedBecause}`
      : g.tests.length > 1
        ? `${names.join(', ')} share one kexec: each stage 1 releases /dev/liveupdate before its child holds the sessions, and their session names are disjoint`
        : `${names[0]} is the only staged test of this round`;
    return { tests: names, reason: [why, ...g.notes].join('; ') };
  });
  const alone = groups
    .filter((g) => g.tests.length === 1 && (g.closedBecause || g.notes.length > 0) && staged.length > 1)
    .map((g) => ({ test: g.tests[0]!.name, reason: g.closedBecause ?? g.notes.join('; ') }));

  const boots: BootStep[] = [];
  const directCmds = direct.map((t) => command(t, null, guestDir, leftOut.get(t.name)));
  if (rounds.length === 0) {
    if (directCmds.length > 0) boots.push({ boot: 1, commands: directCmds, kexecAfter: false });
  } else {
    for (let i = 0; i <= rounds.length; i++) {
      const commands = [
        ...(i === 0 ? directCmds : []),
        ...(i > 0 ? groups[i - 1]!.tests.map((t) => command(t, 2, guestDir, leftOut.get(t.name))) : []),
        ...(i < groups.length ? groups[i]!.tests.map((t) => command(t, 1, guestDir, leftOut.get(t.name))) : []),
      ];
      boots.push({ boot: i + 1, commands, kexecAfter: i < rounds.length });
    }
  }

  return {
    skipped,
    direct: direct.map((t) => t.name),
    rounds,
    alone,
    boots,
    warnings,
  };
}

export type SelftestVerdict = { status: 'pass' | 'fail' | 'skip'; reason: string };

/** Reads one guest command's outcome: the exit code as kselftestExitStatus reads it, with the test's own message as the reason. */
export function classifySelftestRun(cmd: GuestCommand, exitCode: number | null, output: string): SelftestVerdict {
  const what = cmd.stage === null ? cmd.test : `${cmd.test} stage ${cmd.stage}`;
  const bail = /Bail out!\s*(.*)/.exec(output)?.[1]?.trim();
  const skipMsg = /#\s*SKIP\s+(.*)/.exec(output)?.[1]?.trim();
  if (exitCode === null) return { status: 'fail', reason: `${what} was killed by a signal` };
  const exit = kselftestExitStatus(exitCode);
  if (exit.status === 'pass') {
    // The exit code decides; a missing usual line is worth saying (a newer test may word it differently).
    if (cmd.stage === 1 && !output.includes(STAGE1_READY_LINE)) {
      return { status: 'pass', reason: `${what} exited 0 (it did not print "${STAGE1_READY_LINE}")` };
    }
    if (cmd.stage === 2 && !STAGE2_PASS_PATTERN.test(output)) {
      return { status: 'pass', reason: `${what} exited 0 (it did not print "TEST PASSED")` };
    }
    return { status: 'pass', reason: `${what} passed` };
  }
  if (exit.status === 'skip') return { status: 'skip', reason: `${what} skipped: ${skipMsg ?? 'no reason given'}` };
  return { status: 'fail', reason: `${what} failed (exit ${exitCode}${exit.meaning === 'fail' ? '' : `, ${exit.meaning}`})${bail ? `: ${bail}` : ''}` };
}
