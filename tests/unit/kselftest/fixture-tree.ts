// What discovery learnt from the real 7.2 and 7.3 liveupdate selftests,
// recorded as the harness's own SelftestBuild JSON (tests/e2e/kselftest-
// discovery.test.ts checks discovery against the real trees themselves).
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SelftestBuild } from '../../../harness/kselftest/discovery.ts';

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/kselftest');

export type Version = '7.2' | '7.3';

export async function fixtureBuild(version: Version): Promise<SelftestBuild> {
  return JSON.parse(await readFile(join(FIXTURES, `selftests-${version}.json`), 'utf8')) as SelftestBuild;
}
