// Turn the recipe (plus the optional agent binary) into the guest file tree:
// read host binaries with the libraries ldd names, add busybox applet links,
// the recipe's files, directories, symlinks and device nodes.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { ConfigError, InfraError } from '../errors.ts';
import { findCommand } from './host-tools.ts';
import { sharedLibraries } from './ldd.ts';
import { imagesDir, type ImageRecipe } from './recipe.ts';
import { RootfsTree } from './rootfs.ts';

/** Where the in-guest agent lives (a convention shared with scenarios). */
export const AGENT_GUEST_PATH = '/usr/sbin/luo-agent';

export interface PlanOptions {
  /** A static `luo-agent` binary on the host; installed as /usr/sbin/luo-agent. */
  agentBinary?: string;
  /** Host path per recipe command, instead of searching PATH (e.g. a busybox built elsewhere). */
  commands?: Record<string, string>;
  /** Directory that recipe `source` paths are relative to. */
  sourceDir?: string;
}

/** Which host file became which guest file; recorded in the image manifest. */
export interface HostSource {
  guest: string;
  host: string;
}

export async function planRootfs(recipe: ImageRecipe, options: PlanOptions = {}): Promise<{ tree: RootfsTree; sources: HostSource[] }> {
  const tree = new RootfsTree();
  const sources: HostSource[] = [];
  const sourceDir = options.sourceDir ?? imagesDir;

  for (const d of recipe.dirs) tree.add({ type: 'dir', path: d.guest, mode: d.mode });
  for (const dev of recipe.devices) tree.add({ type: 'char', path: dev.guest, mode: dev.mode, major: dev.major, minor: dev.minor });
  for (const s of recipe.symlinks) tree.add({ type: 'symlink', path: s.guest, target: s.target });
  for (const f of recipe.files) {
    const data = f.source !== undefined ? await readSource(join(sourceDir, f.source), 'The image recipe names') : Buffer.from(f.content ?? '', 'utf8');
    tree.add({ type: 'file', path: f.guest, mode: f.mode, data });
  }

  const binaries = recipe.binaries.map((b) => ({ ...b, host: options.commands?.[b.command] }));
  if (options.agentBinary !== undefined) binaries.push({ command: 'luo-agent', guest: AGENT_GUEST_PATH, host: options.agentBinary, applets: false });

  for (const bin of binaries) {
    const host = bin.host ?? (await findCommand(bin.command));
    // A path the caller gave that cannot be read is bad input, not a broken host.
    const data = bin.host !== undefined ? await readSource(host, 'The image was given') : await readHost(host);
    tree.add({ type: 'file', path: bin.guest, mode: 0o755, data });
    sources.push({ guest: bin.guest, host });
    for (const lib of await sharedLibraries(host)) {
      // Libraries go where the loader looks for them: the path ldd printed.
      if (tree.has(lib)) continue;
      tree.add({ type: 'file', path: lib, mode: 0o755, data: await readHost(lib) });
      sources.push({ guest: lib, host: lib });
    }
    if (bin.applets) {
      for (const applet of await busyboxApplets(host)) {
        if ('/' + applet === bin.guest) continue;
        tree.add({ type: 'symlink', path: applet, target: bin.guest }, { ifAbsent: true });
      }
    }
  }
  return { tree, sources };
}

/** `busybox --list-full`: applet paths relative to the root ("bin/sh", "sbin/ip"). */
async function busyboxApplets(busybox: string): Promise<string[]> {
  const r = await execa(busybox, ['--list-full'], { reject: false });
  if (r.exitCode !== 0) throw new InfraError(`\`${busybox} --list-full\` failed; the image needs a full busybox (busybox-static).`, { detail: r.stderr });
  return r.stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('/') && !l.split('/').includes('..'));
}

async function readHost(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (cause) {
    throw new InfraError(`Cannot read ${path} for the guest image.`, { cause });
  }
}

async function readSource(path: string, who: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (cause) {
    throw new ConfigError(`${who} ${path}, which cannot be read.`, { cause });
  }
}
