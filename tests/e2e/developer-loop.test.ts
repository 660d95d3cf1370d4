// The kernel developer's loop, for real: a series fetched by Message-ID from
// a lore-style archive (a local HTTP server on 127.0.0.1 serving our own
// thread, tests/fixtures/series/memfd-luo-thread.mbox, as t.mbox.gz), built
// and bisected to the patch that breaks memfd preservation; and a kernel
// tree given by path, built out of tree and rebuilt incrementally after a
// one-file edit. Real builds, real QEMU, real SSH.
import test from 'ava';
import { execa } from 'execa';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { cacheLayout, repoRoot } from '../../harness/paths.ts';
import { parseMbox } from '../../harness/kernel/series-thread.ts';
import { preparePatchedTree } from '../../harness/kernel/tree.ts';
import { acquireLock } from '../../harness/util/lock.ts';
import type { KernelManifest } from '../../harness/kernel/artifact.ts';
import type { RunResult } from '../../harness/report/result.ts';

const work = mkdtempSync(join(tmpdir(), 'e2e-devloop-'));
const cli = join(repoRoot, 'bin', 'luo-harness.js');
const thread = readFileSync(join(repoRoot, 'tests', 'fixtures', 'series', 'memfd-luo-thread.mbox'), 'utf8');
const ids = new Set(parseMbox(thread).map((m) => m.messageId));
/** The v2 cover letter: what a maintainer would pass. */
const V2 = '20261124101500.1-ada@example.org';
const requests: string[] = [];

// The archive's layout: <base>/<message-id>/t.mbox.gz holds the whole thread of any of its mails.
const server: Server = createServer((req, res) => {
  requests.push(req.url ?? '');
  const m = /^\/all\/([^/]+)\/t\.mbox\.gz$/.exec(req.url ?? '');
  const id = m ? decodeURIComponent(m[1]!) : '';
  if (!ids.has(id)) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('No message found\n');
    return;
  }
  res.writeHead(200, { 'content-type': 'application/gzip' }).end(gzipSync(thread));
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const archive = `http://127.0.0.1:${(server.address() as { port: number }).port}/all`;
test.after.always(() => server.close());

const harness = (args: string[]) => execa('node', [cli, ...args], { reject: false, all: true });
const seriesDirs = () => (existsSync(cacheLayout().series) ? readdirSync(cacheLayout().series) : []);
/** Drops a thread the cache kept from an earlier run, so that this run really asks the archive. */
const forgetThread = (id: string) => {
  const slug = id.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 60);
  for (const d of seriesDirs().filter((x) => x.startsWith(`${slug}-`))) rmSync(join(cacheLayout().series, d), { recursive: true, force: true });
};

test.serial('a wrong Message-ID (404), an unreachable archive and a malformed id each fail clearly and keep nothing', async (t) => {
  forgetThread(V2);
  const before = seriesDirs();
  const missing = await harness(['kernel', 'build', '--series', 'no-such-thread@example.org', '--archive', archive]);
  t.is(missing.exitCode, 2, missing.all);
  t.regex(missing.all!, /the archive has no thread for Message-ID <no-such-thread@example\.org> \(HTTP 404/);
  const closed = await harness(['kernel', 'build', '--series', V2, '--archive', 'http://127.0.0.1:9/all']);
  t.is(closed.exitCode, 3, closed.all);
  t.regex(closed.all!, /cannot reach the archive .*--archive URL or LUO_HARNESS_ARCHIVE/);
  const malformed = await harness(['kernel', 'build', '--series', 'not a message id', '--archive', archive]);
  t.is(malformed.exitCode, 2, malformed.all);
  t.regex(malformed.all!, /is neither a Message-ID .*, an http\(s\) URL, nor an existing mbox file/);
  t.deepEqual(seriesDirs(), before, 'nothing was kept in the cache');
});

test.serial('kernel build --series <message-id> builds v2 of the thread, its patches in order, recorded in the manifest', async (t) => {
  forgetThread(V2);
  const r = await harness(['kernel', 'build', '--series', V2, '--archive', archive, '--json']);
  t.is(r.exitCode, 0, r.all);
  t.true(requests.includes(`/all/${V2}/t.mbox.gz`));
  const manifest = JSON.parse(r.stdout) as KernelManifest;
  const series = manifest.series?.[0];
  t.truthy(series, 'the manifest records the series');
  t.like(series, { messageId: V2, subject: 'mm: memfd_luo: small cleanups', version: 2, total: 4, applied: 4, baseCommit: '0123456789abcdef0123456789abcdef01234567' });
  t.deepEqual(series!.patches.map((p) => `${p.index} ${p.subject}`), [
    '1 mm: memfd_luo: document the size limit',
    '2 mm: memfd_luo: log preserved folios',
    '3 mm: memfd_luo: leave large files to the chunked path',
    '4 mm: memfd_luo: size sealed files by their folios',
  ]);
  t.true(series!.patches.every((p) => /^[0-9a-f]{64}$/.test(p.sha256)));
  t.is(manifest.capabilities.LIVEUPDATE_MEMFD, true);
});

test.serial('bisect --series names the patch that breaks memfd preservation, in ceil(log2(N+1)) builds', async (t) => {
  const out = join(work, 'bisect');
  const r = await harness(['bisect', '--series', V2, '--archive', archive, '--scenario', 'memfd-basic', '--out', out, '--json']);
  t.is(r.exitCode, 1, r.all);
  const o = JSON.parse(r.stdout) as { culprit: { index: number; subject: string; sha256: string }; tried: { count: number; status: string; dir: string }[]; builds: number };
  t.like(o.culprit, { index: 3, subject: 'mm: memfd_luo: leave large files to the chunked path' });
  t.true(o.builds <= Math.ceil(Math.log2(4 + 1)), `${o.builds} builds`);
  t.deepEqual(o.tried.map((p) => [p.count, p.status]), [[3, 'fail'], [2, 'pass']]);
  const result = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as RunResult;
  t.deepEqual(result.scenarios.map((s) => s.name), ['memfd-basic @ 3/4', 'memfd-basic @ 2/4']);
  for (const p of o.tried) t.true(existsSync(join(out, p.dir, 'memfd-basic')), `results of prefix ${p.count}`);
  t.log(`bisect: ${o.builds} builds`);
});

test.serial('bisect --each gives the verdict of every patch: pass before the breaking one, fail from it on', async (t) => {
  const r = await harness(['bisect', '--series', V2, '--archive', archive, '--scenario', 'memfd-basic', '--each', '--out', join(work, 'each')]);
  t.is(r.exitCode, 1, r.all);
  const rows = r.stdout.split('\n').filter((l) => /^\d\/4 /.test(l)).map((l) => l.split(/\s{2,}/));
  t.deepEqual(rows.map((c) => [c[0], c[3]]), [['1/4', 'PASS'], ['2/4', 'PASS'], ['3/4', 'FAIL'], ['4/4', 'FAIL']]);
  t.regex(r.stdout, /culprit: patch 3\/4 [0-9a-f]{12} "mm: memfd_luo: leave large files to the chunked path"/);
});

/** A user's tree: a hard-linked copy of the pristine 7.2 source (nothing here writes a file in place: an edit replaces the file). */
async function userTree(): Promise<string> {
  const sources = cacheLayout().sources;
  const name = readdirSync(sources).find((d) => d.startsWith('debian-linux-source-7.2-') && !d.endsWith('.lock') && statSync(join(sources, d)).isDirectory());
  if (!name) throw new Error('no 7.2 source tree in the cache (pretest builds luo-7.2 first)');
  const source = join(sources, name);
  const tree = join(work, 'linux');
  await using _lock = await acquireLock(`${source}.build.lock`);
  await preparePatchedTree(source, [], { inPlace: true, copyDir: '', say: () => {} });
  await execa('cp', ['-al', source, tree]);
  await execa('rm', ['-rf', join(tree, '.luo-harness')]);
  return tree;
}

/** Writes a new file in place of the old one, so the hard-linked original stays as it was. */
function edit(file: string, change: (text: string) => string): void {
  writeFileSync(`${file}.new`, change(readFileSync(file, 'utf8')));
  renameSync(`${file}.new`, file);
}

test.serial('run --tree builds a tree given by path out of tree, then only what a one-file edit changed', async (t) => {
  const tree = await userTree();
  const stamp = Date.now();
  const first = await harness(['run', '--tree', tree, '--suite', 'smoke', '--scenarios', 'memfd-basic', '--out', join(work, 'tree-1')]);
  t.is(first.exitCode, 0, first.all);
  t.regex(first.all!, /kernel .*tree-linux-[0-9a-f]{8}\.json: 7\.2\.13/);

  edit(join(tree, 'mm', 'memfd_luo.c'), (s) => s.replace('#include', '/* a developer was here */\n#include'));
  const t0 = performance.now();
  const second = await harness(['run', '--tree', tree, '--suite', 'smoke', '--scenarios', 'memfd-basic', '--out', join(work, 'tree-2')]);
  const editToVerdict = performance.now() - t0;
  t.is(second.exitCode, 0, second.all);
  const result = JSON.parse(readFileSync(join(work, 'tree-2', 'results.json'), 'utf8')) as RunResult;
  t.is(result.scenarios[0]!.status, 'pass');
  const key = Object.values(result.kernels)[0] as { key: string; buildSeconds: number };
  t.true(key.buildSeconds < 120, `the rebuild after a one-file edit took ${key.buildSeconds} s`);
  t.log(`edit -> verdict ${(editToVerdict / 1000).toFixed(1)} s, of which the rebuild ${key.buildSeconds} s`);

  // Nothing of the build landed in the tree.
  const written = await execa('find', [tree, '-newermt', `@${Math.floor(stamp / 1000)}`, '-type', 'f', '-not', '-path', join(tree, 'mm', 'memfd_luo.c')]);
  t.is(written.stdout.trim(), '', 'files written into the tree');
});

test.serial('--tree refuses a directory that is no kernel tree, and a tree configured in place, saying what to do', async (t) => {
  const notTree = mkdtempSync(join(work, 'plain-'));
  const r1 = await harness(['kernel', 'build', '--tree', notTree]);
  t.is(r1.exitCode, 2, r1.all);
  t.regex(r1.all!, /is not a Linux kernel source tree/);
  const configured = mkdtempSync(join(work, 'configured-'));
  for (const f of ['Makefile', 'Kconfig']) writeFileSync(join(configured, f), 'VERSION = 7\nPATCHLEVEL = 2\n');
  await execa('mkdir', ['-p', join(configured, 'arch', 'x86')]);
  writeFileSync(join(configured, '.config'), 'CONFIG_64BIT=y\n');
  const r2 = await harness(['kernel', 'build', '--tree', configured]);
  t.is(r2.exitCode, 2, r2.all);
  t.regex(r2.all!, /has been configured or built in place \(\.config exists\).*run `make mrproper` in the tree, then pass --config/);
});
