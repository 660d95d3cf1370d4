// recipe -> source -> patches -> config -> build -> artifact, cached by content.
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { cacheLayout, cacheRoot } from '../paths.ts';
import { ConfigError } from '../errors.ts';
import { createProgress } from '../util/progress.ts';
import { acquireLock } from '../util/lock.ts';
import { contentKey, listFiles, sha256, sha256File } from '../util/hash.ts';
import { ARTIFACT_FILES, type FileDigest, type KernelArtifact, type KernelManifest } from './artifact.ts';
import { loadRecipe, type Recipe } from './recipe.ts';
import { materializeSource, resolveSource, sourceId } from './sources.ts';
import { preparePatchedTree, type TreePatch } from './tree.ts';
import { resolveSeriesRef, seriesRecord, type SeriesRecord } from './series-fetch.ts';
import { capabilitiesOf, mergeRequests, parseKconfig } from './kconfig.ts';
import { compile, configure, definedSymbols, openLog, type BuildContext } from './build.ts';
import { hasCcache, toolchainVersions } from './toolchain.ts';
import { buildSelftests } from './selftest-build.ts';
import { digestFiles, forgetImport, publish, recordName, stagingDir } from './store.ts';
import { lookupIntact } from './integrity.ts';
import { COVERAGE_DIR, collectCoverageNotes, filesToInstrument, gcovMakeArgs, patchUnits } from './coverage-build.ts';

/** Bump when the way a kernel is built changes, so old cache entries are not reused. */
const PIPELINE_VERSION = 3;
/** Bump when what a coverage build instruments or keeps changes. */
const COVERAGE_VERSION = 1;

export interface BuildOptions {
  cache?: string;
  quiet?: boolean;
  /** Called with the phase name as the build advances (for callers that show their own progress). */
  onPhase?: (phase: string) => void;
  /** Where a corrupt cache entry that is built again is reported (default: stderr, even when quiet). */
  warn?: (message: string) => void;
}

export interface PlannedBuild {
  recipe: Recipe;
  key: string;
  inputs: Omit<KernelManifest, 'release' | 'buildSeconds' | 'builtAt' | 'files' | 'capabilities' | 'key' | 'toolchain' | 'schema' | 'arch'>;
  toolchain: Record<string, string>;
  fragmentText: { name: string; text: string }[];
  /** The `whenDefined` fragments: their options are asked for where the tree defines them. */
  whenDefinedText: { name: string; text: string }[];
  /** The patch files to apply, series fetched and in the cache. */
  patchInputs: TreePatch[];
  /** The mail series among them, as the manifest records them. */
  series: SeriesRecord[];
}

const digest = async (path: string): Promise<FileDigest> => ({ name: basename(path), sha256: await sha256File(path) });

/** A recipe's patches as files: a series named by Message-ID or URL is fetched into the cache (once). */
async function resolvePatches(recipe: Recipe, cache: string): Promise<{ inputs: TreePatch[]; series: SeriesRecord[] }> {
  const inputs: TreePatch[] = [];
  const series: SeriesRecord[] = [];
  for (const ref of recipe.patches) {
    const fetched = 'series' in ref ? await resolveSeriesRef(ref.series, { cache, say: (m) => process.stderr.write(`[kernel ${recipe.name}] ${m}\n`) }) : { file: ref.file, origin: ref.file };
    // Read once: hashed into the key and read as mail.
    const bytes = await readFile(fetched.file);
    inputs.push({ path: fetched.file, digest: { name: basename(fetched.file), sha256: sha256(bytes) }, ...(ref.first !== undefined ? { first: ref.first } : {}) });
    const record = await seriesRecord(fetched, ref.first, bytes.toString('utf8'));
    if (record) series.push(record);
  }
  return { inputs, series };
}

/** Everything that decides the bytes of the kernel, hashed, building nothing (a series by Message-ID is fetched once). */
export async function planBuild(recipeRef: string | Recipe | undefined, cache: string): Promise<PlannedBuild> {
  const recipe = typeof recipeRef === 'object' ? recipeRef : await loadRecipe(recipeRef);
  // Read once: the text is both hashed into the key and applied later.
  const readFragments = (files: string[]) => Promise.all(files.map(async (f) => ({ name: basename(f), text: await readFile(f, 'utf8') })));
  const [source, resolved, fragmentText, whenDefinedText, toolchain] = await Promise.all([
    resolveSource(recipe.source, cache),
    resolvePatches(recipe, cache),
    readFragments(recipe.config.fragments),
    readFragments(recipe.config.whenDefined),
    toolchainVersions(),
  ]);
  const patches = resolved.inputs.map((p) => p.digest);
  const fragments = fragmentText.map(({ name, text }) => ({ name, sha256: sha256(text) }));
  const base = typeof recipe.config.base === 'string' ? recipe.config.base : { file: await digest(recipe.config.base.file) };
  // Prefixes and fuzz enter the key only when used, so the keys of plain recipes stay what they were.
  const firsts = resolved.inputs.some((p) => p.first !== undefined) ? { firsts: resolved.inputs.map((p) => p.first ?? null) } : {};
  const fuzz = recipe.patchFuzz ? { patchFuzz: recipe.patchFuzz } : {};
  const conditional = whenDefinedText.length ? { whenDefined: whenDefinedText.map(({ name, text }) => ({ name, sha256: sha256(text) })) } : {};
  const coverage = recipe.coverage ? { coverage: COVERAGE_VERSION } : {};
  const key = contentKey({ pipeline: PIPELINE_VERSION, name: recipe.name, base, cmdline: recipe.cmdline, source, patches, ...firsts, ...fuzz, fragments, ...conditional, ...coverage, toolchain });
  return {
    recipe,
    key,
    inputs: { recipe: recipe.name, source, patches, fragments, cmdline: recipe.cmdline },
    toolchain,
    fragmentText,
    whenDefinedText,
    patchInputs: resolved.inputs,
    series: resolved.series,
  };
}

/** The artifact for a recipe: from the cache when its key is there, else built now. */
export async function buildKernel(recipeRef?: string | Recipe, options: BuildOptions = {}): Promise<KernelArtifact> {
  const cache = options.cache ?? cacheRoot();
  const plan = await planBuild(recipeRef, cache);
  // A corrupt entry is moved aside (and built again below) or refused, when it was imported.
  const hit = await lookupIntact(cache, plan.key, options.warn);
  if (hit) {
    await recordName(cache, plan.recipe.name, plan.key);
    return hit;
  }

  const { recipe, key } = plan;
  const progress = createProgress(`kernel ${recipe.name}`, process.stderr, options.quiet);
  const say = (phase: string) => {
    options.onPhase?.(phase);
    progress.phase(phase);
  };
  const started = performance.now();

  // One build at a time per build directory (a recipe's own, or one it shares).
  const dirs = cacheLayout(cache);
  const buildDir = join(dirs.build, recipe.buildDir ?? recipe.name);
  await mkdir(dirs.build, { recursive: true });
  await using _lock = await acquireLock(`${buildDir}.lock`, { onWait: (pid) => say(`waiting for pid ${pid}, which is building ${recipe.name}`) });
  const raced = await lookupIntact(cache, key, options.warn);
  if (raced) return raced;

  const source = await materializeSource(plan.inputs.source, recipe.source, cache, say);
  // Recipes of one source share its tree (patched in place): one build at a time per source.
  await using _treeLock = await acquireLock(`${source}.build.lock`, { onWait: (pid) => say(`waiting for pid ${pid}, which is building from the same source tree`) });
  const { tree, fuzzed } = await preparePatchedTree(source, plan.patchInputs, {
    inPlace: plan.inputs.source.kind !== 'local',
    copyDir: join(dirs.trees, recipe.buildDir ?? recipe.name),
    say,
    fuzz: recipe.patchFuzz,
  });
  for (const f of fuzzed) say(`patch ${f.patch} applied only with fuzz: ${f.hunks.join('; ')}`);

  // A build directory remembers its source tree; a different tree means starting clean.
  const marker = join(buildDir, '.luo-harness-tree');
  if ((await readFile(marker, 'utf8').catch(() => '')) !== tree) {
    await rm(buildDir, { recursive: true, force: true });
    await mkdir(buildDir, { recursive: true });
    await writeFile(marker, tree);
  }

  const parseFragment = ({ name, text }: { name: string; text: string }) => {
    const parsed = parseKconfig(text, name);
    if (parsed.errors.length) throw new ConfigError(`config fragment ${name} has lines that are not Kconfig settings`, { detail: parsed.errors.join('\n') });
    return parsed.requests;
  };
  const conditional = plan.whenDefinedText.flatMap(parseFragment);
  const defined = await definedSymbols(tree, conditional.map((r) => r.option));
  const notDefined = conditional.filter((r) => !defined.has(r.option)).map((r) => r.option);
  if (notDefined.length) say(`not asking for ${notDefined.map((o) => `CONFIG_${o}`).join(', ')}: this tree does not define ${notDefined.length > 1 ? 'them' : 'it'} (the recipe's whenDefined)`);
  const requests = mergeRequests([...plan.fragmentText.map(parseFragment), conditional.filter((r) => defined.has(r.option))]);
  await mkdir(dirs.logs, { recursive: true });
  // A coverage build: gcov on the live-update files and the C files the patches touch.
  const units = recipe.coverage ? await patchUnits(plan.patchInputs) : [];
  const instrument = recipe.coverage ? await filesToInstrument(tree, units) : [];
  if (recipe.coverage) say(`instrumenting ${instrument.length} file(s) for coverage`);
  const ctx: BuildContext = {
    recipe: recipe.name,
    tree,
    buildDir,
    logFile: join(dirs.logs, `kernel-${recipe.name}-${key}.log`),
    ccache: await hasCcache(),
    sourceStepsFile: join(dirs.build, `.steps-${sourceId(plan.inputs.source)}`),
    say,
    tick: (d) => progress.update(d),
    ...(recipe.coverage ? { makeArgs: gcovMakeArgs(instrument) } : {}),
  };
  const log = await openLog(ctx);
  const staging = await stagingDir(cache, key);
  try {
    const config = await configure(ctx, log, recipe.config.base, requests);
    const release = await compile(ctx, log, join(staging, ARTIFACT_FILES.headers));
    const coverage = recipe.coverage ? await collectCoverageNotes({ tree, buildDir, files: instrument, units, outDir: join(staging, COVERAGE_DIR) }) : undefined;
    say('building selftests');
    const selftests = await buildSelftests({
      tree,
      headersDir: join(staging, ARTIFACT_FILES.headers),
      outDir: join(staging, ARTIFACT_FILES.selftests),
      log: (line) => log.write(line + '\n'),
    }).then(
      (b) => ({ tests: b.programs, ...(b.notes.length ? { notes: b.notes } : {}) }),
      // A kernel whose selftests do not build is still a kernel: say why in the manifest.
      async (e: Error) => {
        await rm(join(staging, ARTIFACT_FILES.selftests), { recursive: true, force: true });
        log.write(`selftests: ${e.message}\n`);
        return { error: e.message };
      },
    );
    await new Promise((r) => log.end(r));
    say('publishing');
    await copyFile(join(buildDir, 'arch', 'x86', 'boot', 'bzImage'), join(staging, ARTIFACT_FILES.bzImage));
    await copyFile(join(buildDir, '.config'), join(staging, ARTIFACT_FILES.config));
    // headers_install leaves kbuild's hidden .cmd files behind; they are not headers.
    const headers = join(staging, ARTIFACT_FILES.headers);
    for (const f of await listFiles(headers)) if (basename(f).startsWith('.')) await rm(join(headers, f));
    const manifest: KernelManifest = {
      schema: 1,
      key,
      ...plan.inputs,
      release,
      arch: 'x86_64',
      toolchain: { ...plan.toolchain, ccache: String(ctx.ccache) },
      buildSeconds: Math.round((performance.now() - started) / 100) / 10,
      builtAt: new Date().toISOString(),
      files: await digestFiles(staging),
      capabilities: capabilitiesOf(config),
      selftests,
      ...(plan.series.length ? { series: plan.series } : {}),
      ...(recipe.patchFuzz ? { patchFuzz: recipe.patchFuzz } : {}),
      ...(fuzzed.length ? { fuzzed } : {}),
      ...(notDefined.length ? { notDefined } : {}),
      ...(coverage ? { coverage: { files: coverage.files, ...(coverage.notBuilt.length ? { notBuilt: coverage.notBuilt } : {}) } } : {}),
    };
    await writeFile(join(staging, ARTIFACT_FILES.manifest), JSON.stringify(manifest, null, 2) + '\n');
    const artifact = await publish(cache, staging, key);
    await recordName(cache, recipe.name, key);
    await forgetImport(cache, key);
    progress.done(`built ${release} in ${manifest.buildSeconds}s: ${artifact.dir}`);
    return artifact;
  } catch (e) {
    log.end();
    progress.done();
    throw e;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
