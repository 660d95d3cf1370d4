// The cache's own checks: a hash that notices a changed file, a bad entry
// moved aside (never deleted), and a one-file entry (the agent, the nested
// VM's firmware) built once, checked on use, and built again when corrupt.
import test from 'ava';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BUILT_FILE_RECORD, cachedBuild, checkFiles, fileSha256, filesHashed, moveAside } from '../../../harness/util/cache-entry.ts';
import { sha256 } from '../../../harness/util/hash.ts';
import { scratchDir } from '../../helpers/scratch.ts';

/** Zeroes 8 bytes in place, as a bad disk or an interrupted copy would. */
function zero8(path: string, at = 16): void {
  const fd = openSync(path, 'r+');
  writeSync(fd, Buffer.alloc(8), 0, 8, at);
  closeSync(fd);
}

test('fileSha256 hashes a file, notices an in-place change and says undefined for a missing file', async (t) => {
  const dir = scratchDir('hash-');
  const file = join(dir, 'f');
  writeFileSync(file, Buffer.alloc(4096, 7));
  const before = await fileSha256(file);
  t.is(before, sha256(Buffer.alloc(4096, 7)));
  t.is(await fileSha256(file), before, 'the same answer again');
  zero8(file);
  const after = await fileSha256(file);
  t.is(after, sha256(readFileSync(file)));
  t.not(after, before);
  t.is(await fileSha256(join(dir, 'nope')), undefined);
  t.deepEqual(await checkFiles({ [file]: before!, [join(dir, 'nope')]: 'a'.repeat(64) }), [
    { path: file, expected: before!, actual: after },
    { path: join(dir, 'nope'), expected: 'a'.repeat(64), actual: undefined },
  ]);
});

test.serial('a settled file is hashed once per process; a fresh one each time, until it settles', async (t) => {
  const dir = scratchDir('hash-');
  const file = join(dir, 'f');
  writeFileSync(file, 'fresh');
  const start = filesHashed();
  await fileSha256(file);
  await fileSha256(file);
  t.is(filesHashed() - start, 2, 'written just now: its times cannot vouch for it yet');
  await sleep(2100);
  await fileSha256(file);
  await fileSha256(file);
  await fileSha256(file);
  t.is(filesHashed() - start, 3, 'settled: hashed once more, then remembered');
  writeFileSync(file, 'fresh, then changed');
  t.is(await fileSha256(file), sha256('fresh, then changed'));
});

test('moveAside renames an entry to <name>.corrupt-<time>, keeping its bytes, and twice in one second does not clash', async (t) => {
  const root = scratchDir('aside-');
  const now = new Date('2026-12-05T04:04:12.345Z');
  for (const n of [0, 1]) {
    mkdirSync(join(root, 'k'));
    writeFileSync(join(root, 'k', 'f'), `bytes ${n}`);
    const aside = await moveAside(join(root, 'k'), now);
    t.is(aside, join(root, n === 0 ? 'k.corrupt-20261205T040412Z' : 'k.corrupt-20261205T040412Z.1'));
    t.is(readFileSync(join(aside!, 'f'), 'utf8'), `bytes ${n}`);
    t.false(existsSync(join(root, 'k')));
  }
  t.is(await moveAside(join(root, 'gone')), undefined, 'an entry another process moved first');
});

function builder(root: string) {
  let builds = 0;
  const warnings: string[] = [];
  const options = {
    root,
    key: 'abc123',
    file: 'thing',
    what: 'test thing',
    warn: (m: string) => warnings.push(m),
    build: async (path: string) => {
      builds++;
      writeFileSync(path, Buffer.alloc(1024, 5));
    },
  };
  return { options, warnings, builds: () => builds };
}

test('cachedBuild builds once, records the sha256 beside the file, and serves the cache after', async (t) => {
  const root = scratchDir('built-');
  const b = builder(root);
  const path = await cachedBuild(b.options);
  t.is(path, join(root, 'abc123', 'thing'));
  t.is(await cachedBuild(b.options), path);
  t.is(b.builds(), 1);
  const record = JSON.parse(readFileSync(join(root, 'abc123', BUILT_FILE_RECORD), 'utf8'));
  t.like(record, { schema: 1, file: 'thing', sha256: sha256(Buffer.alloc(1024, 5)), bytes: 1024 });
  t.deepEqual(b.warnings, []);
  t.deepEqual(readdirSync(root), ['abc123'], 'no temporary directory is left behind');
});

test('a corrupt one-file entry is named with both hashes, moved aside and built again', async (t) => {
  const root = scratchDir('built-');
  const b = builder(root);
  const path = await cachedBuild(b.options);
  const good = sha256(readFileSync(path));
  zero8(path);
  const bad = sha256(readFileSync(path));
  t.is(await cachedBuild(b.options), path);
  t.is(b.builds(), 2);
  t.is(b.warnings.length, 1);
  const aside = readdirSync(root).find((f) => f.startsWith('abc123.corrupt-'))!;
  t.truthy(aside);
  t.is(
    b.warnings[0],
    `The cached test thing abc123 is corrupt: ${path} has sha256 ${bad}, its manifest says ${good}. Moved it aside to ${join(root, aside)}; building it again.`,
  );
  t.is(sha256(readFileSync(join(root, aside, 'thing'))), bad, 'the corrupt bytes are kept for a look');
  t.is(sha256(readFileSync(path)), good);
  t.is(await cachedBuild(b.options), path, 'the rebuilt entry is served');
  t.is(b.builds(), 2);
});

test('a missing file counts as corrupt; an entry from before records were kept is built again and replaced', async (t) => {
  const root = scratchDir('built-');
  const b = builder(root);
  const path = await cachedBuild(b.options);
  rmSync(path);
  await cachedBuild(b.options);
  t.regex(b.warnings[0]!, /^The cached test thing abc123 is corrupt: .*\/abc123\/thing is missing \(its manifest says sha256 [0-9a-f]{64}\)\. Moved it aside/);

  const legacy = scratchDir('built-');
  mkdirSync(join(legacy, 'abc123'));
  writeFileSync(join(legacy, 'abc123', 'thing'), 'old');
  const l = builder(legacy);
  const p = await cachedBuild(l.options);
  t.is(l.builds(), 1);
  t.deepEqual(l.warnings, ['The cached test thing abc123 has no recorded sha256 (an older harness wrote it); building it again.']);
  t.deepEqual(readFileSync(p), Buffer.alloc(1024, 5));
  t.deepEqual(readdirSync(legacy), ['abc123']);
});

test('concurrent builders of one entry agree, and a failed build leaves nothing behind', async (t) => {
  const root = scratchDir('built-');
  const b = builder(root);
  const paths = await Promise.all([cachedBuild(b.options), cachedBuild(b.options), cachedBuild(b.options)]);
  t.deepEqual(new Set(paths).size, 1);
  t.deepEqual(readdirSync(root), ['abc123']);
  const failing = { ...b.options, key: 'def456', build: async () => Promise.reject(new Error('no compiler')) };
  await t.throwsAsync(cachedBuild(failing), { message: 'no compiler' });
  t.deepEqual(readdirSync(root), ['abc123']);
});
