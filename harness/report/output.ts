// The one place that writes a run's report files. Everything it writes is
// rendered by the pure functions of the other modules.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Comparison } from './baseline.ts';
import { appendMetrics, readMetrics } from './history.ts';
import { renderHtml } from './html.ts';
import { resultsJson } from './json.ts';
import { toJUnitXml } from './junit.ts';
import { toMarkdown } from './markdown.ts';
import type { RunResult } from './result.ts';
import { toTap } from './tap.ts';

export const REPORT_FILES = {
  json: 'results.json',
  junit: 'junit.xml',
  tap: 'results.tap',
  markdown: 'summary.md',
  html: 'report.html',
} as const;

export interface WriteReportOptions {
  /** metrics.jsonl to append this run to and to draw the history from; no history when absent. */
  metricsFile?: string;
  comparison?: Comparison;
}

/** Write results.json, junit.xml, results.tap, summary.md and report.html into `dir`; returns their paths. */
export async function writeReportFiles(dir: string, result: RunResult, opts: WriteReportOptions = {}): Promise<Record<keyof typeof REPORT_FILES, string>> {
  await mkdir(dir, { recursive: true });
  let history;
  if (opts.metricsFile) {
    await appendMetrics(opts.metricsFile, result);
    history = (await readMetrics(opts.metricsFile)).rows;
  }
  const content: Record<keyof typeof REPORT_FILES, string> = {
    json: resultsJson(result),
    junit: toJUnitXml(result),
    tap: toTap(result),
    markdown: toMarkdown(result, opts.comparison),
    html: renderHtml({ result, ...(history ? { history } : {}), ...(opts.comparison ? { comparison: opts.comparison } : {}) }),
  };
  const paths = {} as Record<keyof typeof REPORT_FILES, string>;
  for (const key of Object.keys(REPORT_FILES) as (keyof typeof REPORT_FILES)[]) {
    paths[key] = join(dir, REPORT_FILES[key]);
    await writeFile(paths[key], content[key]);
  }
  return paths;
}
