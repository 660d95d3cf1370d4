import test from 'ava';
import { iterationMetrics, overallVerdict, worstStatus, type Status } from '../../../harness/report/result.ts';
import { iteration } from './synthetic.ts';

const of = (...statuses: Status[]) => ({ scenarios: statuses.map((status, i) => ({ name: `s${i}`, status })) });

test('exit codes and their precedence', (t) => {
  t.is(overallVerdict(of('pass', 'pass')).exitCode, 0);
  t.is(overallVerdict(of('pass', 'skip', 'unsupported')).exitCode, 0);
  t.is(overallVerdict(of('skip', 'unsupported')).exitCode, 4);
  t.is(overallVerdict(of()).exitCode, 4);
  t.is(overallVerdict(of('pass', 'error')).exitCode, 3);
  t.is(overallVerdict(of('skip', 'error')).exitCode, 3);
  // A failure outranks an infra error elsewhere.
  t.is(overallVerdict(of('error', 'fail', 'pass')).exitCode, 1);
  // A regression fails an otherwise green run.
  t.is(overallVerdict(of('pass'), { regressions: 1 }).exitCode, 1);
  t.is(overallVerdict(of('fail'), { inputErrors: ['unknown scenario "x"'] }).exitCode, 2);
});

test('headlines name what broke', (t) => {
  t.is(overallVerdict(of('pass', 'fail', 'error')).headline, '1 of 3 scenario(s) failed: s1; 1 infrastructure error(s): s2');
  t.is(overallVerdict(of('pass'), { regressions: ['a/blackout.totalMs'] }).headline, '1 metric regression(s): a/blackout.totalMs');
  t.is(overallVerdict(of('pass', 'skip')).headline, 'All 1 scenario(s) passed (1 skipped or unsupported)');
  t.is(overallVerdict(of('unsupported')).headline, 'Nothing ran: all 1 scenario(s) were skipped or unsupported');
  t.deepEqual(overallVerdict(of('pass', 'fail', 'fail')).counts, { pass: 1, fail: 2, error: 0, skip: 0, unsupported: 0 });
});

test('worstStatus follows the same order', (t) => {
  t.is(worstStatus(['pass', 'error', 'fail']), 'fail');
  t.is(worstStatus(['pass', 'error']), 'error');
  t.is(worstStatus(['skip', 'pass']), 'pass');
  t.is(worstStatus(['skip', 'unsupported']), 'unsupported');
  t.is(worstStatus([]), 'skip');
});

test('iterationMetrics names every phase', (t) => {
  const m = iterationMetrics({ ...iteration(1, 2000), metrics: { verifyMs: 12, bogus: NaN } });
  t.deepEqual(Object.keys(m).sort(), [
    'blackout.guestTscMs',
    'blackout.kernelBootMs',
    'blackout.purgatoryMs',
    'blackout.restoreMs',
    'blackout.serviceMs',
    'blackout.shutdownMs',
    'blackout.totalMs',
    'verifyMs',
  ]);
  t.is(m['blackout.totalMs'], 2000);
});
