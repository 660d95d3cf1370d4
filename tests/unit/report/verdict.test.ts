import test from 'ava';
import { capabilityVerdicts, combineStatuses, iterationMetrics, overallVerdict, type Status } from '../../../harness/report/result.ts';
import { iteration } from './synthetic.ts';
import type { Comparison, MetricVerdict } from '../../../harness/report/baseline.ts';

const of = (...statuses: Status[]) => ({ scenarios: statuses.map((status, i) => ({ name: `s${i}`, status })) });
const verdict = (key: string, kind: MetricVerdict['kind']): MetricVerdict => ({ key, kind, gated: true, threshold: { relative: 0.1 }, sentence: key });
function gate(regressed: string[], undecided: string[], strict = false) {
  const regressions = regressed.map((k) => verdict(k, 'regression'));
  const open = undecided.map((k) => verdict(k, 'insufficient-evidence'));
  const comparison: Comparison = { verdicts: [...regressions, ...open], regressions, undecided: open, outcome: regressions.length ? 'regression' : open.length ? 'insufficient-evidence' : 'pass' };
  return { strict, comparison };
}

test('exit codes and their precedence', (t) => {
  t.is(overallVerdict(of('pass', 'pass')).exitCode, 0);
  t.is(overallVerdict(of('pass', 'skip', 'unsupported')).exitCode, 0);
  t.is(overallVerdict(of('skip', 'unsupported')).exitCode, 4);
  t.is(overallVerdict(of()).exitCode, 4);
  t.is(overallVerdict(of('pass', 'error')).exitCode, 3);
  t.is(overallVerdict(of('skip', 'error')).exitCode, 3);
  // A failure outranks an infra error elsewhere.
  t.is(overallVerdict(of('error', 'fail', 'pass')).exitCode, 1);
  // A gated regression fails an otherwise green run; not enough evidence fails it only when strict.
  t.is(overallVerdict({ ...of('pass'), gate: gate(['a/blackout.totalMs'], []) }).exitCode, 1);
  t.is(overallVerdict({ ...of('pass'), gate: gate([], ['a/blackout.totalMs']) }).exitCode, 0);
  t.is(overallVerdict({ ...of('pass'), gate: gate([], ['a/blackout.totalMs'], true) }).exitCode, 1);
});

test('headlines name what broke', (t) => {
  t.is(overallVerdict(of('pass', 'fail', 'error')).headline, '1 of 3 scenario(s) failed: s1; 1 infrastructure error(s): s2');
  t.is(overallVerdict({ ...of('pass'), gate: gate(['a/blackout.totalMs'], []) }).headline, '1 metric regression(s): a/blackout.totalMs');
  t.is(overallVerdict({ ...of('pass'), gate: gate([], ['b/blackout.totalMs']) }).headline, '1 passed; gate: not enough evidence to judge b/blackout.totalMs');
  t.is(overallVerdict({ ...of('pass'), gate: gate([], ['b/blackout.totalMs'], true) }).headline, 'not enough evidence to judge b/blackout.totalMs (--strict)');
  t.is(overallVerdict(of('pass', 'skip')).headline, '1 passed, 1 skipped (s1)');
  t.is(overallVerdict(of('pass', 'pass', 'pass', 'unsupported')).headline, '3 passed, 1 unsupported (s3)');
  t.is(overallVerdict(of('unsupported')).headline, 'Nothing passed: 1 unsupported (s0)');
  t.deepEqual(overallVerdict(of('pass', 'fail', 'fail')).counts, { pass: 1, fail: 2, error: 0, skip: 0, unsupported: 0 });
});

test('one precedence: a failure outranks everything, unsupported outranks a pass, a pass outranks a skip', (t) => {
  t.is(combineStatuses(['pass', 'error', 'fail']), 'fail');
  t.is(combineStatuses(['pass', 'error']), 'error');
  t.is(combineStatuses(['skip', 'pass']), 'pass');
  t.is(combineStatuses(['pass', 'unsupported']), 'unsupported');
  t.is(combineStatuses(['skip', 'unsupported']), 'unsupported');
  t.is(combineStatuses([]), 'skip');
});

test('per-capability verdicts: one capability\'s unsupported does not hide another\'s pass', (t) => {
  const v = capabilityVerdicts([
    { name: 'preserve the guest-memory memfd', status: 'pass', capability: 'memfd' },
    { name: 'preserve the VFIO device fd', status: 'pass', capability: 'vfio-device' },
    { name: 'preserve the iommufd', status: 'unsupported', message: 'ENOENT', capability: 'iommufd' },
    { name: 'edu DMA', status: 'pass' },
    { name: 'memfd intact after the kexec', status: 'pass', capability: 'memfd' },
    { name: 'retrieved device answers GET_INFO', status: 'fail', message: 'ENOTTY', capability: 'vfio-device' },
  ]);
  t.deepEqual(v, [
    { name: 'memfd', status: 'pass' },
    { name: 'vfio-device', status: 'fail', reason: 'retrieved device answers GET_INFO: ENOTTY' },
    { name: 'iommufd', status: 'unsupported', reason: 'preserve the iommufd: ENOENT' },
  ]);
});

test('iterationMetrics names every phase', (t) => {
  const m = iterationMetrics({ ...iteration(1, 2000), metrics: { verifyMs: 12, bogus: NaN } });
  t.deepEqual(Object.keys(m).sort(), [
    'blackout.guestTscMs',
    'blackout.kernelInitMs',
    'blackout.kexecJumpMs',
    'blackout.restoreMs',
    'blackout.serviceMs',
    'blackout.shutdownMs',
    'blackout.totalMs',
    'blackout.userspaceInitMs',
    'verifyMs',
  ]);
  t.is(m['blackout.totalMs'], 2000);
});
