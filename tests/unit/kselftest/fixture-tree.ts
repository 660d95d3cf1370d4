// A throwaway kernel "tree" holding only the recorded liveupdate selftest sources.
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LIVEUPDATE_SELFTEST_DIR } from '../../../harness/kernel/selftests.ts';

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/kselftest');

export type Version = '7.2' | '7.3';

export const fixtureFile = (version: Version, rel: string) => readFile(join(FIXTURES, `linux-${version}`, 'liveupdate', rel), 'utf8');

export async function fixtureTree(version: Version): Promise<{ tree: string; [Symbol.asyncDispose](): Promise<void> }> {
  const tree = await mkdtemp(join(tmpdir(), `luo-kselftest-tree-${version}-`));
  await cp(join(FIXTURES, `linux-${version}`, 'liveupdate'), join(tree, LIVEUPDATE_SELFTEST_DIR), { recursive: true });
  return { tree, [Symbol.asyncDispose]: () => rm(tree, { recursive: true, force: true }) };
}
