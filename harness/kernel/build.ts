// Configure and compile a kernel out of tree (O=), logging everything to a
// file and reporting a live object counter.
import { createWriteStream, existsSync, type WriteStream } from 'node:fs';
import { appendFile, copyFile, readFile, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { BuildFailure, ConfigError, InfraError } from '../errors.ts';
import type { ConfigBase } from './recipe.ts';
import { describeDropped, parseKconfig, renderFragment, unmetRequests, type ConfigRequest, type KconfigValues } from './kconfig.ts';

export interface BuildContext {
  recipe: string;
  tree: string;
  buildDir: string;
  logFile: string;
  ccache: boolean;
  /** Step count of the last build of any recipe of the same source: the estimate for a first build. */
  sourceStepsFile: string;
  say: (phase: string) => void;
  tick: (detail: string) => void;
  /** More make variables for the kernel's compile (a coverage build's GCOV_PROFILE_<object>.o=y). */
  makeArgs?: string[];
}

const LOG_TAIL = 40;

async function make(ctx: BuildContext, args: string[], log: WriteStream, what: string, onLine?: (line: string) => void): Promise<void> {
  const cc = ctx.ccache ? ['CC=ccache gcc'] : [];
  log.write(`\n$ make ${args.join(' ')}\n`);
  const child = execa('make', ['-C', ctx.tree, `O=${ctx.buildDir}`, ...cc, ...args], {
    reject: false,
    all: true,
    buffer: false,
    env: { KBUILD_BUILD_USER: 'luo-harness', KBUILD_BUILD_HOST: 'luo-harness', LC_ALL: 'C' },
  });
  let partial = '';
  child.all!.on('data', (chunk: Buffer) => {
    log.write(chunk);
    if (!onLine) return;
    const text = partial + chunk.toString();
    const lines = text.split('\n');
    partial = lines.pop()!;
    lines.forEach(onLine);
  });
  const result = await child;
  if (result.exitCode !== 0) {
    await new Promise((r) => log.end(r));
    const tail = (await readFile(ctx.logFile, 'utf8')).trimEnd().split('\n').slice(-LOG_TAIL).join('\n');
    if (/source tree is not clean/.test(tail)) {
      throw new ConfigError(`kernel tree ${ctx.tree} was built in place; run \`make mrproper\` there so it can be built out of tree`, { detail: tail });
    }
    throw new BuildFailure(`${what} of recipe ${ctx.recipe} failed (make exited ${result.exitCode}); full log: ${ctx.logFile}`, { detail: tail });
  }
}

export async function openLog(ctx: BuildContext): Promise<WriteStream> {
  await writeFile(ctx.logFile, `luo-harness build of ${ctx.recipe}\ntree: ${ctx.tree}\nbuild: ${ctx.buildDir}\n`);
  return createWriteStream(ctx.logFile, { flags: 'a' });
}

/**
 * Which of `options` the tree's Kconfig files define (`config X` or
 * `menuconfig X`): a symbol a patch series adds exists only once it applied.
 */
export async function definedSymbols(tree: string, options: readonly string[]): Promise<Set<string>> {
  if (options.length === 0) return new Set();
  const pattern = `^[[:space:]]*(menu)?config[[:space:]]+(${options.join('|')})[[:space:]]*$`;
  const r = await execa('grep', ['-rhoE', '--include=Kconfig*', pattern, tree], { reject: false });
  if (r.exitCode !== 0 && r.exitCode !== 1) throw new InfraError(`could not search the Kconfig files of ${tree} (grep exited ${r.exitCode})`, { detail: r.stderr });
  return new Set(r.stdout.split('\n').map((l) => l.trim().split(/\s+/)[1]).filter((o): o is string => !!o));
}

/** Base config, then the fragments, then olddefconfig; refuses a .config that drops a requested option. */
export async function configure(ctx: BuildContext, log: WriteStream, base: ConfigBase, requests: ConfigRequest[]): Promise<KconfigValues> {
  ctx.say('configuring');
  const fragment = join(ctx.buildDir, 'luo-harness.fragment');
  await writeFile(fragment, renderFragment(requests));
  if (base === 'allnoconfig') {
    // allnoconfig with the fragment forced: options the fragment enables pull
    // in their dependencies' defaults the way a human choosing them would.
    await make(ctx, [`KCONFIG_ALLCONFIG=${fragment}`, 'allnoconfig'], log, 'allnoconfig');
  } else {
    if (base === 'defconfig') await make(ctx, ['defconfig'], log, 'defconfig');
    else await copyFile(base.file, join(ctx.buildDir, '.config'));
    await appendFile(join(ctx.buildDir, '.config'), '\n' + renderFragment(requests));
  }
  await make(ctx, ['olddefconfig'], log, 'olddefconfig');
  const final = parseKconfig(await readFile(join(ctx.buildDir, '.config'), 'utf8')).values;
  const dropped = unmetRequests(requests, final);
  const luo = dropped.filter((d) => ['LIVEUPDATE', 'KEXEC_HANDOVER'].includes(d.option) && d.actual === 'n');
  if (luo.length) {
    // The one miss no other option can make up for: say it in words.
    throw new ConfigError(
      `recipe ${ctx.recipe}: the tree at ${ctx.tree} gives no Live Update: ${luo.map((d) => `CONFIG_${d.option}`).join(' and ')} ${luo.length > 1 ? 'are' : 'is'} not set after olddefconfig (a tree without the Live Update Orchestrator, or a base config that turns off what it depends on); test a tree with LUO (7.2 or later)`,
      { detail: describeDropped(dropped) },
    );
  }
  if (dropped.length) {
    throw new ConfigError(`recipe ${ctx.recipe}: ${dropped.length} requested Kconfig option(s) did not survive olddefconfig`, {
      detail: describeDropped(dropped),
    });
  }
  return final;
}

/** bzImage, then the uapi headers into `headersDir`; returns `uname -r`. */
export async function compile(ctx: BuildContext, log: WriteStream, headersDir: string): Promise<string> {
  // The total comes from this build directory's last build, else from the last build of the same source.
  const countFile = join(ctx.buildDir, '.luo-harness-steps');
  const readCount = (f: string) => readFile(f, 'utf8').then((t) => Number(t) || 0, () => 0);
  const own = await readCount(countFile);
  const expected = own || (await readCount(ctx.sourceStepsFile));
  const about = own ? '' : '~';
  let steps = 0;
  ctx.say('building');
  await make(ctx, [`-j${availableParallelism()}`, ...(ctx.makeArgs ?? []), 'bzImage'], log, 'make bzImage', (line) => {
    if (!/^\s+[A-Z][A-Z0-9_]*\s+\S/.test(line)) return;
    steps++;
    ctx.tick(expected > steps ? `${steps}/${about}${expected} steps (${Math.floor((100 * steps) / expected)}%)` : `${steps} steps${expected ? '' : ' (first build of this source: no total known yet)'}`);
  });
  if (steps > 50) {
    await writeFile(countFile, String(steps));
    if (!own) await writeFile(ctx.sourceStepsFile, String(steps));
  }
  ctx.say('installing headers');
  await make(ctx, ['headers_install', `INSTALL_HDR_PATH=${headersDir}`], log, 'make headers_install');
  const releaseFile = join(ctx.buildDir, 'include', 'config', 'kernel.release');
  if (existsSync(releaseFile)) return (await readFile(releaseFile, 'utf8')).trim();
  return (await execa('make', ['-s', '-C', ctx.tree, `O=${ctx.buildDir}`, 'kernelrelease'])).stdout.trim();
}
