// What the harness recognises on the serial console: harness markers, kernel
// faults, and the boundaries between boots. Pure functions of one line.

/** A harness marker written by guest userspace (shared convention). */
export interface MarkerMatch {
  name: string;
  fields: Record<string, string>;
}

// Found anywhere in the line: kernel printk output can interleave with userspace writes.
const MARKER = /LUO-HARNESS-MARK ([a-z0-9-]+)((?: [A-Za-z0-9_.-]+=\S*)*)/;

export function parseMarker(text: string): MarkerMatch | undefined {
  const match = MARKER.exec(text);
  if (!match) return undefined;
  const fields: Record<string, string> = {};
  for (const pair of (match[2] ?? '').trim().split(' ')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    fields[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return { name: match[1]!, fields };
}

export type FaultKind =
  | 'panic'
  | 'bug'
  | 'oops'
  | 'gpf'
  | 'warning'
  | 'kasan'
  | 'hung-task'
  | 'rcu-stall';

export interface FaultPattern {
  kind: FaultKind;
  pattern: RegExp;
}

/**
 * Kernel crash reports, most specific first (a KASAN report starts with "BUG: KASAN:").
 * WARNING only in the kernel's own shapes, so a userspace line that says "WARNING:"
 * is not a kernel fault.
 */
export const FAULT_PATTERNS: readonly FaultPattern[] = [
  { kind: 'kasan', pattern: /\bKASAN: [a-z-]+/ },
  { kind: 'panic', pattern: /Kernel panic - not syncing/ },
  { kind: 'gpf', pattern: /general protection fault/ },
  { kind: 'bug', pattern: /\bBUG: [A-Za-z]/ },
  { kind: 'oops', pattern: /\bOops(?::| -) / },
  { kind: 'warning', pattern: /\bWARNING: (?:CPU: \d+ PID: \d+|at \S|possible |suspicious |inconsistent |bad unlock)/ },
  { kind: 'hung-task', pattern: /INFO: task \S+ blocked for more than \d+ seconds/ },
  { kind: 'rcu-stall', pattern: /rcu: INFO: rcu_\w+ detected stalls|rcu_\w+ self-detected stall/ },
];

export function detectFault(text: string, patterns: readonly FaultPattern[] = FAULT_PATTERNS): FaultKind | undefined {
  return patterns.find(({ pattern }) => pattern.test(text))?.kind;
}

/** The last line an outgoing kernel prints before kexec jumps to the next one. */
export function isKexecStart(text: string): boolean {
  return /kexec_core: Starting new kernel/.test(text);
}

/** The first line of every boot (printed when the console registers, with or without a printk timestamp). */
export function isBootBanner(text: string): boolean {
  return /(?:^|\]\s*)Linux version \d+\.\d+/.test(text);
}
