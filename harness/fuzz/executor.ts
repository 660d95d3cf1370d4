// Runs one program against a machine and the model side by side: every call
// is predicted, made, and compared; after each kexec the names that must be
// gone are probed; after the last operation everything that must still exist
// is retrieved and verified, then closed (a clean kernel for the next
// program). The first divergence ends the program.
import { BootError, KernelFault } from '../errors.ts';
import { GuestTimeout } from '../guest/errors.ts';
import { expand, renderOp, type Call, type CallOptions, type FuzzVerb, type Op } from './ops.ts';
import { entitiesOf } from './minimize.ts';
import { matches, renderRuns, Model, outcomeClass, renderOutcome, type Outcome, type Prediction } from './model.ts';

/** A kernel fault the console monitor saw: its kind, its line, the report around it. */
export interface FaultReport {
  kind: string;
  line: string;
  report: string;
}

/** What the executor needs of a machine (a real one in machine.ts; a fake in the unit tests). */
export interface FuzzTarget {
  /** One agent call; its reply as an Outcome. Throws when no reply came (the guest hung, SSH broke). */
  call(verb: FuzzVerb, options: CallOptions, timeoutMs: number): Promise<Outcome>;
  /** A kexec into the same kernel; the agent is up again when it resolves. Throws KexecRefused or the machine's error. */
  kexec(): Promise<void>;
  /** SIGKILL the agent and start a new one; ok when the new one holds /dev/liveupdate again. */
  kill(): Promise<Outcome>;
  /** A kernel fault since the program began (waits briefly for the report to complete when asked). */
  fault(settleMs?: number): Promise<FaultReport | undefined>;
}

/** reboot(LINUX_REBOOT_CMD_KEXEC) returned: the kernel refused the live update. */
export class KexecRefused extends Error {
  constructor(readonly errno: string, message: string) {
    super(message);
    this.name = 'KexecRefused';
  }
}

export type Phase = 'op' | 'probe' | 'audit';

export interface StepRecord {
  phase: Phase;
  /** The operation's index in the program (for probes and the audit: the last operation's). */
  opIndex: number;
  call: Call;
  expected: Outcome[];
  observed: Outcome;
  ms: number;
}

export type DivergenceKind = 'mismatch' | 'crash' | 'hang' | 'kexec-refused';

export interface Divergence {
  kind: DivergenceKind;
  phase: Phase;
  /** Index of the operation it happened in or after (-1: before any). */
  opIndex: number;
  op?: string;
  call?: { verb: string; options: CallOptions; label: string };
  expected?: Outcome[];
  observed?: Outcome;
  /** The model's rule for what it expected. */
  why?: string;
  /** What differs, in a sentence. */
  summary: string;
  /** The console's crash report, for crashes and hangs. */
  report?: string;
  /** The same bug found twice has the same signature (findings are deduplicated by it). */
  signature: string;
  /** The handles, ids and names the diverging call was about (where minimization starts). */
  entities: string[];
}

export interface ProgramRun {
  steps: StepRecord[];
  divergence?: Divergence;
  kexecs: number;
  calls: number;
  /** "label -> outcome" pairs this run reached. */
  pairs: Set<string>;
  ms: number;
}

export interface ExecuteOptions {
  /** Keep every step (a finding wants them; a campaign's passing programs need only counts). */
  keepSteps?: boolean;
}

/** Per-call deadline: filling or verifying a large memfd under TCG takes seconds. */
function timeoutFor(call: Call): number {
  const size = Number(call.kind === 'agent' ? (call.options.size ?? 0) : 0);
  return 60_000 + Math.ceil(size / (1 << 20)) * 1_000;
}

/** The coverage pair of a call and its outcome. */
export const pairOf = (call: Call, o: Outcome) => `${call.label.replace(/^(audit|probe):/, '')} -> ${outcomeClass(o)}`;

function signatureOf(call: Call, expected: Outcome[], observed: Outcome): string {
  const what = call.kind === 'agent' ? call.verb : call.kind;
  const e = expected[0]!;
  if (e.ok && observed.ok) {
    const fields = Object.keys(e.fields).filter((k) => observed.fields[k] !== e.fields[k]);
    return `${what}: ${fields.join(',')} differ`;
  }
  return `${what}: ${expected.map(outcomeClass).join('|')} -> ${outcomeClass(observed)}`;
}

function mismatchSummary(call: Call, p: Prediction, observed: Outcome): string {
  const e = p.expect[0]!;
  const what = call.kind === 'agent' ? call.verb : call.kind;
  if (e.ok && observed.ok) {
    const diffs = Object.keys(e.fields).filter((k) => observed.fields[k] !== e.fields[k]).map((k) => `${k} is ${observed.fields[k]} where the model expects ${e.fields[k]}`);
    return `${what} succeeded, but ${diffs.join(', ')}`;
  }
  return `${what}: expected ${p.expect.map(renderOutcome).join(' or ')}, the kernel gave ${renderOutcome(observed)}`;
}

/** A crash line without what changes between runs (addresses, pids, timestamps), for signatures. */
const normalizeFault = (line: string) =>
  line.replace(/^\[\s*\d+\.\d+\]\s*/, '').replace(/0x[0-9a-f]+|\b[0-9a-f]{8,}\b/gi, 'X').replace(/\b(PID|pid|CPU|Comm):?\s*\S+/g, '$1 X').replace(/\d+/g, 'N').trim().slice(0, 120);

/** What a call is about, in the minimizer's terms: its own operation's entities, or what the model said. */
function entitiesOfCall(call: Call, op?: Op): string[] {
  if (call.kind !== 'agent') return [];
  if (call.about) return call.about;
  if (op) return entitiesOf(op);
  const o = call.options;
  return [o.handle !== undefined ? `h:${o.handle}` : '', o.name !== undefined ? `n:${o.name}` : '', o.memfd !== undefined ? `m:${o.memfd}` : '', o.id !== undefined ? `m:${o.id}` : ''].filter(Boolean);
}

/** An error and its causes, outermost first. */
function causes(error: unknown): unknown[] {
  const out: unknown[] = [];
  for (let e = error, i = 0; e !== undefined && i < 8; e = (e as { cause?: unknown }).cause, i++) out.push(e);
  return out;
}

export async function executeProgram(target: FuzzTarget, ops: readonly Op[], options: ExecuteOptions = {}): Promise<ProgramRun> {
  const started = performance.now();
  const model = new Model();
  const run: ProgramRun = { steps: [], kexecs: 0, calls: 0, pairs: new Set(), ms: 0 };
  const finish = (d?: Divergence): ProgramRun => {
    if (d) run.divergence = d;
    run.ms = Math.round(performance.now() - started);
    return run;
  };

  /** One call: predict, do, compare. Returns a divergence, or nothing when the kernel agreed. */
  const step = async (call: Call, phase: Phase, opIndex: number, op?: Op): Promise<Divergence | undefined> => {
    // The model tells the agent what every page must hold (its seed, fill, writes and holes).
    if (call.kind === 'agent' && call.verb === 'memfd-verify') {
      const e = model.expectationOf(String(call.options.id));
      call = { ...call, options: { ...call.options, seed: e?.seed ?? 0, ...(e ? { fill: e.fill, writes: renderRuns(e.runs) } : {}) } };
    }
    const p = model.predict(call);
    const base = { phase, opIndex, ...(op ? { op: renderOp(op) } : {}), call: { verb: call.kind === 'agent' ? call.verb : call.kind, options: call.kind === 'agent' ? call.options : {}, label: call.label }, entities: entitiesOfCall(call, op) };
    const t0 = performance.now();
    let observed: Outcome;
    try {
      if (call.kind === 'kexec') {
        await target.kexec();
        observed = { ok: true, fields: {} };
        run.kexecs++;
      } else if (call.kind === 'kill') {
        observed = await target.kill();
      } else {
        observed = await target.call(call.verb, call.options, timeoutFor(call));
      }
    } catch (error) {
      const fault = await target.fault(1500);
      const kernelFault = causes(error).find((e): e is KernelFault => e instanceof KernelFault);
      if (fault || kernelFault) {
        const line = fault?.line ?? kernelFault!.message;
        return { ...base, kind: 'crash', expected: p.expect, why: p.why, summary: `the kernel crashed (${fault?.kind ?? 'fault'}) during ${call.label}: ${line}`, report: fault?.report ?? kernelFault?.detail ?? '', signature: `crash: ${fault?.kind ?? 'fault'}: ${normalizeFault(line)}` };
      }
      if (error instanceof KexecRefused) {
        const observedRefusal: Outcome = { ok: false, op: 'reboot', errno: error.errno };
        run.pairs.add(pairOf(call, observedRefusal));
        return { ...base, kind: 'kexec-refused', expected: p.expect, observed: observedRefusal, why: p.why, summary: error.message, signature: `kexec: refused with ${error.errno}` };
      }
      // No reply within the deadline and no crash report: the kernel (or the agent in it) hung.
      // Anything else (QEMU or SSH broke) says nothing about the kernel.
      if (!causes(error).some((e) => e instanceof GuestTimeout || e instanceof BootError)) throw error;
      return { ...base, kind: 'hang', expected: p.expect, why: p.why, summary: `no answer to ${call.label}: ${(error as Error).message}`, report: (error as { detail?: string }).detail ?? '', signature: `hang: ${call.kind === 'agent' ? call.verb : call.kind}` };
    }
    run.calls++;
    run.pairs.add(pairOf(call, observed));
    if (options.keepSteps) run.steps.push({ phase, opIndex, call, expected: p.expect, observed, ms: Math.round(performance.now() - t0) });
    const fault = await target.fault();
    if (fault) return { ...base, kind: 'crash', expected: p.expect, observed, why: p.why, summary: `the kernel reported ${fault.kind} during ${call.label}: ${fault.line}`, report: fault.report, signature: `crash: ${fault.kind}: ${normalizeFault(fault.line)}` };
    const matched = matches(p, observed);
    if (!matched) return { ...base, kind: 'mismatch', expected: p.expect, observed, why: p.why, summary: mismatchSummary(call, p, observed), signature: signatureOf(call, p.expect, observed) };
    model.commit(call, observed);
    return undefined;
  };

  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    for (const call of expand(op)) {
      const d = await step(call, 'op', i, op);
      if (d) return finish(d);
    }
    if (op.op === 'kexec') {
      for (const probe of model.probesAfterKexec()) {
        const d = await step(probe, 'probe', i, op);
        if (d) return finish(d);
      }
    }
  }
  for (const call of model.audit()) {
    const d = await step(call, 'audit', ops.length - 1);
    if (d) return finish(d);
  }
  return finish();
}
