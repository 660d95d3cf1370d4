import test from 'ava';
import { parseMbox, parseSubject, pickSeries, seriesSummary, type SubjectInfo, type ThreadMail } from '../../../harness/kernel/series-thread.ts';
import { ConfigError } from '../../../harness/errors.ts';

const SEP = 'From mboxrd@z Thu Jan  1 00:00:00 1970';

interface MailSpec {
  id: string;
  subject: string;
  body: string;
  date?: string;
  from?: string;
  replyTo?: string;
  headers?: string[];
}

/** One mbox entry: separator, headers, blank line, body, blank line. */
function mail(m: MailSpec): string {
  const head = [
    SEP,
    `From: ${m.from ?? 'Jane Dev <jane@example.org>'}`,
    ...(m.date === '' ? [] : [`Date: ${m.date ?? 'Mon, 3 Feb 2025 10:00:00 +0000'}`]),
    `Subject: ${m.subject}`,
    `Message-ID: <${m.id}>`,
    ...(m.replyTo ? [`In-Reply-To: <${m.replyTo}>`, `References: <${m.replyTo}>`] : []),
    ...(m.headers ?? []),
  ];
  return `${head.join('\n')}\n\n${m.body}\n`;
}

/** The diff part of patch n of a series (what `patch -p1` needs). */
const diffOf = (n: number, tag = '') =>
  [
    `diff --git a/mm/f${n}.c b/mm/f${n}.c`,
    'index 1111111..2222222 100644',
    `--- a/mm/f${n}.c`,
    `+++ b/mm/f${n}.c`,
    '@@ -1,3 +1,3 @@',
    ' int a;',
    `-int b = ${n};`,
    `+int b = ${n + 1};${tag}`,
    ' int c;',
  ].join('\n');

/** A format-patch body: commit message, trailers, diffstat, diff, the "-- " footer. */
const patchBody = (n: number, tag = '') =>
  [
    `Make f${n} better.`,
    '',
    'Signed-off-by: Jane Dev <jane@example.org>',
    'Reviewed-by: Rev Iewer <rev@example.org>',
    '---',
    ` mm/f${n}.c | 2 +-`,
    ' 1 file changed, 1 insertion(+), 1 deletion(-)',
    '',
    diffOf(n, tag),
    '-- ',
    '2.43.0',
  ].join('\n');

const coverBody = (base: string) => `This series does things.\n\nJane Dev (2):\n  mm: one\n  mm: two\n\nbase-commit: ${base}\n-- \n2.43.0`;

function patchMail(version: number, n: number, total: number, extra: Partial<MailSpec> = {}): string {
  const v = version === 1 ? '' : ` v${version}`;
  return mail({ id: `v${version}-${n}@example.org`, subject: `[PATCH${v} ${n}/${total}] mm: change ${n}`, body: patchBody(n, `/* v${version} */`), replyTo: `v${version}-0@example.org`, ...extra });
}

function coverMail(version: number, total: number, base: string): string {
  const v = version === 1 ? '' : ` v${version}`;
  return mail({ id: `v${version}-0@example.org`, subject: `[PATCH${v} 0/${total}] mm: memfd_luo: preserve memfds`, body: coverBody(base) });
}

const quotingReply = mail({
  id: 'reply-1@example.org',
  subject: 'Re: [PATCH v2 2/4] mm: change 2',
  from: 'Rev Iewer <rev@example.org>',
  replyTo: 'v2-2@example.org',
  body: 'On Mon, Jane wrote:\n> diff --git a/mm/f2.c b/mm/f2.c\n> --- a/mm/f2.c\n> +++ b/mm/f2.c\n> +foo\n\nReviewed-by: Rev Iewer <rev@example.org>',
});

const v1 = [coverMail(1, 3, 'a'.repeat(40)), patchMail(1, 1, 3), patchMail(1, 2, 3), patchMail(1, 3, 3)];
const v2 = [coverMail(2, 4, 'b'.repeat(40)), patchMail(2, 1, 4), patchMail(2, 2, 4), patchMail(2, 3, 4), patchMail(2, 4, 4)];
const thread = [...v1, mail({ id: 'r0@example.org', subject: 'Re: [PATCH 2/3] mm: change 2', body: 'Looks odd.', replyTo: 'v1-2@example.org' }), ...v2, quotingReply];

const pick = (parts: string[], options?: { version?: number }) => pickSeries(parseMbox(parts.join('\n')), options);

// ---------------------------------------------------------------- subjects

test('parseSubject reads the prefixes of real-world subjects', (t) => {
  const cases: [string, Partial<SubjectInfo>][] = [
    ['[PATCH] x', { version: 1, index: undefined, total: undefined, title: 'x', prefix: 'PATCH', rfc: false }],
    ['[PATCH v2 3/4] mm: x', { version: 2, index: 3, total: 4, title: 'mm: x' }],
    ['[PATCH v2 0/4] cover', { version: 2, index: 0, total: 4, title: 'cover' }],
    ['[RFC PATCH 2/5] x', { rfc: true, version: 1, index: 2, total: 5 }],
    ['[RFC PATCH v3 1/2] x', { rfc: true, version: 3, index: 1, total: 2 }],
    ['[PATCH RFC v2 1/2] x', { rfc: true, version: 2, index: 1, total: 2 }],
    ['[PATCH net-next v4 2/7] x', { version: 4, index: 2, total: 7, prefix: 'PATCH net-next v4 2/7' }],
    ['[PATCH 01/12] x', { version: 1, index: 1, total: 12 }],
    ['[PATCH V2 1/3] x', { version: 2, index: 1, total: 3 }],
    ['[PATCH v2 resend 1/3] x', { version: 2, index: 1, total: 3 }],
    ['[PATCHv5 2/3] x', { version: 5, index: 2, total: 3 }],
    ['[PATCH v2 1/3] [mm] x', { version: 2, index: 1, total: 3, title: '[mm] x' }],
    ['[GIT PULL] x', { prefix: '', title: '[GIT PULL] x', isReply: false }],
    ['Re: [PATCH v2 3/4] mm: x', { isReply: true, version: 2, index: 3, title: 'mm: x' }],
    ['RE: Re: [PATCH] x', { isReply: true, prefix: 'PATCH' }],
    ['Fwd: [PATCH] x', { isReply: true }],
    ['plain talk', { isReply: false, prefix: '', title: 'plain talk' }],
  ];
  for (const [subject, want] of cases) {
    const got = parseSubject(subject);
    for (const [key, value] of Object.entries(want)) t.is(got[key as keyof typeof got], value, `${subject}: ${key}`);
  }
});

// ---------------------------------------------------------------- picking

test('picks the newest version, ordered, without cover letter and replies', (t) => {
  const s = pick(thread);
  t.is(s.version, 2);
  t.is(s.total, 4);
  t.deepEqual(s.versionsSeen, [1, 2]);
  t.deepEqual(s.patches.map((p) => p.index), [1, 2, 3, 4]);
  t.deepEqual(s.patches.map((p) => p.messageId), ['v2-1@example.org', 'v2-2@example.org', 'v2-3@example.org', 'v2-4@example.org']);
  t.true(s.patches.every((p) => p.version === 2 && p.total === 4 && p.text.includes('/* v2 */')));
  t.is(s.patches[1]!.subject, 'mm: change 2');
  t.is(s.patches[1]!.author, 'Jane Dev <jane@example.org>');
  t.deepEqual(s.cover, { messageId: 'v2-0@example.org', subject: 'mm: memfd_luo: preserve memfds', baseCommit: 'b'.repeat(40) });
  t.is(s.baseCommit, 'b'.repeat(40));
  t.is(s.subject, 'mm: memfd_luo: preserve memfds');
  t.is(seriesSummary(s), 'v2, 4 patches: "mm: memfd_luo: preserve memfds"');
});

test('mails in shuffled order give the same series', (t) => {
  const shuffled = [thread[7]!, thread[2]!, thread[9]!, thread[0]!, thread[5]!, thread[10]!, thread[4]!, thread[8]!, thread[1]!, thread[6]!, thread[3]!];
  t.is(shuffled.length, thread.length);
  t.deepEqual(pick(shuffled), pick(thread));
});

test('options.version picks an older version', (t) => {
  const s = pick(thread, { version: 1 });
  t.is(s.version, 1);
  t.deepEqual(s.patches.map((p) => p.messageId), ['v1-1@example.org', 'v1-2@example.org', 'v1-3@example.org']);
  t.is(s.cover?.baseCommit, 'a'.repeat(40));
});

test('a version not in the thread is an error listing those present', (t) => {
  const e = t.throws(() => pick(thread, { version: 5 }), { instanceOf: ConfigError });
  t.is(e?.message, 'series v5 is not in the thread: it holds v1, v2');
});

test('a missing patch is an error naming the version and the number', (t) => {
  const e = t.throws(() => pick([...v2.slice(0, 3), v2[4]!]), { instanceOf: ConfigError });
  t.is(e?.message, 'series v2 is incomplete: patch 3 of 4 is missing (have 1, 2, 4)');
  const many = t.throws(() => pick([...thread.filter((m) => !m.includes('v2-2@') && !m.includes('v2-3@'))]), { instanceOf: ConfigError });
  t.is(many?.message, 'series v2 is incomplete: patches 2, 3 of 4 are missing (have 1, 4); other versions in the thread: v1');
});

test('a patch mail that lost its diff counts as missing, and the error names it', (t) => {
  const lost = mail({ id: 'v2-3@example.org', subject: '[PATCH v2 3/4] mm: change 3', body: 'Make f3 better.\n\nSigned-off-by: Jane Dev <jane@example.org>' });
  const e = t.throws(() => pick([...v2.slice(0, 3), lost, v2[4]!]), { instanceOf: ConfigError });
  t.is(e?.message, 'series v2 is incomplete: patch 3 of 4 is missing (have 1, 2, 4); "[PATCH v2 3/4] mm: change 3" <v2-3@example.org> has no diff');
});

test('a reply that quotes a diff is not a patch', (t) => {
  const e = t.throws(() => pickSeries(parseMbox(quotingReply)), { instanceOf: ConfigError });
  t.regex(e!.message, /read 1 mail, none/);
  // Even without "Re:", quoted lines are no diff: the mail counts as missing, not as patch 2.
  const noRe = mail({ id: 'x@example.org', subject: '[PATCH v2 2/4] mm: change 2', body: '> diff --git a/mm/f2.c b/mm/f2.c\n> --- a/mm/f2.c\n> +++ b/mm/f2.c\n> +foo' });
  const e2 = t.throws(() => pick([...v2.slice(0, 2), noRe, ...v2.slice(3)]), { instanceOf: ConfigError });
  t.regex(e2!.message, /patch 2 of 4 is missing .*"\[PATCH v2 2\/4\] mm: change 2" <x@example.org> has no diff/);
});

test('a thread without patches is an error saying how many mails were read', (t) => {
  const talk = [mail({ id: 'a@x', subject: 'memfd preservation?', body: 'Thoughts?' }), mail({ id: 'b@x', subject: 'Re: memfd preservation?', body: 'Yes.' })];
  const e = t.throws(() => pick(talk), { instanceOf: ConfigError });
  t.is(e?.message, 'the thread holds no patch: read 2 mails, none has a [PATCH] subject (not a reply) and a diff');
  t.is((e as ConfigError).detail, '  memfd preservation?\n  Re: memfd preservation?');
  t.throws(() => pickSeries([]), { instanceOf: ConfigError, message: /read 0 mails/ });
});

test('RFC series: [RFC PATCH] and [RFC PATCH v3 1/2] group with plain PATCH of the same version', (t) => {
  const single = pick([mail({ id: 'rfc@x', subject: '[RFC PATCH] mm: try this', body: patchBody(1) })]);
  t.is(single.version, 1);
  t.deepEqual(single.patches.map((p) => [p.index, p.total, p.subject]), [[1, 1, 'mm: try this']]);
  const v3 = pick([
    mail({ id: 'a@x', subject: '[RFC PATCH v3 1/2] mm: one', body: patchBody(1) }),
    mail({ id: 'b@x', subject: '[PATCH RFC v3 2/2] mm: two', body: patchBody(2) }),
    mail({ id: 'c@x', subject: '[RFC PATCH v2 1/1] mm: old', body: patchBody(1) }),
  ]);
  t.is(v3.version, 3);
  t.deepEqual(v3.versionsSeen, [2, 3]);
  t.deepEqual(v3.patches.map((p) => p.subject), ['mm: one', 'mm: two']);
});

test('without a cover letter the subject and base-commit come from patch 1', (t) => {
  const first = mail({ id: 'p1@x', subject: '[PATCH 1/2] mm: first', body: `${patchBody(1).replace('-- \n', 'base-commit: cafe1234\n-- \n')}` });
  const s = pick([mail({ id: 'p2@x', subject: '[PATCH 2/2] mm: second', body: patchBody(2) }), first]);
  t.is(s.cover, undefined);
  t.is(s.subject, 'mm: first');
  t.is(s.baseCommit, 'cafe1234');
  t.is(seriesSummary(s), 'v1, 2 patches: "mm: first"');
});

test('a resent patch: the later Date wins, else the later mail in the mbox', (t) => {
  const early = patchMail(2, 2, 2, { id: 'early@x', date: 'Tue, 4 Feb 2025 09:00:00 +0000' });
  const late = patchMail(2, 2, 2, { id: 'late@x', date: 'Wed, 5 Feb 2025 09:00:00 +0000' });
  const one = patchMail(2, 1, 2);
  t.is(pick([one, late, early]).patches[1]!.messageId, 'late@x');
  t.is(pick([one, early, late]).patches[1]!.messageId, 'late@x');
  const a = patchMail(2, 2, 2, { id: 'a@x', date: '' });
  const b = patchMail(2, 2, 2, { id: 'b@x', date: '' });
  t.is(pick([one, a, b]).patches[1]!.messageId, 'b@x');
  t.is(pick([one, b, a]).patches[1]!.messageId, 'a@x');
});

test('patches of one version disagreeing on N is an error naming them', (t) => {
  const e = t.throws(() => pick([patchMail(2, 1, 3), patchMail(2, 2, 2, { id: 'odd@x' })]), { instanceOf: ConfigError });
  t.is(e?.message, 'series v2 disagrees on its number of patches: 3 in "[PATCH v2 1/3] mm: change 1" <v2-1@example.org>; 2 in "[PATCH v2 2/2] mm: change 2" <odd@x>');
});

// ---------------------------------------------------------------- patch text

test('the patch text has mail headers, the commit message with trailers, the diff, and no footer', (t) => {
  const p = pick(v2).patches[0]!;
  t.is(
    p.text,
    [
      'From: Jane Dev <jane@example.org>',
      'Date: Mon, 3 Feb 2025 10:00:00 +0000',
      'Subject: mm: change 1',
      '',
      'Make f1 better.',
      '',
      'Signed-off-by: Jane Dev <jane@example.org>',
      'Reviewed-by: Rev Iewer <rev@example.org>',
      '---',
      ' mm/f1.c | 2 +-',
      ' 1 file changed, 1 insertion(+), 1 deletion(-)',
      '',
      diffOf(1, '/* v2 */'),
      '',
    ].join('\n'),
  );
});

test('a "-- " line inside a hunk (a removed "- " line) is kept', (t) => {
  const body = ['Fix the list.', '', 'Signed-off-by: J <j@x>', '---', 'diff --git a/doc.md b/doc.md', '--- a/doc.md', '+++ b/doc.md', '@@ -1,2 +1,2 @@', ' title', '-- ', '+- item', '-- ', '2.43.0'].join('\n');
  const p = pick([mail({ id: 'd@x', subject: '[PATCH] doc: fix', body })]).patches[0]!;
  t.true(p.text.endsWith('@@ -1,2 +1,2 @@\n title\n-- \n+- item\n'));
});

test('the author comes from an in-body From: line when there is one', (t) => {
  const p = pick([mail({ id: 'f@x', subject: '[PATCH] mm: x', from: 'Maint Ainer <m@x>', body: `From: Real Author <ra@x>\n\n${patchBody(1)}` })]).patches[0]!;
  t.is(p.author, 'Real Author <ra@x>');
  t.true(p.text.startsWith('From: Real Author <ra@x>\n'));
});

// ---------------------------------------------------------------- mbox and MIME

test('parseMbox reads headers, folded lines and threading ids', (t) => {
  const text = [
    SEP,
    'From: Jane Dev <jane@example.org>',
    'Subject: [PATCH v2 3/4] mm: a rather long',
    '\tsubject line',
    'Date: Mon, 3 Feb 2025 10:00:00 +0000',
    'Message-Id: <v2-3@example.org>',
    'In-Reply-To: <v2-0@example.org>',
    'References: <v1-0@example.org>',
    ' <v2-0@example.org>',
    '',
    'body',
    '',
    '',
  ].join('\n');
  const want: ThreadMail = {
    messageId: 'v2-3@example.org',
    subject: '[PATCH v2 3/4] mm: a rather long subject line',
    from: 'Jane Dev <jane@example.org>',
    date: 'Mon, 3 Feb 2025 10:00:00 +0000',
    inReplyTo: 'v2-0@example.org',
    references: ['v1-0@example.org', 'v2-0@example.org'],
    body: 'body\n',
  };
  t.deepEqual(parseMbox(text), [want]);
  t.deepEqual(parseMbox(''), []);
});

test('git format-patch separators split mails; body prose starting with "From " does not', (t) => {
  const git = 'From 3f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c Mon Sep 17 00:00:00 2001';
  const text = `${git}\nSubject: [PATCH 1/2] a\nMessage-ID: <1@x>\n\nFrom the spec:\nstuff\n\nFrom the start it was wrong.\n\n${git}\nSubject: [PATCH 2/2] b\nMessage-ID: <2@x>\n\nbody\n`;
  const mails = parseMbox(text);
  t.deepEqual(mails.map((m) => m.messageId), ['1@x', '2@x']);
  t.is(mails[0]!.body, 'From the spec:\nstuff\n\nFrom the start it was wrong.\n');
});

test('a single mail without a From separator line', (t) => {
  const text = `From: Jane Dev <jane@example.org>\nSubject: [PATCH] mm: only one\nMessage-ID: <only@x>\n\n${patchBody(1)}\n`;
  const mails = parseMbox(text);
  t.is(mails.length, 1);
  t.is(mails[0]!.from, 'Jane Dev <jane@example.org>');
  const s = pickSeries(mails);
  t.deepEqual(s.patches.map((p) => [p.index, p.total, p.subject, p.messageId]), [[1, 1, 'mm: only one', 'only@x']]);
  t.false(s.patches[0]!.text.includes('Date:'));
});

test('CRLF line endings become LF', (t) => {
  const crlf = [coverMail(1, 1, 'c'.repeat(40)), patchMail(1, 1, 1)].join('\n').replace(/\n/g, '\r\n');
  const s = pickSeries(parseMbox(crlf));
  t.is(s.cover?.baseCommit, 'c'.repeat(40));
  t.false(s.patches[0]!.text.includes('\r'));
  t.true(s.patches[0]!.text.includes(`${diffOf(1, '/* v1 */')}\n`));
});

test('mboxrd quoting: one leading ">" is removed from ">From " lines', (t) => {
  const [m] = parseMbox(mail({ id: 'q@x', subject: 'x', body: '>From here\n>>From there\n> From a quote\nFrom: not a separator' }));
  t.is(m!.body, 'From here\n>From there\n> From a quote\nFrom: not a separator\n');
});

test('quoted-printable bodies decode to the exact diff', (t) => {
  const want = ['Use a define.', '', 'Signed-off-by: J\u00f6rg <j@x>', '---', 'diff --git a/a.c b/a.c', '--- a/a.c', '+++ b/a.c', '@@ -1 +1 @@', '-int x = 1;', `+int x = ${'VERY_LONG_NAME_'.repeat(6)}END; /* \u00fc */`, ''].join('\n');
  const qp = [
    'Use a define.',
    '',
    'Signed-off-by: J=C3=B6rg <j@x>',
    '---',
    'diff --git a/a.c b/a.c',
    '--- a/a.c',
    '+++ b/a.c',
    '@@ -1 +1 @@',
    '-int x =3D 1;',
    `+int x =3D ${'VERY_LONG_NAME_'.repeat(3)}=`,
    `${'VERY_LONG_NAME_'.repeat(3)}END; /* =C3=BC */`,
  ].join('\n');
  const [m] = parseMbox(mail({ id: 'qp@x', subject: '[PATCH] a: define', body: qp, headers: ['Content-Type: text/plain; charset="utf-8"', 'Content-Transfer-Encoding: quoted-printable'] }));
  t.is(m!.body, want);
  t.true(pickSeries([m!]).patches[0]!.text.endsWith(`\n\n${want}`));
});

test('base64 bodies decode', (t) => {
  const plain = `${patchBody(1)}\n`;
  const b64 = Buffer.from(plain).toString('base64').replace(/.{76}/g, '$&\n');
  const [m] = parseMbox(mail({ id: 'b@x', subject: '[PATCH] mm: b64', body: b64, headers: ['Content-Transfer-Encoding: base64'] }));
  t.is(m!.body, plain);
  t.is(pickSeries([m!]).patches[0]!.subject, 'mm: b64');
});

test('RFC 2047 encoded words in Subject and From decode', (t) => {
  const subject = '=?utf-8?q?=5BPATCH_v2_1/1=5D_mm=3A_f=C3=BCr?= =?UTF-8?B?IGRpZSBtZW1mZHM=?=';
  const [m] = parseMbox(mail({ id: 'e@x', subject, from: '=?iso-8859-1?q?J=F6rg?= <j@x>', body: patchBody(1) }));
  t.is(m!.subject, '[PATCH v2 1/1] mm: f\u00fcr die memfds');
  t.is(m!.from, 'J\u00f6rg <j@x>');
  const s = pickSeries([m!]);
  t.is(s.version, 2);
  t.is(s.patches[0]!.subject, 'mm: f\u00fcr die memfds');
});

test('a multipart mail gives its first text/plain part', (t) => {
  const body = ['preamble', '--XYZ', 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: quoted-printable', '', patchBody(1).replaceAll('= ', '=3D '), '--XYZ', 'Content-Type: application/pgp-signature', '', 'sig', '--XYZ--', ''].join('\n');
  const [m] = parseMbox(mail({ id: 'mp@x', subject: '[PATCH] mm: signed', body, headers: ['Content-Type: multipart/signed; boundary="XYZ"'] }));
  t.is(m!.body, `${patchBody(1)}\n`);
  t.is(pickSeries([m!]).patches.length, 1);
});
