// Plain-text tables for terminal output.
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** Longest text a table cell shows before it points to a note below the table. */
export const CELL_LIMIT = 90;

/**
 * A table whose last column holds free text (a reason): text longer than
 * `limit`, or on several lines, is cut in the cell with a `[n]` mark and
 * printed in full under the table, so nothing is ever lost to the cut.
 */
export function formatTableWithNotes(header: string[], rows: { cells: string[]; note: string; label: string }[], limit = CELL_LIMIT): string {
  const notes: string[] = [];
  const body = rows.map(({ cells, note, label }) => {
    const first = note.split('\n')[0]!;
    if (first.length <= limit && !note.includes('\n')) return [...cells, note];
    notes.push(`[${notes.length + 1}] ${label}: ${note}`);
    return [...cells, `${first.slice(0, limit - 8).trimEnd()}... [${notes.length}]`];
  });
  return [formatTable(header, body), ...(notes.length ? ['', ...notes] : [])].join('\n');
}
