// Debian's linux-source-X.Y packages, fetched through the host's own Debian
// mirror with a private apt configuration and state: the system's apt
// sources are never touched and no mirror host is written into the code.
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { ConfigError, InfraError } from '../errors.ts';
import type { SourceIdentity } from './artifact.ts';
import type { SourceSpec } from './recipe.ts';
import { sha256File } from '../util/hash.ts';

type DebianSpec = Extract<SourceSpec, { type: 'debian' }>;
type DebianIdentity = Extract<SourceIdentity, { kind: 'debian' }>;

const LISTS_MAX_AGE_MS = 12 * 3600_000;

export interface Mirror {
  uri: string;
  signedBy?: string;
}

/** The first Debian archive (not the security archive) the host's apt configuration names. */
export function findHostMirror(files: { name: string; text: string }[]): Mirror | undefined {
  for (const { name, text } of files) {
    if (name.endsWith('.sources')) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const field = (k: string) => stanza.match(new RegExp(`^${k}:\\s*(.+)$`, 'mi'))?.[1]?.trim();
        const uris = field('URIs')?.split(/\s+/) ?? [];
        const types = field('Types') ?? '';
        if (!/\bdeb\b/.test(types) || /^\s*Enabled:\s*no/im.test(stanza)) continue;
        const uri = uris.find(isMainArchive);
        const signedBy = field('Signed-By');
        if (uri) return { uri, ...(signedBy ? { signedBy } : {}) };
      }
    } else if (name.endsWith('.list')) {
      for (const line of text.split('\n')) {
        const m = line.trim().match(/^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+\S+/);
        if (!m || !isMainArchive(m[2]!)) continue;
        const signedBy = m[1]?.match(/signed-by=(\S+)/)?.[1];
        return { uri: m[2]!, ...(signedBy ? { signedBy } : {}) };
      }
    }
  }
  return undefined;
}

const isMainArchive = (uri: string) => /^(https?|file):\/\//.test(uri) && /\/debian\/?$/.test(uri);

async function hostAptFiles(): Promise<{ name: string; text: string }[]> {
  const files: { name: string; text: string }[] = [];
  const add = async (name: string) => files.push({ name, text: await readFile(name, 'utf8').catch(() => '') });
  if (existsSync('/etc/apt/sources.list')) await add('/etc/apt/sources.list');
  const dir = '/etc/apt/sources.list.d';
  for (const f of existsSync(dir) ? (await readdir(dir)).sort() : []) if (/\.(list|sources)$/.test(f)) await add(join(dir, f));
  return files;
}

/** A private apt: its own sources.list, lists and archives under `root`. */
export class PrivateApt {
  constructor(readonly root: string, readonly suites: string[]) {}

  private options(): string[] {
    const o = (k: string, v: string) => ['-o', `${k}=${v}`];
    return [
      ...o('Dir::Etc', join(this.root, 'etc')),
      ...o('Dir::Etc::SourceList', join(this.root, 'etc', 'sources.list')),
      ...o('Dir::Etc::SourceParts', join(this.root, 'etc', 'sources.list.d')),
      ...o('Dir::Etc::Parts', join(this.root, 'etc', 'apt.conf.d')),
      ...o('Dir::Etc::Preferences', join(this.root, 'etc', 'preferences')),
      ...o('Dir::Etc::PreferencesParts', join(this.root, 'etc', 'preferences.d')),
      ...o('Dir::State', join(this.root, 'state')),
      ...o('Dir::Cache', join(this.root, 'cache')),
      // Hosts often disable apt's binary cache (container images do); ours
      // keeps it, so a lookup takes milliseconds instead of a second.
      ...o('Dir::Cache::pkgcache', 'pkgcache.bin'),
      ...o('Dir::Cache::srcpkgcache', 'srcpkgcache.bin'),
      ...o('Debug::NoLocking', '1'),
      ...o('APT::Sandbox::User', 'root'),
    ];
  }

  private async setUp(): Promise<void> {
    const mirror = process.env.LUO_HARNESS_DEBIAN_MIRROR
      ? { uri: process.env.LUO_HARNESS_DEBIAN_MIRROR }
      : findHostMirror(await hostAptFiles());
    if (!mirror) {
      throw new ConfigError('cannot find a Debian mirror in the host apt configuration (/etc/apt/sources.list*); set LUO_HARNESS_DEBIAN_MIRROR to a Debian archive URI');
    }
    for (const d of ['etc/sources.list.d', 'etc/apt.conf.d', 'etc/preferences.d', 'state/lists/partial', 'cache/archives/partial']) {
      await mkdir(join(this.root, d), { recursive: true });
    }
    const signed = mirror.signedBy ? ` [signed-by=${mirror.signedBy}]` : '';
    const list = this.suites.map((s) => `deb${signed} ${mirror.uri} ${s} main`).join('\n') + '\n';
    const listFile = join(this.root, 'etc', 'sources.list');
    const previous = await readFile(listFile, 'utf8').catch(() => '');
    if (previous !== list) {
      await writeFile(listFile, list);
      await rm(join(this.root, 'state', 'lists'), { recursive: true, force: true });
      await mkdir(join(this.root, 'state', 'lists', 'partial'), { recursive: true });
    }
  }

  /** Refreshes the package lists when they are missing, stale, or `force`d. */
  async update(force = false): Promise<void> {
    await this.setUp();
    const stamp = join(this.root, 'state', 'updated');
    const age = await stat(stamp).then((s) => Date.now() - s.mtimeMs, () => Infinity);
    if (!force && age < LISTS_MAX_AGE_MS) return;
    await this.run('apt-get', ['update', '-q']);
    await writeFile(stamp, new Date().toISOString());
  }

  async run(tool: string, args: string[], cwd?: string): Promise<string> {
    try {
      const r = await execa(tool, [...this.options(), ...args], { cwd, env: { LC_ALL: 'C' } });
      return r.stdout;
    } catch (cause) {
      const e = cause as { stderr?: string; shortMessage?: string };
      throw new InfraError(`${tool} ${args.join(' ')} failed: ${e.stderr?.trim().split('\n').slice(-3).join(' ') || e.shortMessage}`, { cause });
    }
  }
}

/** Which version of the package the recipe means, with the sha256 the archive publishes for it. */
export async function resolveDebian(spec: DebianSpec, apt: PrivateApt): Promise<DebianIdentity> {
  await apt.update();
  let found = await lookUp(spec, apt);
  if (!found) {
    await apt.update(true); // the lists may predate the version asked for
    found = await lookUp(spec, apt);
  }
  if (!found) {
    throw new ConfigError(`Debian package ${spec.package}${spec.version ? ` version ${spec.version}` : ''} is not in suites ${spec.suites.join(', ')}`);
  }
  return found;
}

async function lookUp(spec: DebianSpec, apt: PrivateApt): Promise<DebianIdentity | undefined> {
  let version = spec.version;
  if (!version) {
    const policy = await apt.run('apt-cache', ['policy', spec.package]);
    version = policy.match(/Candidate:\s*(\S+)/)?.[1];
    if (!version || version === '(none)') return undefined;
  }
  const show = await apt.run('apt-cache', ['show', `${spec.package}=${version}`]).catch(() => '');
  const sha = show.match(/^SHA256:\s*([0-9a-f]{64})/m)?.[1];
  if (!sha) return undefined;
  return { kind: 'debian', package: spec.package, version, sha256: sha };
}

/** Downloads the .deb and extracts the kernel tree it carries into `dest`. */
export async function fetchDebian(id: DebianIdentity, apt: PrivateApt, dest: string, work: string, say: (phase: string) => void): Promise<void> {
  await mkdir(work, { recursive: true });
  say(`fetching ${id.package} ${id.version}`);
  await apt.run('apt-get', ['download', '-q', `${id.package}=${id.version}`], work);
  const deb = (await readdir(work)).find((f) => f.endsWith('.deb'));
  if (!deb) throw new InfraError(`apt-get download of ${id.package}=${id.version} produced no .deb`);
  const actual = await sha256File(join(work, deb));
  if (actual !== id.sha256) throw new InfraError(`${deb} has sha256 ${actual}, the archive index says ${id.sha256}`);
  say(`extracting ${id.package} ${id.version}`);
  const inner = `./usr/src/${id.package}.tar.xz`;
  const tree = join(work, 'tree');
  await mkdir(tree, { recursive: true });
  try {
    await execa('sh', ['-c', 'dpkg-deb --fsys-tarfile "$1" | tar -xO "$2" | tar -xJ -C "$3"', 'sh', join(work, deb), inner, tree]);
  } catch (cause) {
    throw new InfraError(`cannot extract ${inner} from ${deb}`, { cause });
  }
  const top = await readdir(tree);
  if (top.length !== 1) throw new InfraError(`${inner} should hold one top directory, holds ${top.join(', ')}`);
  await rename(join(tree, top[0]!), dest);
  await rm(work, { recursive: true, force: true });
}
