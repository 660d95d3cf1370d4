// A campaign or a replay in the result model every report reads: one result
// for the campaign (its figures; pass when it ran and confirmed nothing, fail
// beside a confirmed finding), one failed result per
// confirmed finding, an error per divergence that did not come back on a
// fresh machine (the harness could not judge it).
import type { Artifact, Check, ScenarioResult } from '../report/result.ts';
import { renderProgram } from './ops.ts';
import { renderOutcome } from './model.ts';
import type { CampaignResult, ReplayResult } from './campaign.ts';
import type { Finding } from './finding.ts';

const artifactsOf = (f: Finding, dir: string): Artifact[] => [
  { name: `finding ${f.id}`, path: `${dir}/finding-${f.id}.json` },
  ...f.consoleLogs.map((c) => ({ name: c.replace(/^finding-\d+-/, '').replace(/\.log$/, '').replace(/-/g, ' '), path: `${dir}/${c}` })),
];

function findingChecks(f: Finding): Check[] {
  const d = f.minimized?.divergence ?? f.divergence;
  const checks: Check[] = [
    {
      name: `${d.phase === 'op' ? `operation ${d.opIndex + 1} (${d.op ?? '?'})` : d.phase === 'probe' ? `the probe after operation ${d.opIndex + 1}` : 'the final audit'}: ${d.call?.label ?? d.kind}`,
      status: 'fail',
      message: [d.summary, d.expected ? `expected: ${d.expected.map(renderOutcome).join(' or ')}` : '', d.observed ? `observed: ${renderOutcome(d.observed)}` : '', d.why ? `rule: ${d.why}` : '', d.report ? `console:\n${d.report.split('\n').slice(0, 40).join('\n')}` : '']
        .filter(Boolean)
        .join('\n'),
    },
    { name: 'reproduced on a fresh machine', status: f.reproduced ? 'pass' : 'error', ...(f.reproduced ? {} : { message: 'the same program did not diverge again' }) },
  ];
  if (f.minimized) {
    checks.push({ name: `minimized to ${f.minimized.ops.length} of ${f.program.length} operations (${f.minimized.runs} runs)`, status: 'pass', message: renderProgram(f.minimized.ops) });
  } else if (f.reproduced) {
    checks.push({ name: 'minimized', status: 'skip', message: 'not minimized' });
  }
  return checks;
}

function findingResult(f: Finding, dir: string): ScenarioResult {
  const d = f.minimized?.divergence ?? f.divergence;
  return {
    name: `fuzz/finding-${f.id}: ${f.title}`,
    status: f.reproduced ? 'fail' : 'error',
    reason: f.reproduced ? d.summary : `diverged once but not when re-run on a fresh machine: ${d.summary}`,
    durationMs: f.minimized?.ms ?? 0,
    checks: findingChecks(f),
    iterations: [],
    artifacts: artifactsOf(f, dir),
    kernel: f.kernel.recipe,
    params: { seed: f.seed, programIndex: f.programIndex, programSeed: f.programSeed, signature: f.divergence.signature, occurrences: f.occurrences, operations: f.program.length, ...(f.minimized ? { minimizedOperations: f.minimized.ops.length } : {}) },
  };
}

/** The campaign's results: its own (figures, infra stop), then one per finding. `dir` is the findings' directory relative to the results directory. */
export function campaignResults(c: CampaignResult, recipe: string, seed: number, dir = 'findings'): ScenarioResult[] {
  const s = c.stats;
  const cov = s.coverage;
  const edges = cov ? `, ${cov.edges} gcov edges of the live-update code taken (${cov.guided ? `guided: corpus of ${cov.corpus}, ${cov.mutated} programs carried one on` : 'unguided'})` : '';
  const figures = `${s.programs} programs, ${s.kexecs} kexecs, ${s.calls} calls, ${s.pairs.length} distinct (operation, outcome) pairs${edges}, ${c.findings.length} finding(s)`;
  const confirmed = c.findings.filter((f) => f.reproduced);
  const named = confirmed.map((f) => `finding-${f.id}: ${f.title}`).join('; ');
  const summary: ScenarioResult = {
    name: `fuzz/${recipe}`,
    status: c.stoppedBy === 'infra' ? 'error' : confirmed.length ? 'fail' : s.programs > 0 ? 'pass' : 'skip',
    ...(c.stoppedBy === 'infra'
      ? { reason: `the campaign stopped after ${s.programs} programs: ${c.infraError}` }
      : confirmed.length
        ? { reason: `${confirmed.length} finding(s) confirmed on a fresh machine: ${named}` }
        : s.programs === 0
          ? { reason: 'no program ran' }
          : {}),
    durationMs: s.elapsedMs,
    checks: [
      { name: figures, status: s.programs > 0 ? 'pass' : 'skip' },
      { name: 'no divergence from the model confirmed on a fresh machine', status: confirmed.length ? 'fail' : 'pass', ...(confirmed.length ? { message: named } : {}) },
      { name: `stopped by ${c.stoppedBy}`, status: c.stoppedBy === 'infra' ? 'error' : 'pass', ...(c.infraError ? { message: c.infraError } : {}) },
      ...(s.infraRetries.length ? [{ name: `${s.infraRetries.length} program(s) re-run after a host failure`, status: 'pass' as const, message: s.infraRetries.join('\n') }] : []),
    ],
    iterations: [],
    artifacts: [],
    kernel: recipe,
    params: { seed, programs: s.programs, kexecs: s.kexecs, calls: s.calls, boots: s.boots, findingRuns: s.findingRuns, findings: c.findings.length, infraRetries: s.infraRetries, pairs: s.pairs, ...(cov ? { coverage: cov } : {}) },
  };
  return [summary, ...c.findings.map((f) => findingResult(f, dir))];
}

/** A replay: fail when the finding reproduced (exit 1, as the bug is still there), pass when it did not. */
export function replayResults(r: ReplayResult, dir = 'replay'): ScenarioResult[] {
  const d = r.run.divergence;
  const want = (r.finding.minimized?.divergence ?? r.finding.divergence).signature;
  const checks: Check[] = [
    {
      name: `diverges as finding ${r.finding.id} did (${want})`,
      status: r.reproduced ? 'fail' : 'pass',
      message: d ? [d.summary, d.why ? `rule: ${d.why}` : '', d.report ? `console:\n${d.report}` : ''].filter(Boolean).join('\n') : 'the program ran as the model expects',
    },
  ];
  if (d && !r.reproduced) checks.push({ name: `a different divergence: ${d.signature}`, status: 'fail', message: d.summary });
  return [
    {
      name: `fuzz/replay of finding ${r.finding.id}: ${r.finding.title}`,
      status: r.reproduced || d ? 'fail' : 'pass',
      ...(d ? { reason: r.reproduced ? `reproduced: ${d.summary}` : `diverged differently: ${d.summary}` } : {}),
      durationMs: r.run.ms,
      checks,
      iterations: [],
      artifacts: r.consoleLogs.map((c) => ({ name: c.replace(/\.log$/, '').replace(/-/g, ' '), path: `${dir}/${c}` })),
      kernel: r.finding.kernel.recipe,
      params: { operations: r.ops.length, signature: want, kexecs: r.run.kexecs },
    },
  ];
}
