// A patch series named by Message-ID (or an archive URL, or an mbox file),
// fetched from a lore-compatible archive as `<base>/<message-id>/t.mbox.gz`
// and kept in the cache by Message-ID and content hash. Only a thread that
// holds a complete series is kept: a wrong id, an unreachable archive or a
// 404 leaves nothing behind.
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ConfigError, InfraError } from '../errors.ts';
import { cacheLayout } from '../paths.ts';
import { sha256 } from '../util/hash.ts';
import type { KernelManifest } from './artifact.ts';
import { seriesOf } from './patches.ts';

/** The public archive, unless --archive or LUO_HARNESS_ARCHIVE names another. */
export const DEFAULT_ARCHIVE = 'https://lore.kernel.org/all';
export const ARCHIVE_ENV = 'LUO_HARNESS_ARCHIVE';

export const archiveBase = (env: NodeJS.ProcessEnv = process.env) => (env[ARCHIVE_ENV] || DEFAULT_ARCHIVE).replace(/\/+$/, '');

export interface FetchedSeries {
  /** The mbox to apply. */
  file: string;
  /** Where it came from: the URL fetched, or the file given. */
  origin: string;
  messageId?: string;
}

const URL_REF = /^https?:\/\//;
const MESSAGE_ID = /^[^\s<>@]+@[^\s<>@]+$/;

/** A Message-ID as given on a command line or in a recipe, without its angle brackets; undefined when it is not one. */
export function messageIdOf(ref: string): string | undefined {
  const id = ref.trim().replace(/^<(.*)>$/, '$1').replace(/^id:/, '');
  return MESSAGE_ID.test(id) ? id : undefined;
}

/** What a series reference names: an archive URL, a Message-ID, or an mbox file (as given). */
export type SeriesRef = { kind: 'url'; url: string } | { kind: 'message-id'; id: string } | { kind: 'file'; path: string };

/** Reads a series reference; `label` is how the error names it. */
export function parseSeriesRef(ref: string, label = `series "${ref}"`): SeriesRef {
  const text = ref.trim();
  if (URL_REF.test(text)) return { kind: 'url', url: text };
  const id = messageIdOf(text);
  if (id) return { kind: 'message-id', id };
  if (existsSync(text)) return { kind: 'file', path: text };
  throw new ConfigError(`${label} is neither a Message-ID (like 20261124101500.1-ada@example.org), an http(s) URL, nor an existing mbox file`);
}

/** Where a Message-ID's thread lives in a lore-style archive. */
export function threadUrl(base: string, messageId: string): string {
  return `${base.replace(/\/+$/, '')}/${messageId.replace(/[%/?#]/g, encodeURIComponent)}/t.mbox.gz`;
}

/** The thread URL of an archive link: a message's page gets `t.mbox.gz` appended; an .mbox(.gz) link is taken as it is. */
function urlOfLink(link: string): string {
  if (/\.mbox(\.gz)?$/.test(link) || /\/raw$/.test(link)) return link;
  return `${link.replace(/\/+$/, '')}/t.mbox.gz`;
}

/** The mbox for a series reference: a file as it is, else the cached thread, else fetched now. */
export async function resolveSeriesRef(ref: string, options: { cache: string; archive?: string; say?: (m: string) => void }): Promise<FetchedSeries> {
  const parsed = parseSeriesRef(ref);
  if (parsed.kind === 'file') return { file: parsed.path, origin: parsed.path };
  if (parsed.kind === 'message-id') return fetchThread(threadUrl(options.archive ?? archiveBase(), parsed.id), parsed.id, options);
  const id = parsed.url.split('/').map((part) => messageIdOf(decodeURIComponent(part))).find((x) => x !== undefined);
  return fetchThread(urlOfLink(parsed.url), id, options);
}

/** One directory per Message-ID (or URL), one file per distinct content. */
function cacheDirOf(cache: string, key: string): string {
  const slug = key.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 60);
  return join(cacheLayout(cache).series, `${slug}-${sha256(key).slice(0, 12)}`);
}

async function fetchThread(url: string, messageId: string | undefined, options: { cache: string; say?: (m: string) => void }): Promise<FetchedSeries> {
  const dir = cacheDirOf(options.cache, messageId ?? url);
  const cached = existsSync(dir) ? (await readdir(dir)).find((f) => /^thread-[0-9a-f]{12}\.mbox$/.test(f)) : undefined;
  if (cached) return { file: join(dir, cached), origin: url, ...(messageId ? { messageId } : {}) };

  options.say?.(`fetching ${url}`);
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(60_000), headers: { accept: 'application/gzip, application/mbox, */*' } });
  } catch (cause) {
    const why = (cause as Error & { cause?: Error }).cause?.message ?? (cause as Error).message;
    throw new InfraError(`cannot reach the archive for ${url} (${why}); give a reachable lore-compatible archive with --archive URL or ${ARCHIVE_ENV}`, { cause });
  }
  if (res.status === 404) {
    throw new ConfigError(`the archive has no thread ${messageId ? `for Message-ID <${messageId}>` : `at ${url}`} (HTTP 404 from ${url}); check the Message-ID, or the archive given with --archive / ${ARCHIVE_ENV}`);
  }
  if (!res.ok) throw new InfraError(`the archive answered ${url} with HTTP ${res.status} ${res.statusText}`);
  const body = Buffer.from(await res.arrayBuffer());
  let mbox: string;
  try {
    mbox = (body[0] === 0x1f && body[1] === 0x8b ? gunzipSync(body) : body).toString('utf8');
  } catch (cause) {
    throw new ConfigError(`${url} is not a gzip'd mbox (it does not decompress)`, { cause });
  }
  // Refuses a thread without a complete series (ConfigError naming the missing patches) before anything is kept.
  const series = (() => {
    try {
      return seriesOf(mbox);
    } catch (e) {
      if (e instanceof ConfigError) throw new ConfigError(`the thread at ${url}: ${e.message}`, { cause: e });
      throw e;
    }
  })();
  if (!series) throw new ConfigError(`the thread at ${url} holds no patch mail ([PATCH n/m] with a diff)`);

  await mkdir(dir, { recursive: true });
  const file = join(dir, `thread-${sha256(mbox).slice(0, 12)}.mbox`);
  const tmp = `${file}.${process.pid}.partial`;
  try {
    await writeFile(tmp, mbox);
    await writeFile(join(dir, 'origin.json'), JSON.stringify({ url, ...(messageId ? { messageId } : {}), fetchedAt: new Date().toISOString() }, null, 2) + '\n');
    await rename(tmp, file);
  } catch (cause) {
    await rm(dir, { recursive: true, force: true });
    throw new InfraError(`cannot keep the series from ${url} in ${dir}`, { cause });
  }
  options.say?.(`series v${series.version} "${series.subject}": ${series.patches.length} patch(es)`);
  return { file, origin: url, ...(messageId ? { messageId } : {}) };
}

/** What a manifest records of a series: its subject and version, each patch's subject and hash, the cover's base-commit. */
export type SeriesRecord = NonNullable<KernelManifest['series']>[number];

/** `text`: the file's contents when the caller has read it already. */
export async function seriesRecord(fetched: FetchedSeries, first?: number, text?: string): Promise<SeriesRecord | undefined> {
  const series = seriesOf(text ?? (await readFile(fetched.file, 'utf8')));
  if (!series) return undefined;
  return {
    origin: fetched.origin,
    ...(fetched.messageId ? { messageId: fetched.messageId } : {}),
    subject: series.subject,
    version: series.version,
    total: series.patches.length,
    applied: Math.min(first ?? series.patches.length, series.patches.length),
    ...(series.baseCommit ? { baseCommit: series.baseCommit } : {}),
    patches: series.patches.map((p) => ({ index: p.index, subject: p.subject, sha256: sha256(p.text), messageId: p.messageId })),
  };
}
