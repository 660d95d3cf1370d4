// Turns a mailing-list thread (an mbox, as lore serves t.mbox.gz) into the
// patch series a maintainer would apply: the newest version, complete, in
// order, without the cover letter and the replies. Pure: no I/O.
import { ConfigError } from '../errors.ts';

export interface ThreadMail {
  /** Without the angle brackets; '' when the mail has none. */
  messageId: string;
  subject: string;
  from: string;
  date?: string;
  inReplyTo?: string;
  references: string[];
  /** Decoded text, LF line ends, mboxrd quoting undone. */
  body: string;
}

export interface SubjectInfo {
  isReply: boolean;
  rfc: boolean;
  version: number;
  /** M of M/N; 0 for a cover letter; absent for a plain "[PATCH] x". */
  index?: number;
  total?: number;
  /** The subject after the Re: and the first bracket group. */
  title: string;
  /** The first bracket group's text ("PATCH v2 3/4"); '' when it is no PATCH/RFC group. */
  prefix: string;
}

export interface SeriesPatch {
  index: number;
  total: number;
  version: number;
  /** The title, without the prefix. */
  subject: string;
  messageId: string;
  author: string;
  /** From/Date/Subject headers, then the commit message with its trailers, the diffstat and the diff. */
  text: string;
}

export interface Series {
  version: number;
  total: number;
  /** The cover letter's title, else the first patch's. */
  subject: string;
  cover?: { messageId: string; subject: string; baseCommit?: string };
  patches: SeriesPatch[];
  /** The `base-commit:` of the cover, else of the first patch; also set without a cover. */
  baseCommit?: string;
  /** Versions seen in the thread, ascending. */
  versionsSeen: number[];
}

type Headers = Map<string, string>;

// ---------------------------------------------------------------- mbox

/** The mails of an mbox; a text that starts with headers is one mail. */
export function parseMbox(text: string): ThreadMail[] {
  return splitMbox(text.replace(/\r\n/g, '\n'))
    .filter((raw) => raw.trim() !== '')
    .map(parseMail);
}

const HEADER_LINE = /^[!-9;-~]+:/;

// A "From " line starts a mail only after a blank line and before a header, so body prose is not cut.
function isSeparator(lines: string[], i: number): boolean {
  return lines[i]!.startsWith('From ') && (i === 0 || lines[i - 1] === '') && HEADER_LINE.test(lines[i + 1] ?? '');
}

function splitMbox(text: string): string[] {
  const lines = text.replace(/^\n+/, '').split('\n');
  if (!isSeparator(lines, 0)) return [lines.join('\n')];
  const mails: string[][] = [];
  lines.forEach((line, i) => (isSeparator(lines, i) ? mails.push([]) : mails.at(-1)!.push(line)));
  return mails.map((m) => m.join('\n'));
}

function parseMail(raw: string): ThreadMail {
  const { headers, body } = splitEntity(raw);
  const decoded = decodeEntity(headers, body.replace(/^>(>*From )/gm, '$1'));
  const mail: ThreadMail = {
    messageId: angleIds(headers.get('message-id'))[0] ?? headers.get('message-id')?.trim() ?? '',
    subject: oneLine(decodeWords(headers.get('subject') ?? '')),
    from: oneLine(decodeWords(headers.get('from') ?? '')),
    references: angleIds(headers.get('references')),
    body: trimBlankEnd(decoded.replace(/\r\n/g, '\n')),
  };
  const date = headers.get('date')?.trim();
  const inReplyTo = angleIds(headers.get('in-reply-to'))[0];
  if (date) mail.date = date;
  if (inReplyTo) mail.inReplyTo = inReplyTo;
  return mail;
}

/** Headers (names lower-cased, folded lines joined, the first of a repeated name kept) and the body. */
function splitEntity(raw: string): { headers: Headers; body: string } {
  const lines = raw.split('\n');
  const end = lines.indexOf('');
  const head = end < 0 ? lines : lines.slice(0, end);
  const fields: [string, string][] = [];
  for (const line of head) {
    const field = /^([!-9;-~]+):[ \t]*(.*)$/.exec(line);
    if (field) fields.push([field[1]!.toLowerCase(), field[2]!]);
    else if (/^[ \t]/.test(line) && fields.length > 0) fields.at(-1)![1] += line;
  }
  const headers: Headers = new Map();
  for (const [name, value] of fields) if (!headers.has(name)) headers.set(name, value);
  return { headers, body: end < 0 ? '' : lines.slice(end + 1).join('\n') };
}

function angleIds(value: string | undefined): string[] {
  return [...(value ?? '').matchAll(/<([^<>\s]+)>/g)].map((m) => m[1]!);
}

const oneLine = (value: string) => value.replace(/\s+/g, ' ').trim();
const trimBlankEnd = (text: string) => (text.trim() === '' ? '' : text.replace(/\n*$/, '\n'));

// ---------------------------------------------------------------- MIME

/** The body as text: transfer encoding undone; of a multipart, the first text part. */
function decodeEntity(headers: Headers, body: string): string {
  const type = headers.get('content-type') ?? 'text/plain';
  if (/^\s*multipart\//i.test(type)) return firstTextPart(param(type, 'boundary'), body) ?? '';
  const charset = param(type, 'charset') ?? 'utf-8';
  const encoding = headers.get('content-transfer-encoding')?.trim().toLowerCase();
  if (encoding === 'quoted-printable') return decodeBytes(qpBytes(body.replace(/=[ \t]*\n/g, '')), charset);
  if (encoding === 'base64') return decodeBytes(Buffer.from(body.replace(/\s+/g, ''), 'base64'), charset);
  return body;
}

function firstTextPart(boundary: string | undefined, body: string): string | undefined {
  if (!boundary) return undefined;
  for (const part of mimeParts(body, boundary)) {
    const { headers, body: partBody } = splitEntity(part);
    const type = headers.get('content-type') ?? 'text/plain';
    if (/^\s*(multipart\/|text\/(plain|x-patch|x-diff)\b)/i.test(type)) return decodeEntity(headers, partBody);
  }
  return undefined;
}

function mimeParts(body: string, boundary: string): string[] {
  const parts: string[][] = [];
  for (const line of body.split('\n')) {
    const trimmed = line.trimEnd();
    if (trimmed === `--${boundary}--`) break;
    if (trimmed === `--${boundary}`) parts.push([]);
    else parts.at(-1)?.push(line);
  }
  return parts.map((p) => p.join('\n'));
}

function param(value: string, name: string): string | undefined {
  const m = new RegExp(`;\\s*${name}\\s*=\\s*(?:"([^"]*)"|([^;\\s]+))`, 'i').exec(value);
  return m ? (m[1] ?? m[2]) : undefined;
}

/** =XX escapes to bytes; the text around them is taken as UTF-8. */
function qpBytes(text: string): Buffer {
  const pieces = text.split(/=([0-9A-Fa-f]{2})/); // odd pieces are the captured hex
  return Buffer.concat(pieces.map((p, i) => (i % 2 ? Buffer.from([parseInt(p, 16)]) : Buffer.from(p, 'utf8'))));
}

function decodeBytes(bytes: Buffer, charset: string): string {
  try {
    return new TextDecoder(charset).decode(bytes);
  } catch {
    return new TextDecoder('utf-8').decode(bytes); // an unknown charset label
  }
}

const ENCODED_WORD = /=\?([^?*]+)(?:\*[^?]*)?\?([QqBb])\?([^?]*)\?=/g;

/** RFC 2047 encoded-words; the blanks between two of them are not part of the text. */
function decodeWords(value: string): string {
  return value
    .replace(/(\?=)\s+(?==\?[^?]+\?[QqBb]\?)/g, '$1')
    .replace(ENCODED_WORD, (_, charset: string, kind: string, data: string) =>
      decodeBytes(kind.toUpperCase() === 'B' ? Buffer.from(data, 'base64') : qpBytes(data.replace(/_/g, ' ')), charset),
    );
}

// ---------------------------------------------------------------- subjects

const REPLY_PREFIX = /^(?:re|aw|fwd?)\s*(?:\[\d+\])?\s*:\s*/i;

/** Reads "Re: [RFC PATCH net-next v3 2/5] title". */
export function parseSubject(subject: string): SubjectInfo {
  let rest = oneLine(subject);
  let isReply = false;
  for (let m = REPLY_PREFIX.exec(rest); m; m = REPLY_PREFIX.exec(rest)) {
    isReply = true; // a forward is treated like a reply: never picked over the mail it forwards
    rest = rest.slice(m[0].length);
  }
  const group = /^\[([^\]]*)\]\s*/.exec(rest);
  const tokens = group ? group[1]!.split(/[\s,]+/).filter(Boolean) : [];
  if (!tokens.some((t) => /^(patch|rfc)(v\d+)?$/i.test(t))) return { isReply, rfc: false, version: 1, title: rest, prefix: '' };
  const info: SubjectInfo = { isReply, rfc: false, version: 1, title: rest.slice(group![0].length), prefix: oneLine(group![1]!) };
  let versioned = false;
  for (const token of tokens.map((t) => t.toLowerCase())) {
    const version = /^(?:patch|rfc)?v(\d+)$/.exec(token);
    const counter = /^(\d+)\/(\d+)$/.exec(token);
    if (token.startsWith('rfc')) info.rfc = true;
    if (version && !versioned) [info.version, versioned] = [Number(version[1]), true];
    else if (counter && info.index === undefined) [info.index, info.total] = [Number(counter[1]), Number(counter[2])];
  }
  return info;
}

// ---------------------------------------------------------------- series

/** A mail sent as part of a series (patch or cover), not a reply. */
interface Sent {
  mail: ThreadMail;
  info: SubjectInfo;
  index: number;
  total: number;
  hasDiff: boolean;
}

// Quoted lines start with ">", so a reply quoting a patch never matches.
const DIFF = /^diff --git |^--- \S.*\n\+\+\+ \S/m;

function sentMails(mails: ThreadMail[]): Sent[] {
  return mails.flatMap((mail) => {
    const info = parseSubject(mail.subject);
    if (info.isReply || info.prefix === '') return [];
    return [{ mail, info, index: info.index ?? 1, total: info.total ?? 1, hasDiff: DIFF.test(mail.body) }];
  });
}

/** The series to apply: the newest version (or options.version), every patch 1..N once, in order. */
export function pickSeries(mails: ThreadMail[], options: { version?: number } = {}): Series {
  const sent = sentMails(mails);
  if (!sent.some((s) => s.hasDiff && s.index > 0)) throw noPatchError(mails);
  const versionsSeen = [...new Set(sent.map((s) => s.info.version))].sort((a, b) => a - b);
  const version = options.version ?? versionsSeen.at(-1)!;
  if (!versionsSeen.includes(version)) {
    throw new ConfigError(`series v${version} is not in the thread: it holds ${versionsSeen.map((v) => `v${v}`).join(', ')}`);
  }
  const ofVersion = sent.filter((s) => s.info.version === version);
  const covers = ofVersion.filter((s) => s.index === 0);
  const cover = covers.length > 0 ? covers.reduce(later) : undefined;
  const numbered = ofVersion.filter((s) => s.index > 0);
  const total = agreedTotal(version, numbered, cover);
  const chosen = pickPatches(version, total, numbered, versionsSeen);
  const baseCommit = baseCommitOf(cover?.mail.body ?? '') ?? baseCommitOf(chosen[0]!.mail.body);
  const patches = chosen.map((s) => toPatch(s, version));
  const series: Series = { version, total, subject: cover?.info.title ?? patches[0]!.subject, patches, versionsSeen };
  if (cover) series.cover = { messageId: cover.mail.messageId, subject: cover.info.title, ...(baseCommit ? { baseCommit } : {}) };
  if (baseCommit) series.baseCommit = baseCommit;
  return series;
}

function noPatchError(mails: ThreadMail[]): ConfigError {
  const subjects = mails.slice(0, 20).map((m) => `  ${m.subject || '(no subject)'}`);
  return new ConfigError(
    `the thread holds no patch: read ${mails.length} mail${mails.length === 1 ? '' : 's'}, none has a [PATCH] subject (not a reply) and a diff`,
    subjects.length > 0 ? { detail: subjects.join('\n') } : {},
  );
}

/** N as the patches of the version state it; they must agree and stay within it. */
function agreedTotal(version: number, numbered: Sent[], cover: Sent | undefined): number {
  const totals = [...new Set(numbered.map((s) => s.total))];
  if (totals.length > 1) {
    const claims = totals.map((n) => `${n} in ${numbered.filter((s) => s.total === n).map(describe).join(', ')}`);
    throw new ConfigError(`series v${version} disagrees on its number of patches: ${claims.join('; ')}`);
  }
  const total = totals[0] ?? cover?.total ?? 0;
  const beyond = numbered.filter((s) => s.index > total);
  if (beyond.length > 0) throw new ConfigError(`series v${version} has patches numbered past its total of ${total}: ${beyond.map(describe).join(', ')}`);
  if (total < 1) throw new ConfigError(`series v${version} has no patches: its cover letter ${describe(cover!)} counts 0`);
  return total;
}

function pickPatches(version: number, total: number, numbered: Sent[], versionsSeen: number[]): Sent[] {
  const byIndex = new Map<number, Sent>();
  for (const s of numbered.filter((n) => n.hasDiff)) {
    const earlier = byIndex.get(s.index);
    byIndex.set(s.index, earlier ? later(earlier, s) : s);
  }
  const all = Array.from({ length: total }, (_, i) => i + 1);
  const missing = all.filter((i) => !byIndex.has(i));
  if (missing.length > 0) throw incompleteError(version, total, missing, [...byIndex.keys()].sort((a, b) => a - b), numbered, versionsSeen);
  return all.map((i) => byIndex.get(i)!);
}

function incompleteError(version: number, total: number, missing: number[], have: number[], numbered: Sent[], versionsSeen: number[]): ConfigError {
  const what = missing.length === 1 ? `patch ${missing[0]} of ${total} is missing` : `patches ${missing.join(', ')} of ${total} are missing`;
  const noDiff = numbered.filter((s) => !s.hasDiff && missing.includes(s.index)).map((s) => `; ${describe(s)} has no diff`);
  const others = versionsSeen.filter((v) => v !== version);
  const hint = others.length > 0 ? `; other versions in the thread: ${others.map((v) => `v${v}`).join(', ')}` : '';
  return new ConfigError(`series v${version} is incomplete: ${what} (have ${have.join(', ') || 'none'})${noDiff.join('')}${hint}`);
}

// NaN (no or bad Date) compares false, so the later mail in the mbox wins then.
const time = (s: Sent) => Date.parse(s.mail.date ?? '');
const later = (a: Sent, b: Sent): Sent => (time(b) < time(a) ? a : b);

const describe = (s: Sent) => `"${s.mail.subject}"${s.mail.messageId ? ` <${s.mail.messageId}>` : ''}`;

const baseCommitOf = (body: string) => /^base-commit: *([0-9a-f]{7,40})\s*$/m.exec(body)?.[1];

function toPatch(s: Sent, version: number): SeriesPatch {
  const { mail, info } = s;
  const author = inBodyFrom(mail.body) ?? mail.from; // git format-patch names the real author in the body
  const head = [`From: ${author}`, ...(mail.date ? [`Date: ${mail.date}`] : []), `Subject: ${info.title}`];
  const text = `${head.join('\n')}\n\n${stripSignature(mail.body)}`;
  return { index: s.index, total: s.total, version, subject: info.title, messageId: mail.messageId, author, text };
}

function inBodyFrom(body: string): string | undefined {
  const m = /^\n*From:[ \t]*([^\n]*\S)/.exec(body);
  return m ? oneLine(decodeWords(m[1]!)) : undefined;
}

/** Drops format-patch's "-- \n2.43.0" footer: after the diff, outside a hunk, patch would read it as garbage. */
function stripSignature(body: string): string {
  const lines = body.split('\n');
  const cut = signatureLine(lines);
  return cut === undefined ? body : trimBlankEnd(lines.slice(0, cut).join('\n'));
}

// Counts hunk lines, so a "-- " inside a hunk (a removed "- " line) is not taken for the signature.
function signatureLine(lines: string[]): number | undefined {
  let inDiff = false;
  let [oldLeft, newLeft] = [0, 0];
  for (const [i, line] of lines.entries()) {
    if (oldLeft > 0 || newLeft > 0) {
      if (line.startsWith('-')) oldLeft--;
      else if (line.startsWith('+')) newLeft--;
      else if (!line.startsWith('\\')) [oldLeft, newLeft] = [oldLeft - 1, newLeft - 1];
      continue;
    }
    const hunk = /^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@/.exec(line);
    if (hunk) [oldLeft, newLeft, inDiff] = [Number(hunk[1] ?? 1), Number(hunk[2] ?? 1), true];
    else if (inDiff && /^-- ?$/.test(line)) return i;
  }
  return undefined;
}

/** `v2, 4 patches: "mm: memfd_luo: ..."` for logs. */
export function seriesSummary(s: Series): string {
  return `v${s.version}, ${s.patches.length} patch${s.patches.length === 1 ? '' : 'es'}: "${s.subject}"`;
}
