import test from 'ava';
import { expand } from '../../../harness/cli/run.ts';
import { ConfigError } from '../../../harness/errors.ts';

const suite = [{ name: 'memfd-basic' }, { name: 'upgrade', to: 'luo-7.3' }, { name: 'negative-control', kernel: 'nolu-7.2' }];

test('without a matrix: one run per entry, upgrade to the suite\'s target, --kernel for unpinned entries', (t) => {
  t.deepEqual(expand(suite, { kernel: 'mine' }).map((p) => [p.entry.name, p.kernel, p.to ?? '', p.suffix]), [
    ['memfd-basic', 'mine', '', ''],
    ['upgrade', 'mine', 'luo-7.3', ''],
    ['negative-control', 'nolu-7.2', '', ''],
  ]);
  t.is(expand(suite, { to: 'luo-7.4' })[1]!.to, 'luo-7.4', '--to wins over the suite');
});

test('a matrix runs each scenario per kernel and upgrade for every ordered pair; pinned entries stay', (t) => {
  t.deepEqual(expand(suite, { matrix: 'luo-7.2, luo-7.3,luo-7.2' }).map((p) => [p.entry.name + p.suffix, p.kernel, p.to ?? '']), [
    ['memfd-basic [luo-7.2]', 'luo-7.2', ''],
    ['memfd-basic [luo-7.3]', 'luo-7.3', ''],
    ['upgrade [luo-7.2 -> luo-7.2]', 'luo-7.2', 'luo-7.2'],
    ['upgrade [luo-7.2 -> luo-7.3]', 'luo-7.2', 'luo-7.3'],
    ['upgrade [luo-7.3 -> luo-7.2]', 'luo-7.3', 'luo-7.2'],
    ['upgrade [luo-7.3 -> luo-7.3]', 'luo-7.3', 'luo-7.3'],
    ['negative-control', 'nolu-7.2', ''],
  ]);
});

test('a matrix with --kernel or --to is bad input', (t) => {
  t.throws(() => expand(suite, { matrix: 'a,b', kernel: 'a' }), { instanceOf: ConfigError, message: /--matrix names the kernels itself/ });
  t.throws(() => expand(suite, { matrix: ' , ' }), { instanceOf: ConfigError });
});
