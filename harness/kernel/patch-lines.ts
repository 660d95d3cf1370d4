// The lines each patch of a series adds, where they stand in the patched
// tree: a later patch of the series shifts them (lines it adds or removes
// above them) or rewrites them (then they are the later patch's own). What
// a coverage report lists per patch: of these lines, which ran.

export interface Hunk {
  oldStart: number;
  oldLines: number;
  newStart: number;
  newLines: number;
  /** Old line -> new line for each context line the hunk keeps. */
  kept: Map<number, number>;
}

export interface FileDiff {
  hunks: Hunk[];
  /** Line numbers (after this patch) of the lines it adds. */
  added: number[];
}

const HUNK = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/;

/** A unified diff's files (by their path after the patch, `b/` stripped), with hunks and added lines. */
export function parseDiff(text: string): Map<string, FileDiff> {
  const files = new Map<string, FileDiff>();
  let current: FileDiff | undefined;
  let oldAt = 0;
  let newAt = 0;
  let hunk: Hunk | undefined;
  let left = { old: 0, new: 0 };
  for (const line of text.split('\n')) {
    if (hunk && (left.old > 0 || left.new > 0)) {
      const mark = line[0];
      if (mark === '+') {
        current!.added.push(newAt++);
        left.new--;
        continue;
      }
      if (mark === '-') {
        oldAt++;
        left.old--;
        continue;
      }
      if (mark === ' ' || line === '') {
        hunk.kept.set(oldAt++, newAt++);
        left.old--;
        left.new--;
        continue;
      }
      if (mark === '\\') continue; // "\ No newline at end of file"
      hunk = undefined;
    }
    if (line.startsWith('\\')) continue;
    const h = HUNK.exec(line);
    if (h && current) {
      const [oldStart, oldLines, newStart, newLines] = [Number(h[1]), h[2] === undefined ? 1 : Number(h[2]), Number(h[3]), h[4] === undefined ? 1 : Number(h[4])];
      hunk = { oldStart, oldLines, newStart, newLines, kept: new Map() };
      current.hunks.push(hunk);
      // A hunk of 0 lines on one side names the line before it.
      oldAt = oldLines === 0 ? oldStart + 1 : oldStart;
      newAt = newLines === 0 ? newStart + 1 : newStart;
      left = { old: oldLines, new: newLines };
      continue;
    }
    if (line.startsWith('+++ ')) {
      const path = line.slice(4).split('\t')[0]!.trim();
      if (path === '/dev/null') {
        current = undefined;
        continue;
      }
      const name = path.replace(/^[ab]\//, '');
      current = files.get(name) ?? { hunks: [], added: [] };
      files.set(name, current);
    }
  }
  return files;
}

/**
 * Where line `line` of a file stands after a patch with these hunks:
 * shifted by the lines added and removed above it, or undefined when the
 * patch removed or replaced it.
 */
export function mapLine(line: number, hunks: readonly Hunk[]): number | undefined {
  let shift = 0;
  for (const h of hunks) {
    // A side of 0 lines names the line before the hunk.
    const oldFirst = h.oldLines === 0 ? h.oldStart + 1 : h.oldStart;
    const newFirst = h.newLines === 0 ? h.newStart + 1 : h.newStart;
    if (line < oldFirst) break;
    if (line < oldFirst + h.oldLines) return h.kept.get(line);
    shift = newFirst + h.newLines - (oldFirst + h.oldLines);
  }
  return line + shift;
}

export interface PatchLines {
  /** The patch's label as the build log names it ("pci.mbox [v7 2/9] PCI: ..."). */
  patch: string;
  /** Per file: the lines (in the fully patched tree) that this patch added and no later patch changed. */
  files: Record<string, number[]>;
}

/** Each patch's added lines, carried through every later patch to the final tree's line numbers. */
export function addedLinesPerPatch(units: readonly { label: string; text: string }[]): PatchLines[] {
  const diffs = units.map((u) => parseDiff(u.text));
  return units.map((u, i) => {
    const files: Record<string, number[]> = {};
    for (const [path, diff] of diffs[i]!) {
      let lines = diff.added;
      for (const later of diffs.slice(i + 1)) {
        const d = later.get(path);
        if (d) lines = lines.map((l) => mapLine(l, d.hunks)).filter((l): l is number => l !== undefined);
      }
      if (lines.length) files[path] = lines;
    }
    return { patch: u.label, files };
  });
}
