// buildGuestImage: plan the guest tree, key it by content, and build the
// newc archive into the cache once per key. It is not compressed: under TCG
// the kernel inflates a gzip'd initramfs at 45 MB/s, on every boot and inside
// every blackout, while purgatory's digest of the 2.3x larger plain archive
// costs less than a third of that (docs/speed.md). Concurrent
// builders are tolerated: each builds in its own temp directory and the
// first rename wins; the others use the winner's result. A cached archive
// is checked against the sha256 its manifest recorded whenever it is used
// (hashed once per process): a corrupt one is named, moved aside and built
// again.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InfraError } from '../errors.ts';
import { cacheLayout } from '../paths.ts';
import { sha256 } from '../util/hash.ts';
import { checkFiles, describeMismatch, publishDir, setAsideToRebuild, type Mismatch } from '../util/cache-entry.ts';
import { writeCpio } from './cpio.ts';
import { IMAGE_FORMAT, imageKey } from './image-key.ts';
import { planRootfs, type HostSource, type PlanOptions } from './plan.ts';
import { loadRecipe } from './recipe.ts';
import type { RootfsManifestEntry } from './rootfs.ts';

export interface ImageManifest {
  schema: 1;
  format: number;
  key: string;
  hasAgent: boolean;
  builtAt: string;
  buildMs: number;
  /** sha256 and size of the archive file (cpioBytes: the same size, kept for older readers). */
  initramfs: { sha256: string; bytes: number; cpioBytes: number };
  sources: HostSource[];
  entries: RootfsManifestEntry[];
}

/** A built guest image in the cache. It holds no keys: see prepareRunInitrd. */
export interface GuestImage {
  key: string;
  dir: string;
  /** The cpio newc archive. */
  initramfs: string;
  manifest: ImageManifest;
  /** True when this call found the image in the cache. */
  cached: boolean;
}

export interface BuildImageOptions extends PlanOptions {
  /** Defaults to images/recipe.json. */
  recipePath?: string;
  /** Defaults to the cache's images folder. */
  cacheDir?: string;
  /** Where a corrupt cache entry is reported (default: stderr). */
  warn?: (message: string) => void;
}

export const IMAGE_FILES = { initramfs: 'initramfs.cpio', manifest: 'manifest.json' } as const;

export async function buildGuestImage(options: BuildImageOptions = {}): Promise<GuestImage> {
  const started = performance.now();
  const recipe = await loadRecipe(options.recipePath);
  const { tree, sources } = await planRootfs(recipe, options);
  const entries = tree.manifest();
  const key = imageKey(entries);
  const cacheDir = options.cacheDir ?? cacheLayout().images;
  const dir = join(cacheDir, key);

  const existing = await inspectCachedImage(dir, key);
  if (existing.kind === 'intact') return existing.image;
  if (existing.kind === 'corrupt') {
    await setAsideToRebuild(dir, 'guest image', key, 'mismatch' in existing ? describeMismatch(existing.mismatch) : existing.reason, options.warn);
  }

  const cpio = writeCpio(tree.entries());
  const manifest: ImageManifest = {
    schema: 1,
    format: IMAGE_FORMAT,
    key,
    hasAgent: options.agentBinary !== undefined,
    builtAt: new Date().toISOString(),
    buildMs: 0,
    initramfs: { sha256: sha256(cpio), bytes: cpio.length, cpioBytes: cpio.length },
    sources,
    entries,
  };

  try {
    await mkdir(cacheDir, { recursive: true });
    const tmp = await mkdtemp(join(cacheDir, `.${key}.tmp-`));
    try {
      await writeFile(join(tmp, IMAGE_FILES.initramfs), cpio);
      manifest.buildMs = Math.round(performance.now() - started);
      await writeFile(join(tmp, IMAGE_FILES.manifest), JSON.stringify(manifest, null, 2) + '\n');
      await publish(tmp, dir);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  } catch (cause) {
    throw new InfraError(`Cannot write the guest image into the cache at ${cacheDir}.`, { cause });
  }
  const published = await loadCachedImage(dir, key);
  if (!published) throw new InfraError(`The guest image ${key} vanished from ${dir} right after it was built.`);
  return { ...published, cached: false };
}

/**
 * Rename the finished temp dir into place. Losing the race to another
 * builder is fine: theirs is kept when intact; a corrupt one is moved
 * aside, and one from an older format is replaced.
 */
async function publish(tmp: string, dir: string): Promise<void> {
  await publishDir(tmp, dir, async () => {
    const there = await inspectCachedImage(dir, undefined);
    return there.kind === 'intact' ? 'keep' : there.kind === 'corrupt' ? 'aside' : 'remove';
  });
}

type CachedImageState =
  | { kind: 'absent' }
  | { kind: 'intact'; image: GuestImage }
  /** Another format or key: not this harness's entry to judge, only to replace. */
  | { kind: 'stale' }
  | { kind: 'corrupt'; mismatch: Mismatch }
  | { kind: 'corrupt'; reason: string };

/** What the cache holds at `dir`: checked against its manifest's sha256 (hashed once per process while the file is unchanged). */
async function inspectCachedImage(dir: string, key: string | undefined): Promise<CachedImageState> {
  const manifestFile = join(dir, IMAGE_FILES.manifest);
  if (!existsSync(dir)) return { kind: 'absent' };
  let manifest: ImageManifest;
  try {
    manifest = JSON.parse(await readFile(manifestFile, 'utf8')) as ImageManifest;
  } catch {
    return existsSync(manifestFile) ? { kind: 'corrupt', reason: `${manifestFile} cannot be read as a manifest` } : { kind: 'stale' };
  }
  if (manifest.schema !== 1 || (key !== undefined && manifest.key !== key) || typeof manifest.initramfs?.sha256 !== 'string') return { kind: 'stale' };
  const [mismatch] = await checkFiles({ [join(dir, IMAGE_FILES.initramfs)]: manifest.initramfs.sha256 });
  if (mismatch) return { kind: 'corrupt', mismatch };
  return { kind: 'intact', image: { key: manifest.key, dir, initramfs: join(dir, IMAGE_FILES.initramfs), manifest, cached: true } };
}

/** A complete, intact cached image, or undefined. */
export async function loadCachedImage(dir: string, key: string | undefined): Promise<GuestImage | undefined> {
  const state = await inspectCachedImage(dir, key);
  return state.kind === 'intact' ? state.image : undefined;
}
