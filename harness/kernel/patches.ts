// Patch series: plain patches or mbox files holding several mails, applied
// in order with GNU patch. A failure names the patch, the mail in the
// series, the file and the hunk.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { execa } from 'execa';
import { ConfigError } from '../errors.ts';
import { parseMbox, parseSubject, pickSeries, type Series } from './series-thread.ts';

export interface PatchUnit {
  /** "fix.patch" or "series.mbox [2/5] mm: fix the thing". */
  label: string;
  text: string;
}

/**
 * One unit per patch of a mail series (git format-patch output or a whole
 * mailing-list thread: the newest version, in order, without the cover
 * letter and the replies, see series-thread.ts); a plain patch is one unit.
 */
export function splitSeries(file: string, text: string): PatchUnit[] {
  const name = basename(file);
  const series = seriesOf(text);
  if (!series) return [{ label: name, text }];
  return series.patches.map((p) => ({ label: `${name} [${series.version > 1 ? `v${series.version} ` : ''}${p.index}/${p.total}] ${p.subject}`, text: p.text }));
}

/** The series a text holds when it is mail with at least one patch in it; undefined for a plain patch. */
export function seriesOf(text: string): Series | undefined {
  if (!/^(From |[A-Za-z-]+: )/.test(text)) return undefined;
  const mails = parseMbox(text);
  const patchMails = mails.filter((m) => {
    const s = parseSubject(m.subject);
    return !s.isReply && s.prefix !== '';
  });
  return patchMails.length ? pickSeries(mails) : undefined;
}

/** A patch file to apply, whole or its first `first` units. */
export interface PatchInput {
  path: string;
  first?: number;
}

/** A unit that only applied with fuzz (context lines ignored): recorded, never silent. */
export interface FuzzedPatch {
  patch: string;
  hunks: string[];
}

export interface PatchFailure {
  file?: string;
  hunks: string[];
  reason: string;
}

/** Reads GNU patch's output for the file and hunks that failed. */
export function parsePatchOutput(output: string): { touched: string[]; fuzzed: string[]; failure?: PatchFailure } {
  const touched: string[] = [];
  const fuzzed: string[] = [];
  let current: string | undefined;
  let failure: PatchFailure | undefined;
  const fail = (reason: string, hunk?: string) => {
    failure ??= { ...(current ? { file: current } : {}), hunks: [], reason };
    if (hunk) failure.hunks.push(hunk);
  };
  let missing = false;
  for (const line of output.split('\n')) {
    let m: RegExpMatchArray | null;
    // After "can't find file to patch" patch quotes the diff header: name the file from it (-p1).
    if (missing && (m = line.match(/^\|(?:\+\+\+|---) [^/\s]+\/(\S+)/)) && m[1] !== 'null') {
      failure!.file = m[1]!;
      missing = false;
    }
    if ((m = line.match(/^(?:patching|checking) file '?(.+?)'?$/))) {
      current = m[1]!;
      touched.push(current);
    } else if ((m = line.match(/^(Hunk #\d+ FAILED at \d+.*?)\.?$/))) fail('hunks do not apply', m[1]!);
    else if ((m = line.match(/^Hunk (#\d+) succeeded at (\d+) with fuzz (\d+)/))) fuzzed.push(`${current ?? '?'} hunk ${m[1]} at line ${m[2]} (fuzz ${m[3]})`);
    else if (/Reversed \(or previously applied\) patch detected/.test(line)) fail('already applied (or reversed)');
    else if (/can't find file to patch/.test(line)) {
      current = undefined;
      fail('a file it patches does not exist');
      missing = true;
    }
    else if ((m = line.match(/^patch: \*\*\*+ (.*)$/))) fail(m[1]!);
    else if (/^The next patch would (create|delete) the file (.+),$/.test(line)) fail(line);
  }
  return { touched: [...new Set(touched)], fuzzed, ...(failure ? { failure } : {}) };
}

/** Runs GNU patch on one unit; `dryRun` only says what it would touch. */
async function runPatch(unit: PatchUnit, tree: string, dryRun: boolean, fuzz: number) {
  const r = await execa('patch', ['-p1', '--forward', '--batch', '--no-backup-if-mismatch', `--fuzz=${fuzz}`, '-r', '-', ...(dryRun ? ['--dry-run'] : []), '-d', tree], {
    input: unit.text,
    reject: false,
    all: true,
    env: { LC_ALL: 'C' },
  });
  const parsed = parsePatchOutput(r.all ?? '');
  if (r.exitCode !== 0 || parsed.failure) {
    const f = parsed.failure ?? { hunks: [], reason: `patch exited ${r.exitCode}` };
    const where = f.file ? ` in ${f.file}` : '';
    const hunks = f.hunks.length ? `: ${f.hunks.join('; ')}` : '';
    const hint = fuzz === 0 && f.hunks.length ? '; if its context only drifted, allow fuzz with the recipe\'s "patchFuzz" or --patch-fuzz N' : '';
    throw new ConfigError(`patch ${unit.label} does not apply${where} (${f.reason}${hunks})${hint}`, {
      detail: (r.all ?? '').split('\n').slice(-20).join('\n'),
    });
  }
  return parsed;
}

/** The units a patch input applies: every patch of its series, or the first `first`. */
export function unitsOf(input: PatchInput, text: string): PatchUnit[] {
  const units = splitSeries(input.path, text);
  if (input.first === undefined) return units;
  if (input.first > units.length) throw new ConfigError(`${basename(input.path)} has ${units.length} patch(es); cannot apply the first ${input.first}`);
  return units.slice(0, input.first);
}

/**
 * Applies every unit of every patch input to `tree`; returns the files it
 * touched and the units that needed fuzz. `beforeTouch` sees each file a
 * unit is about to change (from a dry run) before the unit really applies,
 * so the caller can keep originals.
 */
export async function applyPatches(
  inputs: PatchInput[],
  tree: string,
  say: (phase: string) => void,
  beforeTouch?: (file: string) => Promise<void>,
  fuzz = 0,
): Promise<{ touched: string[]; fuzzed: FuzzedPatch[] }> {
  const touched = new Set<string>();
  const fuzzed: FuzzedPatch[] = [];
  for (const input of inputs) {
    for (const unit of unitsOf(input, await readFile(input.path, 'utf8'))) {
      say(`patching: ${unit.label}`);
      if (beforeTouch) for (const f of (await runPatch(unit, tree, true, fuzz)).touched) await beforeTouch(f);
      const done = await runPatch(unit, tree, false, fuzz);
      done.touched.forEach((t) => touched.add(t));
      if (done.fuzzed.length) fuzzed.push({ patch: unit.label, hunks: done.fuzzed });
    }
  }
  return { touched: [...touched], fuzzed };
}
