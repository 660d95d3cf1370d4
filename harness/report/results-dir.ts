// Results directories on disk: reading one back (a results.json, or the
// directory holding it), rebasing its relative artifact paths for a page
// written elsewhere, and copying the console logs of shards into a merge.
import { copyFile, mkdir, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { ConfigError } from '../errors.ts';
import { readResultsFile } from './json.ts';
import { REPORT_FILES } from './output.ts';
import type { RunResult } from './result.ts';

/** A run read from a results directory, with the directory its relative artifact paths start from. */
export interface LoadedRun {
  result: RunResult;
  dir: string;
  file: string;
}

/** Read DIR/results.json (or the file itself when given one); a missing or invalid file is a ConfigError naming it. */
export async function loadResultsDir(arg: string): Promise<LoadedRun> {
  const path = resolve(arg);
  let isFile = false;
  try {
    isFile = (await stat(path)).isFile();
  } catch (cause) {
    throw new ConfigError(`Results directory ${arg} does not exist; pass the --out directory of a \`luo-harness run\`.`, { cause });
  }
  const file = isFile ? path : join(path, REPORT_FILES.json);
  if (!isFile && !existsSync(file)) {
    throw new ConfigError(`No ${REPORT_FILES.json} in ${arg} (looked for ${file}); is it the --out directory of a \`luo-harness run\`?`);
  }
  return { result: await readResultsFile(file), dir: dirname(file), file };
}

/** Artifact paths are relative to the results directory; rebase them so links work from a page written elsewhere. */
export function rebaseArtifacts(result: RunResult, fromDir: string, toDir: string): RunResult {
  if (resolve(fromDir) === resolve(toDir)) return result;
  return {
    ...result,
    scenarios: result.scenarios.map((s) => ({
      ...s,
      artifacts: s.artifacts.map((a) => ({
        ...a,
        path: isAbsolute(a.path) ? a.path : relative(toDir, resolve(fromDir, a.path)).split(sep).join('/'),
      })),
    })),
  };
}

/** Copy each shard's console logs into the merged directory under the same relative path; returns what could not be copied. */
export async function copyArtifacts(shards: readonly LoadedRun[], outDir: string): Promise<string[]> {
  const problems: string[] = [];
  for (const shard of shards) {
    for (const s of shard.result.scenarios) {
      for (const a of s.artifacts) {
        const from = resolve(shard.dir, a.path);
        // Only paths inside the shard directory: a results file must not make us copy from elsewhere.
        if (isAbsolute(a.path) || relative(shard.dir, from).startsWith('..')) {
          problems.push(`artifact ${a.path} of ${s.name} lies outside ${shard.dir}; not copied`);
          continue;
        }
        const to = join(outDir, a.path);
        try {
          await mkdir(dirname(to), { recursive: true });
          await copyFile(from, to);
        } catch (e) {
          problems.push(`artifact ${a.path} of ${s.name} could not be copied from ${shard.dir}: ${(e as Error).message}`);
        }
      }
    }
  }
  return problems;
}
