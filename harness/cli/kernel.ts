// luo-harness kernel build|list|show|export|fetch
import { ConfigError, EXIT } from '../errors.ts';
import { cacheRoot } from '../paths.ts';
import { buildKernel } from '../kernel/pipeline.ts';
import { listArtifacts } from '../kernel/store.ts';
import { findArtifact } from '../kernel/refs.ts';
import { exportArtifact, fetchArtifact } from '../kernel/archive.ts';
import { DEFAULT_RECIPE } from '../kernel/recipe.ts';
import { coverageRecipe } from '../kernel/derived-recipes.ts';
import type { KernelArtifact } from '../kernel/artifact.ts';
import { command, subcommands } from './command.ts';
import { formatTable } from './table.ts';
import { HANDLERS, hasHandler, type PreservedKind } from '../kernel/capabilities.ts';
import { KERNEL_SOURCE_HELP, KERNEL_SOURCE_OPTIONS, kernelFromFlags } from './kernel-flags.ts';

const HELP = `usage: luo-harness kernel <subcommand>

  build [NAME|FILE ...] [--json] [--quiet]        build (or find in the cache) kernels, one after the other;
        [--recipe NAME|FILE ...]                  prints their directories (default: ${DEFAULT_RECIPE}); with
        [--tree PATH] [--series ID] ...           --tree/--series, that kernel too (--kernel names the base)
        [--coverage]                              each one's coverage twin instead (gcov on the live-update code)
  list [--json]                                   the kernels in the cache
  show NAME|KEY|DIR                               a kernel's manifest
  export NAME|KEY|DIR --out FILE                  write a kernel as a portable tarball
  fetch PATH|URL [--sha256 X] [--allow-non-luo]   import a kernel tarball into the cache

Options of build for a tree or a series:
  --kernel NAME|FILE    the recipe --series patches (default ${DEFAULT_RECIPE})
${KERNEL_SOURCE_HELP}

Recipes are kernels/NAME.json; the default is ${DEFAULT_RECIPE}. The cache is
$LUO_HARNESS_CACHE, else $XDG_CACHE_HOME/luo-harness.`;

export const kernelCommand = subcommands({
  name: 'kernel',
  help: HELP,
  subs: {
    build: command({
      help: HELP,
      options: { recipe: { type: 'string', multiple: true }, kernel: { type: 'string' }, ...KERNEL_SOURCE_OPTIONS, coverage: { type: 'boolean' }, json: { type: 'boolean' }, quiet: { type: 'boolean' } },
      positionals: true,
      run: async ({ values, positionals }, print) => {
        const derived = await kernelFromFlags(values);
        if (values.kernel !== undefined && values.series === undefined) throw new ConfigError('kernel build --kernel names the recipe --series patches; name recipes to build as arguments');
        const named = [...(values.recipe ?? []), ...positionals, ...(derived ? [derived] : [])];
        const asked = named.length ? named : [DEFAULT_RECIPE];
        const recipes = values.coverage ? await Promise.all(asked.map((r) => coverageRecipe(r, { cache: cacheRoot() }))) : asked;
        const built: KernelArtifact[] = [];
        // One after the other: each build uses every core.
        for (const recipe of recipes) built.push(await buildKernel(recipe, { cache: cacheRoot(), quiet: values.quiet ?? false }));
        if (values.json) print(JSON.stringify(built.length === 1 ? built[0]!.manifest : built.map((a) => a.manifest), null, 2));
        else for (const a of built) print(a.dir);
        return EXIT.ok;
      },
    }),
    list: command({
      help: HELP,
      options: { json: { type: 'boolean' } },
      run: async ({ values }, print) => {
        const cache = cacheRoot();
        const all = await listArtifacts(cache);
        if (values.json) print(JSON.stringify(all.map((a) => ({ dir: a.dir, ...a.manifest })), null, 2));
        else if (all.length === 0) print(`no kernels in ${cache}; build one with \`luo-harness kernel build\``);
        else print(formatTable(['recipe', 'key', 'release', 'LUO', 'preserves (file handlers in its config)', 'built'], all.map(row)));
        return EXIT.ok;
      },
    }),
    show: command({
      help: HELP,
      options: {},
      positionals: true,
      run: async ({ positionals }, print) => {
        const artifact = await need(cacheRoot(), positionals[0]);
        print(JSON.stringify({ dir: artifact.dir, ...artifact.manifest }, null, 2));
        return EXIT.ok;
      },
    }),
    export: command({
      help: HELP,
      options: { out: { type: 'string' } },
      positionals: true,
      run: async ({ values, positionals }, print) => {
        if (!values.out) throw new ConfigError('kernel export needs --out FILE');
        const artifact = await need(cacheRoot(), positionals[0]);
        await exportArtifact(artifact, values.out);
        print(values.out);
        return EXIT.ok;
      },
    }),
    fetch: command({
      help: HELP,
      options: { sha256: { type: 'string' }, 'allow-non-luo': { type: 'boolean' } },
      positionals: true,
      run: async ({ values, positionals }, print) => {
        if (!positionals[0]) throw new ConfigError('kernel fetch needs a path or an http(s) URL');
        const opts = { ...(values.sha256 ? { sha256: values.sha256 } : {}), allowNonLuo: values['allow-non-luo'] ?? false };
        const artifact = await fetchArtifact(cacheRoot(), positionals[0], opts);
        print(artifact.dir);
        return EXIT.ok;
      },
    }),
  },
});

async function need(cache: string, ref: string | undefined): Promise<KernelArtifact> {
  if (!ref) throw new ConfigError('name a kernel: a recipe name, a key (or prefix) or an artifact directory');
  const artifact = await findArtifact(cache, ref);
  if (!artifact) throw new ConfigError(`no kernel "${ref}" in ${cache}; \`luo-harness kernel list\` shows what there is`);
  return artifact;
}

function row(a: KernelArtifact): string[] {
  const m = a.manifest;
  const yes = (b: boolean) => (b ? 'yes' : 'no');
  // What its config says it can carry across a live update, handler by handler (not merely IOMMUFD=y).
  const kinds = (Object.keys(HANDLERS) as PreservedKind[]).filter((k) => hasHandler(m.capabilities, k)).map((k) => HANDLERS[k].noun);
  return [m.recipe, m.key.slice(0, 12), m.release, yes(m.capabilities.LIVEUPDATE), m.capabilities.LIVEUPDATE ? kinds.join(', ') || 'nothing' : '-', m.builtAt.slice(0, 16).replace('T', ' ')];
}
