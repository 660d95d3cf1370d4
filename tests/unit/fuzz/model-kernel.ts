// A kernel for unit tests: it does exactly what the model predicts, except
// where a planted bug says otherwise. Lets the executor and the minimizer be
// tested without a VM.
import { Model, type Outcome } from '../../../harness/fuzz/model.ts';
import type { Call, CallOptions, FuzzVerb } from '../../../harness/fuzz/ops.ts';
import type { FaultReport, FuzzTarget } from '../../../harness/fuzz/executor.ts';

/** A planted bug: how it changes what the kernel answers to a call. */
export type Bug = (call: Call, outcome: Outcome, kernel: ModelKernel) => Outcome;

export class ModelKernel implements FuzzTarget {
  model = new Model();
  calls: Call[] = [];
  /** Ids of memfds that came back through a kexec (a bug may treat them differently). */
  retrieved = new Set<string>();
  fault_: FaultReport | undefined;

  constructor(readonly bug?: Bug) {}

  async #do(call: Call): Promise<Outcome> {
    this.calls.push(call);
    const p = this.model.predict(call);
    const honest = p.expect[0]!;
    this.model.commit(call, honest);
    if (call.kind === 'agent' && call.verb === 'raw-retrieve' && honest.ok) this.retrieved.add(String(call.options.id));
    return this.bug ? this.bug(call, honest, this) : honest;
  }

  call(verb: FuzzVerb, options: CallOptions): Promise<Outcome> {
    return this.#do({ kind: 'agent', verb, options, label: verb });
  }

  async kexec(): Promise<void> {
    await this.#do({ kind: 'kexec', label: 'kexec' });
  }

  kill(): Promise<Outcome> {
    return this.#do({ kind: 'kill', label: 'kill' });
  }

  async fault(): Promise<FaultReport | undefined> {
    return this.fault_;
  }
}

/** The planted series' patch 4: a sealed memfd comes back one page short. */
export const sealedOnePageShort: Bug = (call, o, k) => {
  if (!o.ok || call.kind !== 'agent' || o.fields.seals !== 15) return o;
  const id = String(call.options.id);
  if (call.verb === 'raw-retrieve' || (call.verb === 'memfd-verify' && k.retrieved.has(id))) {
    const pages = Math.ceil(Number(o.fields.size) / 4096);
    return { ok: true, fields: { ...o.fields, size: pages ? (pages - 1) * 4096 : 0 } };
  }
  return o;
};

/** The planted series' patch 3: memfds of 32 MiB and more are refused at preserve time (no handler takes them). */
export const refuses32M: Bug = (call, o, k) => {
  if (!o.ok || call.kind !== 'agent' || call.verb !== 'raw-preserve' || call.options.memfd === undefined) return o;
  const m = k.model.memfds().find((x) => x.id === String(call.options.memfd));
  // The model has already committed the preserve: its memfd is the one just preserved.
  return m && m.obj.size >= 32 << 20 ? { ok: false, op: 'LIVEUPDATE_SESSION_PRESERVE_FD', errno: 'ENOENT' } : o;
};

/** Both bugs of the planted kernel (tests/fixtures/kernels/memfd-bugs.json). */
export const plantedKernel: Bug = (call, o, k) => sealedOnePageShort(call, refuses32M(call, o, k), k);
