// luo-harness report DIR [DIR] | report merge DIR... --out DIR
import { mkdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ConfigError, EXIT } from '../errors.ts';
import { cacheLayout } from '../paths.ts';
import { compareToBaseline, saveBaseline } from '../report/baseline.ts';
import { readMetrics, type MetricsRow } from '../report/history.ts';
import { renderHtml } from '../report/html.ts';
import { copyArtifacts, loadResultsDir, rebaseArtifacts } from '../report/results-dir.ts';
import { toMarkdown } from '../report/markdown.ts';
import { REPORT_FILES, writeReportFiles } from '../report/output.ts';
import { overallVerdict } from '../report/result.ts';
import { mergeShardResults } from '../report/shard.ts';
import { command, subcommands } from './command.ts';

const HELP = `usage: luo-harness report <DIR [DIR2] | merge DIR... --out DIR>

  report DIR [--out FILE] [--history FILE] [--markdown FILE]
      render DIR/report.html from DIR/results.json, with the blackout history
      from --history, else DIR/metrics.jsonl, else the cache's metrics.jsonl
  report PREVIOUS CURRENT [--out FILE] [--history FILE] [--markdown FILE]
      compare two runs side by side (PREVIOUS is the baseline); the page is
      about CURRENT and goes to CURRENT/report.html unless --out says otherwise
  report merge DIR... --out DIR
      merge the results of shards (\`luo-harness run --shard i/n\`) into one results directory:
      results.json, junit.xml, results.tap, summary.md, report.html and the
      console logs; exits with the merged verdict's exit code

A DIR may also name a results.json file directly.`;

const renderCommand = command({
  help: HELP,
  options: { out: { type: 'string' }, history: { type: 'string' }, markdown: { type: 'string' } },
  positionals: true,
  run: async ({ values, positionals }, out) => {
    if (positionals.length === 0) throw new ConfigError(`report needs a results directory\n\n${HELP}`);
    if (positionals.length > 2) {
      throw new ConfigError(`report takes one results directory, or two to compare (got ${positionals.length}); to combine shards use \`luo-harness report merge DIR... --out DIR\`.`);
    }
    const runs = await Promise.all(positionals.map(loadResultsDir));
    const current = runs.at(-1)!;
    const previous = runs.length === 2 ? runs[0]! : undefined;
    const outFile = resolve(values.out ?? join(current.dir, REPORT_FILES.html));
    const result = rebaseArtifacts(current.result, current.dir, dirname(outFile));

    // One run: its history. Two runs: the comparison is the point; history only when asked for.
    const historyFile = values.history ?? (previous ? undefined : defaultHistory(current.dir));
    let history: MetricsRow[] | undefined;
    if (historyFile !== undefined) {
      if (values.history !== undefined && !existsSync(historyFile)) throw new ConfigError(`History file ${historyFile} does not exist.`);
      const read = await readMetrics(historyFile);
      history = read.rows;
      if (read.skipped) process.stderr.write(`warning: skipped ${read.skipped} unreadable line(s) of ${historyFile}\n`);
    }
    // The previous run serves as the baseline of the gate, so the page also says whether a change is beyond the noise.
    const comparison = previous ? compareToBaseline(saveBaseline(previous.result), current.result) : undefined;

    await mkdir(dirname(outFile), { recursive: true });
    await writeFile(
      outFile,
      renderHtml({ result, ...(history ? { history } : {}), ...(previous ? { previous: previous.result } : {}), ...(comparison ? { comparison } : {}) }),
    );
    out(outFile);
    if (values.markdown) {
      await writeFile(values.markdown, toMarkdown(current.result, comparison));
      out(values.markdown);
    }
    return EXIT.ok;
  },
});

/** DIR/metrics.jsonl when the run left one there, else the cache's history (absent is fine: the page says so). */
function defaultHistory(dir: string): string | undefined {
  const local = join(dir, 'metrics.jsonl');
  if (existsSync(local)) return local;
  const cached = cacheLayout().metrics;
  return existsSync(cached) ? cached : undefined;
}

const mergeCommand = command({
  help: HELP,
  options: { out: { type: 'string' } },
  positionals: true,
  run: async ({ values, positionals }, out) => {
    if (!values.out) throw new ConfigError('report merge needs --out DIR (where the merged results go)');
    if (positionals.length === 0) throw new ConfigError('report merge needs the shard results directories, e.g. `report merge shard-*/ --out merged`');
    const outDir = resolve(values.out);
    const shards = await Promise.all(positionals.map(loadResultsDir));
    if (shards.some((s) => s.dir === outDir)) throw new ConfigError(`--out ${values.out} is one of the shard directories; merge into a new directory.`);
    const merged = mergeShardResults(shards.map((s) => s.result));
    await mkdir(outDir, { recursive: true });
    const missing = await copyArtifacts(shards, outDir);
    for (const m of missing) process.stderr.write(`warning: ${m}\n`);
    const paths = await writeReportFiles(outDir, merged);
    const v = overallVerdict(merged);
    out(`merged ${shards.length} shard(s), ${merged.scenarios.length} scenario(s) into ${outDir}`);
    out(`${paths.json}\n${paths.junit}\n${paths.html}`);
    out(v.headline);
    return v.exitCode;
  },
});

export const reportCommand = subcommands({ name: 'report', help: HELP, subs: { merge: mergeCommand }, otherwise: renderCommand });
