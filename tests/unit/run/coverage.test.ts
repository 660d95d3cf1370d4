import test from 'ava';
import { ConfigError } from '../../../harness/errors.ts';
import { checkCoverageTools, coverageRef } from '../../../harness/run/coverage.ts';
import { makeArtifact } from '../../helpers/artifact.ts';
import { scratchDir } from '../../helpers/scratch.ts';

test.serial('--coverage takes a recipe to its twin, a coverage build as it is, and refuses a plain build naming the option', async (t) => {
  const { cache, key } = await makeArtifact();
  const covered = await makeArtifact({ cache, coverage: true });
  const before = process.env.LUO_HARNESS_CACHE;
  process.env.LUO_HARNESS_CACHE = cache;
  t.teardown(() => (before === undefined ? delete process.env.LUO_HARNESS_CACHE : (process.env.LUO_HARNESS_CACHE = before)));
  await t.throwsAsync(coverageRef(key), { instanceOf: ConfigError, message: new RegExp(`--coverage: kernel ${key} \\(unit, 7\\.2\\.13\\) was not built for coverage: CONFIG_GCOV_KERNEL is not set; give its recipe instead`) });
  t.is(await coverageRef(covered.key), covered.key);
  t.regex(await coverageRef('luo-7.2'), /recipes\/luo-7\.2-coverage\.json$/);
});

test.serial('--coverage without lcov is refused before anything builds, naming the package', async (t) => {
  const before = process.env.PATH;
  process.env.PATH = scratchDir('empty-path-');
  t.teardown(() => (process.env.PATH = before));
  await t.throwsAsync(checkCoverageTools(), { instanceOf: ConfigError, message: "--coverage needs geninfo, lcov, genhtml (Debian's lcov package): run scripts/setup-host.sh, or apt-get install lcov" });
});
