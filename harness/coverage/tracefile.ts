// lcov tracefiles: the field's own format and tools. geninfo turns one
// boot's .gcda files and the kernel's notes into a tracefile; lcov -a adds
// the boots of one kernel together; genhtml draws it. This file parses
// what they write, so that results and summaries hold the same numbers
// the HTML shows.

export interface FileCoverage {
  /** Source path relative to the kernel tree. */
  path: string;
  /** Executable line -> times it ran. */
  lines: Map<number, number>;
  /** Function -> its first line and times it ran. */
  functions: Map<string, { line: number; count: number }>;
}

/** A tracefile's records; `rename` maps each SF path (or drops it with undefined). */
export function parseTracefile(text: string, rename: (sf: string) => string | undefined = (s) => s): FileCoverage[] {
  const files: FileCoverage[] = [];
  let current: FileCoverage | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('SF:')) {
      const path = rename(line.slice(3));
      current = path === undefined ? undefined : { path, lines: new Map(), functions: new Map() };
      if (current) files.push(current);
      continue;
    }
    if (!current) continue;
    if (line === 'end_of_record') {
      current = undefined;
    } else if (line.startsWith('DA:')) {
      const [l, c] = line.slice(3).split(',');
      current.lines.set(Number(l), (current.lines.get(Number(l)) ?? 0) + Number(c));
    } else if (line.startsWith('FN:')) {
      const [l, ...name] = line.slice(3).split(',');
      const key = name.join(',');
      current.functions.set(key, { line: Number(l), count: current.functions.get(key)?.count ?? 0 });
    } else if (line.startsWith('FNDA:')) {
      const [c, ...name] = line.slice(5).split(',');
      const key = name.join(',');
      const f = current.functions.get(key) ?? { line: 0, count: 0 };
      current.functions.set(key, { ...f, count: f.count + Number(c) });
    }
  }
  return files;
}

/** The same files written back as a tracefile (after renaming), for genhtml and lcov. */
export function renderTracefile(files: readonly FileCoverage[], testName = ''): string {
  const out: string[] = [];
  for (const f of files) {
    out.push(`TN:${testName}`, `SF:${f.path}`);
    const fns = [...f.functions].sort((a, b) => a[1].line - b[1].line);
    for (const [name, { line }] of fns) out.push(`FN:${line},${name}`);
    for (const [name, { count }] of fns) out.push(`FNDA:${count},${name}`);
    out.push(`FNF:${fns.length}`, `FNH:${fns.filter(([, v]) => v.count > 0).length}`);
    const lines = [...f.lines].sort((a, b) => a[0] - b[0]);
    for (const [l, c] of lines) out.push(`DA:${l},${c}`);
    out.push(`LF:${lines.length}`, `LH:${lines.filter(([, c]) => c > 0).length}`, 'end_of_record');
  }
  return out.join('\n') + '\n';
}

export interface FileSummary {
  path: string;
  lines: { found: number; hit: number };
  functions: { found: number; hit: number };
}

export const summarize = (f: FileCoverage): FileSummary => ({
  path: f.path,
  lines: { found: f.lines.size, hit: [...f.lines.values()].filter((c) => c > 0).length },
  functions: { found: f.functions.size, hit: [...f.functions.values()].filter((v) => v.count > 0).length },
});
