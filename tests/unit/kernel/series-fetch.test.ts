// Fetching a series by Message-ID from a lore-style archive (a local HTTP
// server here): the URL layout, the cache by Message-ID and content, and
// that a 404, an unreachable archive or an incomplete series keep nothing.
import test from 'ava';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ConfigError, InfraError } from '../../../harness/errors.ts';
import { messageIdOf, resolveSeriesRef, seriesRecord, threadUrl } from '../../../harness/kernel/series-fetch.ts';
import { repoRoot } from '../../../harness/paths.ts';
import { scratchDir } from '../../helpers/scratch.ts';

const thread = readFileSync(join(repoRoot, 'tests', 'fixtures', 'series', 'memfd-luo-thread.mbox'), 'utf8');
const V2 = '20261124101500.1-ada@example.org';
// The thread without v2's patch 2: an incomplete series.
const incomplete = thread.replace(/From mboxrd@z[^\n]*\nFrom: [^\n]*\nSubject: \[PATCH v2 2\/4\][\s\S]*?(?=\nFrom mboxrd@z)/, '');

async function archive(routes: Record<string, Buffer | string>) {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(req.url!);
    const body = routes[req.url!];
    if (body === undefined) res.writeHead(404).end('not found');
    else res.writeHead(200).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { base: `http://127.0.0.1:${(server.address() as { port: number }).port}/all`, hits, close: () => server.close() };
}

test('Message-IDs are read with or without angle brackets; anything else is not one', (t) => {
  t.is(messageIdOf(`<${V2}>`), V2);
  t.is(messageIdOf(V2), V2);
  t.is(messageIdOf('id:x@y'), 'x@y');
  t.is(messageIdOf('patches/0001-fix.patch'), undefined);
  t.is(messageIdOf('two words@x'), undefined);
});

test('the thread URL is <base>/<message-id>/t.mbox.gz, the id escaped only where a path needs it', (t) => {
  t.is(threadUrl('https://lore.example/all/', 'a.b+c@d'), 'https://lore.example/all/a.b+c@d/t.mbox.gz');
  t.is(threadUrl('http://h/all', 'x/y@z'), 'http://h/all/x%2Fy@z/t.mbox.gz');
});

test('a series is fetched once, kept by Message-ID and content hash, and recorded with its patches', async (t) => {
  const a = await archive({ [`/all/${V2}/t.mbox.gz`]: gzipSync(thread) });
  t.teardown(a.close);
  const cache = scratchDir('series-cache-');
  const first = await resolveSeriesRef(`<${V2}>`, { cache, archive: a.base });
  t.regex(first.file, /thread-[0-9a-f]{12}\.mbox$/);
  t.is(readFileSync(first.file, 'utf8'), thread);
  const again = await resolveSeriesRef(V2, { cache, archive: a.base });
  t.is(again.file, first.file);
  t.is(a.hits.length, 1, 'the second lookup is served from the cache');
  const record = await seriesRecord(first);
  t.like(record, { messageId: V2, version: 2, total: 4, applied: 4, subject: 'mm: memfd_luo: small cleanups' });
  t.is((await seriesRecord(first, 2))!.applied, 2);
});

test('an archive link to a message is followed to its thread; a plain mbox is taken too', async (t) => {
  const a = await archive({ [`/all/${V2}/t.mbox.gz`]: gzipSync(thread), '/raw.mbox': thread });
  t.teardown(a.close);
  const cache = scratchDir('series-cache-');
  const viaLink = await resolveSeriesRef(`${a.base}/${V2}/`, { cache });
  t.is(viaLink.messageId, V2);
  const plain = await resolveSeriesRef(`${a.base.replace(/\/all$/, '')}/raw.mbox`, { cache });
  t.is(readFileSync(plain.file, 'utf8'), thread);
});

test('a 404, an unreachable archive and an incomplete series fail clearly and keep nothing', async (t) => {
  const a = await archive({ '/all/broken@example.org/t.mbox.gz': gzipSync(incomplete) });
  t.teardown(a.close);
  const cache = scratchDir('series-cache-');
  await t.throwsAsync(resolveSeriesRef('nope@example.org', { cache, archive: a.base }), { instanceOf: ConfigError, message: /no thread for Message-ID <nope@example\.org> \(HTTP 404/ });
  await t.throwsAsync(resolveSeriesRef('nope@example.org', { cache, archive: 'http://127.0.0.1:9/all' }), { instanceOf: InfraError, message: /cannot reach the archive/ });
  await t.throwsAsync(resolveSeriesRef('broken@example.org', { cache, archive: a.base }), { instanceOf: ConfigError, message: /series v2 is incomplete: patch 2 of 4 is missing/ });
  t.false(existsSync(join(cache, 'series')) && readdirSync(join(cache, 'series')).length > 0, 'nothing in the cache');
  await t.throwsAsync(resolveSeriesRef('just words', { cache }), { instanceOf: ConfigError, message: /neither a Message-ID/ });
});
