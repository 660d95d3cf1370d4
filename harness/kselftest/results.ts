// From what a selftest printed and how it exited to the harness's checks and
// status. Pure: the runner (kselftest-run.ts) feeds it guest output.
import { combineStatuses, STATUS_PRECEDENCE, type Check, type Status } from '../report/result.ts';
import { ktapChecks, ktapVerdict, parseKtap } from './ktap.ts';
import { classifySelftestRun, type GuestCommand } from './plan.ts';

/** What a check of one command is called: `stage 1`, `stage 2`, or the test's own name for a test without stages. */
export function stageLabel(cmd: Pick<GuestCommand, 'test' | 'stage'>): string {
  return cmd.stage === null ? cmd.test : `stage ${cmd.stage}`;
}

/**
 * The checks of one guest command. A KTAP stream (the `liveupdate` test)
 * gives one check per test case, plus one for the exit status when that says
 * worse than the cases do; output without TAP results (the staged tests print
 * `# [STAGE n]` lines and at most a Bail out!) gives one check from the exit code.
 */
export function commandChecks(cmd: GuestCommand, exitCode: number | null, output: string): Check[] {
  const label = stageLabel(cmd);
  const doc = parseKtap(output);
  if (doc.results.length > 0) {
    const prefix = cmd.stage === null ? '' : `${label}/`;
    const checks: Check[] = ktapChecks(doc).map((c) => ({ ...c, name: prefix + c.name, scope: 'case' as const }));
    const verdict = ktapVerdict(doc, exitCode ?? 137);
    const worst = testStatus(checks);
    if (verdict.status !== worst && rank(verdict.status) < rank(worst)) {
      checks.push({ name: `${label}: exit status`, status: verdict.status, message: verdict.reason ?? `exit ${exitCode ?? 'by signal'}` });
    }
    return checks;
  }
  const v = classifySelftestRun(cmd, exitCode, output);
  return [{ name: label, status: v.status, ...(v.status === 'pass' && !/did not print/.test(v.reason) ? {} : { message: v.reason }) }];
}

const rank = (s: Status) => STATUS_PRECEDENCE.indexOf(s);

/**
 * A selftest's status from its checks: the one precedence (combineStatuses),
 * and one rule on top: a stage that skipped makes the whole test a skip, since
 * a stage 1 that passed proves nothing when stage 2 could not run. A case the
 * program skipped itself (SKIP() in a run that exited 0) is not a stage: as
 * kselftest does, the run's exit status speaks for the program.
 */
export function testStatus(checks: readonly (Status | Pick<Check, 'status' | 'scope'>)[]): Status {
  if (checks.length === 0) return 'error';
  const all = checks.map((c) => (typeof c === 'string' ? { status: c } : c));
  const status = combineStatuses(all.map((c) => c.status));
  return status === 'pass' && all.some((c) => c.status === 'skip' && c.scope !== 'case') ? 'skip' : status;
}

/** The reason to show: the first check that decided a non-pass status. */
export function testReason(checks: readonly Check[]): string | undefined {
  const status = testStatus(checks);
  if (status === 'pass') return undefined;
  const decisive = checks.find((c) => c.status === status);
  return decisive ? `${decisive.name}: ${decisive.message ?? decisive.status}` : undefined;
}

/** The last lines of a console, trimmed for a check message. */
export function consoleExcerpt(tail: string, lines = 15): string {
  return tail.split('\n').slice(-lines).join('\n');
}
