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

/**
 * The late-writes series' patch 1 (tests/fixtures/kernels/memfd-late-writes.json): a page that was
 * fallocated and never written when its memfd was preserved, and written after that, reads zeros
 * after the kexec. The kernel notes such pages by the model's own page objects, which travel with
 * the content through the kexec.
 */
export function lateWritesLost(): Bug {
  /** Pages fallocated and not written yet, per file. */
  const notUptodate = new Map<number, Set<number>>();
  /** The same, frozen at each file's PRESERVE_FD. */
  const atPreserve = new Map<number, Set<number>>();
  const lost = new WeakSet<object>();
  const objOf = (k: ModelKernel, id: string) => k.model.memfds().find((x) => x.id === id);
  return (call, o, k) => {
    if (call.kind !== 'agent' || !o.ok) return o;
    const c = call.options;
    const pages = (first: unknown, count: unknown) => Array.from({ length: Number(count) }, (_, i) => Number(first) + i);
    const m = objOf(k, String(c.id ?? c.name ?? c.memfd));
    if (call.verb === 'memfd-create' && c.fill === 'fallocate' && m) notUptodate.set(m.obj.oid, new Set(pages(0, Math.ceil(m.obj.size / 4096))));
    if (call.verb === 'memfd-fallocate' && m) {
      const set = notUptodate.get(m.obj.oid) ?? new Set<number>();
      for (const p of pages(c.first, c.pages)) {
        if (c.punch === true) set.delete(p);
        else if (!m.obj.over.has(p) && p * 4096 >= m.obj.valid) set.add(p);
      }
      notUptodate.set(m.obj.oid, set);
    }
    if (call.verb === 'raw-preserve' && c.memfd !== undefined) {
      const pm = objOf(k, String(c.memfd));
      if (pm) atPreserve.set(pm.obj.oid, new Set(notUptodate.get(pm.obj.oid) ?? []));
    }
    if (call.verb === 'memfd-write' && m) {
      const frozen = m.preserved ? atPreserve.get(m.obj.oid) : undefined;
      for (const p of pages(c.first, c.pages)) {
        notUptodate.get(m.obj.oid)?.delete(p);
        if (frozen?.has(p)) lost.add(m.obj.over.get(p)!);
      }
    }
    if (call.verb === 'memfd-verify' && m && k.retrieved.has(String(c.id))) {
      let extra = 0;
      for (const [, content] of m.obj.over) if (lost.has(content)) extra++;
      if (extra) return { ok: true, fields: { ...o.fields, mismatched_pages: Number(o.fields.mismatched_pages) + extra } };
    }
    return o;
  };
}

/** The late-writes series' patch 2: fallocate() goes through on a preserved memfd (a punch on a sealed one stays EPERM). */
export const fallocateOnFrozen: Bug = (call, o, k) => {
  if (call.kind !== 'agent' || call.verb !== 'memfd-fallocate' || o.ok || o.errno !== 'EPERM') return o;
  const m = k.model.memfds().find((x) => x.id === String(call.options.id));
  return m?.preserved && !(call.options.punch === true && m.obj.sealed) ? { ok: true, fields: {} } : o;
};

/** Both bugs of the late-writes kernel. */
export function lateWritesKernel(): Bug {
  const lost = lateWritesLost();
  return (call, o, k) => fallocateOnFrozen(call, lost(call, o, k), k);
}
