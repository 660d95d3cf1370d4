import test from 'ava';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadRecipe, parseRecipe } from '../../../harness/kernel/recipe.ts';
import { ConfigError } from '../../../harness/errors.ts';
import { scratchDir } from '../../helpers/scratch.ts';

const dir = scratchDir('recipe-');
const file = join(dir, 'r.json');
writeFileSync(join(dir, 'fix.patch'), '');
const good = {
  source: { type: 'debian', package: 'linux-source-7.2' },
  patches: ['fix.patch'],
  config: { base: 'allnoconfig', fragments: ['liveupdate'] },
  cmdline: ['liveupdate=on'],
};
const withField = (path: string[], value: unknown) => {
  const r = structuredClone(good) as Record<string, unknown>;
  let o = r as Record<string, unknown>;
  for (const k of path.slice(0, -1)) o = o[k] as Record<string, unknown>;
  if (value === undefined) delete o[path.at(-1)!];
  else o[path.at(-1)!] = value;
  return r;
};

test('a good recipe parses, with defaults filled in and paths resolved', (t) => {
  const r = parseRecipe(good, file);
  t.is(r.name, 'r');
  t.deepEqual(r.source, { type: 'debian', package: 'linux-source-7.2', suites: ['sid', 'trixie-backports'] });
  t.deepEqual(r.patches, [{ file: join(dir, 'fix.patch') }]);
  t.is(r.patchFuzz, 0, 'no fuzz unless the recipe allows it');
  t.true(r.config.fragments[0]!.endsWith(join('kernels', 'config', 'liveupdate.config')));
});

const bad: [string, string[], unknown, RegExp][] = [
  ['unknown top-level field', ['sorce'], 1, /field "sorce" is not a recipe field/],
  ['missing source', ['source'], undefined, /field "source" must be an object/],
  ['unknown source type', ['source', 'type'], 'svn', /field "source.type" must be one of debian, git, tarball, local/],
  ['bad debian package', ['source', 'package'], 'linux-image-amd64', /field "source.package" must be a linux-source-X.Y/],
  ['empty suites', ['source', 'suites'], [], /field "source.suites" must name at least one suite/],
  ['patch that does not exist', ['patches'], ['nope.patch'], /field "patches\[0\]" names nope.patch, which does not exist/],
  ['patches not an array', ['patches'], 'fix.patch', /field "patches" must be an array of patch files and \{ "series": "<message-id>" \} objects/],
  ['series entry without a series', ['patches'], [{ first: 2 }], /field "patches\[0\]\.series" must be a Message-ID/],
  ['series entry with an unknown field', ['patches'], [{ series: 'a@b', upto: 2 }], /field "patches\[0\]\.upto" is not a field of a series entry/],
  ['series prefix not a count', ['patches'], [{ series: 'a@b', first: -1 }], /field "patches\[0\]\.first" must be a count/],
  ['fuzz out of range', ['patchFuzz'], 9, /field "patchFuzz" must be an integer from 0 to 3/],
  ['bad build directory name', ['buildDir'], '../x', /field "buildDir" must be a name/],
  ['bad config base', ['config', 'base'], 'tinyconfig.cfg', /field "config.base" must be "allnoconfig", "defconfig" or an existing .config file/],
  ['unknown fragment', ['config', 'fragments'], ['liveupdate', 'nonesuch'], /field "config.fragments\[1\]" names "nonesuch"/],
  ['unknown config field', ['config', 'extra'], 1, /field "config.extra" is not a config field \(known: base, fragments, whenDefined\)/],
  ['unknown whenDefined fragment', ['config', 'whenDefined'], ['nonesuch'], /field "config.whenDefined\[0\]" names "nonesuch"/],
  ['cmdline with spaces', ['cmdline'], ['a b'], /field "cmdline\[0\]" must be one kernel argument/],
  ['bad name', ['name'], 'has space', /field "name" must be a name/],
];
for (const [what, path, value, message] of bad) {
  test(`rejects ${what}, naming the file and the field`, (t) => {
    const e = t.throws(() => parseRecipe(withField(path, value), file), { instanceOf: ConfigError });
    t.regex(e!.message, message);
    t.true(e!.message.includes(file));
  });
}

test('tarball sources need exactly one of path or url and a sha256', (t) => {
  const tar = (source: unknown) => ({ ...good, patches: [], source });
  t.throws(() => parseRecipe(tar({ type: 'tarball', sha256: 'a'.repeat(64) }), file), { message: /exactly one of "path" or "url"/ });
  t.throws(() => parseRecipe(tar({ type: 'tarball', url: 'https://example.invalid/k.tar.xz', sha256: 'xyz' }), file), { message: /source.sha256" must be 64 hex digits/ });
  t.throws(() => parseRecipe(tar({ type: 'tarball', url: 'ftp://x/k.tar', sha256: 'a'.repeat(64) }), file), { message: /source.url" must be an http\(s\) URL/ });
});

test('local sources must be kernel trees', (t) => {
  const tree = join(dir, 'tree');
  mkdirSync(tree, { recursive: true });
  t.throws(() => parseRecipe({ ...good, patches: [], source: { type: 'local', path: 'tree' } }, file), { message: /is not a kernel tree/ });
  writeFileSync(join(tree, 'Makefile'), '');
  writeFileSync(join(tree, 'Kconfig'), '');
  t.deepEqual(parseRecipe({ ...good, patches: [], source: { type: 'local', path: 'tree' } }, file).source, { type: 'local', path: tree });
});

test('the shipped recipes load', async (t) => {
  for (const name of ['luo-7.2', 'luo-7.3', 'nolu-7.2']) {
    const r = await loadRecipe(name);
    t.is(r.name, name);
    t.false(r.cmdline.includes('liveupdate=on'), 'liveupdate=on belongs to the live-update layer, not to recipes');
  }
  for (const name of ['luo-7.2', 'luo-7.3']) {
    t.true((await loadRecipe(name)).config.whenDefined.some((f) => f.endsWith('pci-vfio-liveupdate.config')), `${name} asks for device preservation where its tree has the series`);
  }
  const nolu = await loadRecipe('nolu-7.2');
  t.true(nolu.config.fragments.some((f) => f.endsWith('no-liveupdate.config')));
});

test('an unknown recipe name and invalid JSON are reported clearly', async (t) => {
  await t.throwsAsync(loadRecipe('luo-9.9'), { instanceOf: ConfigError, message: /no recipe named "luo-9.9"/ });
  const broken = join(dir, 'broken.json');
  writeFileSync(broken, '{ "source": ');
  await t.throwsAsync(loadRecipe(broken), { instanceOf: ConfigError, message: /broken.json is not valid JSON/ });
});
