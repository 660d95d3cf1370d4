import test from 'ava';
import { planScenarios } from '../../../harness/run/plan.ts';
import { SCENARIOS } from '../../../harness/scenario/scenarios/index.ts';
import { ConfigError } from '../../../harness/errors.ts';

const suite = [{ name: 'memfd-basic' }, { name: 'upgrade', to: 'luo-7.3' }, { name: 'negative-control', kernel: 'nolu-7.2' }];
const rows = (ps: Awaited<ReturnType<typeof planScenarios>>) => ps.map((p) => [p.entry.name + p.suffix, p.kernel, p.to ?? '']);

test('without a matrix: one run per entry, upgrade to the suite\'s target, --kernel for unpinned entries', async (t) => {
  t.deepEqual(rows(await planScenarios(suite, SCENARIOS, { kernel: 'mine' })), [
    ['memfd-basic', 'mine', ''],
    ['upgrade', 'mine', 'luo-7.3'],
    ['negative-control', 'nolu-7.2', ''],
  ]);
  t.is((await planScenarios(suite, SCENARIOS, { to: 'luo-7.4' }))[1]!.to, 'luo-7.4', '--to wins over the suite');
});

test('pairings are data: without --to or the entry\'s "to", the recipe\'s upgradeTo; none at all is bad input', async (t) => {
  const plain = [{ name: 'upgrade' }];
  t.is((await planScenarios(plain, SCENARIOS, {}))[0]!.to, 'luo-7.3', 'luo-7.2 says upgradeTo luo-7.3');
  await t.throwsAsync(planScenarios(plain, SCENARIOS, { kernel: 'luo-7.3' }), { instanceOf: ConfigError, message: /upgrade live-updates into a second kernel, and none is named: give --to, the suite entry's "to", or the recipe's "upgradeTo"/ });
});

test('a matrix runs each scenario per kernel and a scenario that needs a target for every ordered pair; pinned entries stay', async (t) => {
  t.deepEqual(rows(await planScenarios(suite, SCENARIOS, { matrix: ['luo-7.2', 'luo-7.3'] })), [
    ['memfd-basic [luo-7.2]', 'luo-7.2', ''],
    ['memfd-basic [luo-7.3]', 'luo-7.3', ''],
    ['upgrade [luo-7.2 -> luo-7.2]', 'luo-7.2', 'luo-7.2'],
    ['upgrade [luo-7.2 -> luo-7.3]', 'luo-7.2', 'luo-7.3'],
    ['upgrade [luo-7.3 -> luo-7.2]', 'luo-7.3', 'luo-7.2'],
    ['upgrade [luo-7.3 -> luo-7.3]', 'luo-7.3', 'luo-7.3'],
    ['negative-control', 'nolu-7.2', ''],
  ]);
});

test('a matrix with --kernel or --to, or with no kernel, is bad input', async (t) => {
  await t.throwsAsync(planScenarios(suite, SCENARIOS, { matrix: ['a', 'b'], kernel: 'a' }), { instanceOf: ConfigError, message: /--matrix names the kernels itself/ });
  await t.throwsAsync(planScenarios(suite, SCENARIOS, { matrix: [] }), { instanceOf: ConfigError });
});
