// A TAP 13/14 and KTAP 1 parser for the kernel's kselftests (kselftest.h,
// kselftest_harness.h and the kselftest runner). Lenient like the kernel's
// own tools: unknown lines become diagnostics, never parse errors, because a
// guest console interleaves printk output with test output.
import type { Check, Status } from '../report/result.ts';

export type KtapStatus = 'pass' | 'fail' | 'skip' | 'xfail' | 'xpass' | 'todo' | 'error';

export interface KtapResult {
  number: number;
  name: string;
  status: KtapStatus;
  /** The directive word as written (`SKIP`, `XFAIL`, `TODO`, `error`, `XPASS`, `TIMEOUT`), if any. */
  directive?: string;
  /** Directive text, or the kselftest `#  message` after a plain result. */
  reason?: string;
  /** Diagnostic lines (without `# `) printed since the previous result: kselftest prints them before the result line. */
  diagnostics: string[];
  /** A TAP 14 YAML block following the result, raw. */
  yaml?: string;
  subtests?: KtapDocument;
  /** 1-based line of the result in the input; absent for results synthesised for a truncated run. */
  line?: number;
}

export interface KtapDocument {
  /** `TAP version 13`, `TAP version 14`, `KTAP version 1`. */
  version?: string;
  /** From a `# Subtest: name` header. */
  name?: string;
  plan?: { count: number; skipReason?: string };
  results: KtapResult[];
  bailOut?: string;
  /** Diagnostics after the last result (kselftest's `# Totals: ...`). */
  diagnostics: string[];
  /** Things that are wrong with the stream itself. */
  problems: string[];
}

interface Line {
  no: number;
  indent: number;
  text: string;
}

const KERNEL_TIMESTAMP = /^\[\s*\d+\.\d+\] ?/;

export function parseKtap(input: string): KtapDocument {
  const lines: Line[] = [];
  input.split('\n').forEach((raw, i) => {
    const s = raw.replace(/\r$/, '').replace(KERNEL_TIMESTAMP, '');
    if (!s.trim()) return;
    const indent = s.length - s.trimStart().length;
    lines.push({ no: i + 1, indent, text: s.trim() });
  });
  return parseBlock(lines);
}

const RESULT = /^(not ok|ok)(?:\s+(\d+))?(?:\s+(.*))?$/;
const PLAN = /^1\.\.(\d+)\s*(?:#\s*(.*))?$/;
const VERSION = /^(K?TAP version \d+)$/;
const DIRECTIVE = /^(SKIP|TODO|XFAIL|XPASS|error|TIMEOUT)\b\s*(.*)$/i;

function parseBlock(lines: Line[]): KtapDocument {
  const doc: KtapDocument = { results: [], diagnostics: [], problems: [] };
  const base = lines.length ? Math.min(...lines.map((l) => l.indent)) : 0;
  let pending: string[] = [];
  let sub: KtapDocument | undefined;
  let subName: string | undefined;

  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (l.indent > base) {
      // A YAML block belongs to the result just before it.
      if (l.text === '---' && doc.results.length) {
        const yaml: string[] = [];
        let j = i + 1;
        while (j < lines.length && lines[j]!.text !== '...' && lines[j]!.indent > base) yaml.push(lines[j++]!.text);
        doc.results.at(-1)!.yaml = yaml.join('\n');
        i = lines[j]?.text === '...' ? j : j - 1;
        continue;
      }
      // An indented run of lines is a subtest whose result line follows.
      let j = i;
      while (j < lines.length && lines[j]!.indent > base) j++;
      const block = lines.slice(i, j);
      i = j - 1;
      const child = parseBlock(block);
      if (!child.version && !child.plan && !child.results.length && child.bailOut === undefined) {
        // Not TAP at all: a continuation of a diagnostic (KUnit indents the second line of an expectation).
        pending.push(...block.map((x) => x.text.replace(/^#\s?/, '')));
        continue;
      }
      sub = child;
      if (subName && !sub.name) sub.name = subName;
      subName = undefined;
      continue;
    }
    const t = l.text;
    let m: RegExpExecArray | null;
    if ((m = VERSION.exec(t))) {
      if (!doc.version && !doc.results.length) doc.version = m[1]!;
      else pending.push(t);
    } else if ((m = PLAN.exec(t))) {
      const skip = m[2] && /^SKIP\b\s*(.*)$/i.exec(m[2]);
      if (doc.plan) doc.problems.push(`line ${l.no}: a second plan ${t}`);
      else doc.plan = { count: Number(m[1]), ...(skip ? { skipReason: skip[1]!.trim() } : {}) };
    } else if ((m = RESULT.exec(t))) {
      const r = parseResultLine(m, doc.results.length + 1, l.no);
      r.diagnostics = pending;
      pending = [];
      if (sub) {
        r.subtests = sub;
        sub = undefined;
      }
      doc.results.push(r);
    } else if ((m = /^Bail out!\s*(.*)$/i.exec(t))) {
      doc.bailOut = m[1]!.trim();
      // Whatever follows (kselftest prints its totals) is trailer.
      pending.push(...lines.slice(i + 1).map((x) => x.text.replace(/^#\s?/, '')));
      break;
    } else if ((m = /^#\s*Subtest:\s*(.*)$/.exec(t))) {
      if (!doc.results.length && !doc.name && !doc.plan) doc.name = m[1]!.trim();
      else subName = m[1]!.trim();
    } else if (/^# ?(K?TAP version \d+|1\.\.\d+\b.*|Bail out!.*)$/.test(t)) {
      // The kselftest runner nests a program's TAP by prefixing every line with "# ".
      let j = i;
      const nested: string[] = [];
      while (j < lines.length && lines[j]!.indent === base && lines[j]!.text.startsWith('#')) nested.push(lines[j++]!.text.replace(/^# ?/, ''));
      sub = parseKtap(nested.join('\n'));
      if (!sub.name && pending.length) sub.name = pending.at(-1);
      i = j - 1;
    } else {
      pending.push(t.startsWith('#') ? t.replace(/^#\s?/, '') : t);
    }
  }

  if (sub) {
    // A subtest with no result line after it: the output stopped inside it.
    doc.results.push({
      number: doc.results.length + 1,
      name: sub.name ?? 'subtest',
      status: 'error',
      reason: 'truncated: the subtest has no result line',
      diagnostics: pending,
      subtests: sub,
    });
    pending = [];
  }
  doc.diagnostics = pending;
  checkPlan(doc);
  return doc;
}

function parseResultLine(m: RegExpExecArray, fallbackNumber: number, line: number): KtapResult {
  const ok = m[1] === 'ok';
  const number = m[2] ? Number(m[2]) : fallbackNumber;
  const rest = m[3] ?? '';
  // The directive starts at the first `#` not escaped by a backslash.
  const hash = /(^|[^\\])#/.exec(rest);
  const descEnd = hash ? hash.index + hash[1]!.length : rest.length;
  const name = rest.slice(0, descEnd).trim().replace(/^-\s*/, '').replace(/\\#/g, '#');
  const after = hash ? rest.slice(descEnd + 1).trim() : '';
  const r: KtapResult = { number, name, status: ok ? 'pass' : 'fail', diagnostics: [], line };
  const d = DIRECTIVE.exec(after);
  if (d) {
    r.directive = d[1]!;
    if (d[2]) r.reason = d[2].trim();
    const word = d[1]!.toUpperCase();
    if (word === 'SKIP') r.status = 'skip';
    else if (word === 'XFAIL') r.status = 'xfail';
    else if (word === 'XPASS') r.status = 'xpass';
    else if (word === 'TODO') r.status = ok ? 'pass' : 'todo';
    else if (word === 'ERROR') r.status = 'error';
    else if (word === 'TIMEOUT') {
      r.status = 'fail';
      r.reason = `timeout ${r.reason ?? ''}`.trim();
    }
  } else if (after) {
    r.reason = after;
  }
  return r;
}

function checkPlan(doc: KtapDocument): void {
  const got = doc.results.length;
  if (!doc.plan) {
    if (got) doc.problems.push(`no plan line; ${got} result(s) seen`);
    else if (!doc.bailOut) doc.problems.push('no TAP output: neither a plan nor any result');
    return;
  }
  const { count } = doc.plan;
  if (got > count) doc.problems.push(`plan promised ${count}, got ${got}`);
  if (got >= count || doc.plan.skipReason !== undefined) return;
  const seen = new Set(doc.results.map((r) => r.number));
  const why = `truncated: plan promised ${count}, got ${got}` + (doc.bailOut !== undefined ? ` (bail out: ${doc.bailOut})` : '');
  for (let n = 1; n <= count && doc.results.length < count; n++) {
    if (seen.has(n)) continue;
    doc.results.push({ number: n, name: `#${n}`, status: 'error', reason: why, diagnostics: [] });
  }
  doc.results.sort((a, b) => a.number - b.number);
}

/** Results at every depth, named `parent/child`. Parents come after their children, as in the stream. */
export function flattenKtap(doc: KtapDocument, prefix = ''): (KtapResult & { path: string })[] {
  const out: (KtapResult & { path: string })[] = [];
  for (const r of doc.results) {
    const path = prefix + (r.name || `#${r.number}`);
    if (r.subtests) out.push(...flattenKtap(r.subtests, path + '/'));
    out.push({ ...r, path });
  }
  return out;
}

/** KTAP result -> harness status. A KTAP `error` (including truncation) stays `error`: only the caller knows whether the kernel crashed. */
export function harnessStatus(s: KtapStatus): Status {
  switch (s) {
    case 'pass':
    case 'xfail':
    case 'xpass':
    case 'todo':
      return 'pass';
    case 'fail':
      return 'fail';
    case 'skip':
      return 'skip';
    case 'error':
      return 'error';
  }
}

/**
 * The one reading of a kselftest exit code (kselftest.h: 0 pass, 1 fail,
 * 2 xfail, 3 xpass, 4 skip), as the kernel's own runner (runner.sh) reads
 * it: 0 passes, 4 skips, anything else fails. A test's KTAP lines may
 * still say `ok ... # XFAIL` per case; the exit status of the whole program
 * follows the runner.
 */
export function kselftestExitStatus(code: number): { status: Status; meaning: string } {
  switch (code) {
    case 0:
      return { status: 'pass', meaning: 'pass' };
    case 4:
      return { status: 'skip', meaning: 'skip' };
    case 1:
      return { status: 'fail', meaning: 'fail' };
    case 2:
      return { status: 'fail', meaning: 'xfail' };
    case 3:
      return { status: 'fail', meaning: 'xpass' };
    default:
      return { status: 'fail', meaning: code > 128 ? `killed by signal ${code - 128}` : `exit=${code}` };
  }
}

export interface KtapVerdict {
  status: Status;
  reason?: string;
  counts: Record<KtapStatus, number>;
}

/**
 * One status for a whole kselftest program from its top-level results, its
 * exit code when known, and problems of the stream. Precedence as in the
 * run verdict: fail > error > pass > skip.
 */
export function ktapVerdict(doc: KtapDocument, exitCode?: number): KtapVerdict {
  const counts: Record<KtapStatus, number> = { pass: 0, fail: 0, skip: 0, xfail: 0, xpass: 0, todo: 0, error: 0 };
  for (const r of doc.results) counts[r.status]++;
  const exit = exitCode === undefined ? undefined : kselftestExitStatus(exitCode);
  const failed = doc.results.filter((r) => r.status === 'fail');
  const errored = doc.results.filter((r) => r.status === 'error');
  if (failed.length) return { status: 'fail', counts, reason: `${failed.length} failed: ${failed.map((r) => r.name || `#${r.number}`).join(', ')}` };
  if (doc.bailOut !== undefined) return { status: 'fail', counts, reason: `bail out: ${doc.bailOut}` };
  if (exit?.status === 'fail') return { status: 'fail', counts, reason: `exit code ${exitCode} (${exit.meaning}) although no TAP result failed` };
  if (errored.length) return { status: 'error', counts, reason: errored[0]!.reason ?? `${errored.length} error(s)` };
  if (doc.problems.length && !doc.results.length && !doc.plan) return { status: 'error', counts, reason: doc.problems.join('; ') };
  if (doc.plan?.skipReason !== undefined && !doc.results.length) return { status: 'skip', counts, reason: doc.plan.skipReason || 'skipped' };
  const passed = counts.pass + counts.xfail + counts.xpass + counts.todo;
  if (passed) return { status: 'pass', counts };
  if (counts.skip) {
    const reasons = [...new Set(doc.results.map((r) => r.reason).filter(Boolean))];
    return { status: 'skip', counts, reason: reasons.join('; ') || 'all tests skipped' };
  }
  if (exit) return { status: exit.status, counts, reason: `no results; exit code ${exitCode} (${exit.meaning})` };
  return { status: 'error', counts, reason: 'no results' };
}

/**
 * The harness checks of a kselftest program: one per leaf result, named by
 * its path; a failed or errored check carries its reason and the last
 * diagnostic lines (the assertion kselftest printed before the result).
 */
export function ktapChecks(doc: KtapDocument): Check[] {
  return flattenKtap(doc)
    .filter((r) => !r.subtests?.results.length)
    .map((r) => {
      const status = harnessStatus(r.status);
      // kselftest_harness opens each test with a " RUN " line: what came before belongs to no test.
      // The harness's own OK/FAIL lines and the runner's headers repeat what the status says.
      const run = r.diagnostics.findLastIndex((d) => /^\s*RUN\s/.test(d));
      const own = run >= 0 ? r.diagnostics.slice(run + 1) : r.diagnostics;
      const detail = status === 'fail' || status === 'error' ? own.filter((d) => !/^\s*(OK|FAIL)\s|^(timeout set to|overriding timeout|selftests: )/.test(d)).slice(-3) : [];
      const sub = r.subtests;
      const inner = [sub?.bailOut !== undefined ? `bail out: ${sub.bailOut}` : '', sub?.plan?.skipReason ?? ''];
      const message = [r.reason, ...inner, ...detail].filter(Boolean).join(' | ');
      return { name: r.path, status, ...(message ? { message } : {}) };
    });
}
