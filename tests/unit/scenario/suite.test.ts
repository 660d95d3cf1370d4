import test from 'ava';
import { loadSuite, parseSuite } from '../../../harness/scenario/suite.ts';
import { checkParams, param } from '../../../harness/scenario/params.ts';
import { ConfigError } from '../../../harness/errors.ts';

test('typed parameters: sizes in bytes, lists of sizes, whole numbers within limits', (t) => {
  const specs = { size: param.size('64M'), sizes: param.sizes(['16M', '1G']), cycles: param.int(5, { min: 1 }) };
  t.deepEqual(checkParams(specs, {}, 'x'), { size: 64 * 2 ** 20, sizes: [16 * 2 ** 20, 2 ** 30], cycles: 5 });
  t.deepEqual(checkParams(specs, { size: '64m', sizes: ['4K', 4096], cycles: 2 }, 'x'), { size: 64 * 2 ** 20, sizes: [4096, 4096], cycles: 2 }, '64m is 64 MiB, as the agent reads it');
  t.throws(() => checkParams(specs, { size: '64X' }, 'suite s.json: scenarios[0] (memfd-basic) params'), { instanceOf: ConfigError, message: 'suite s.json: scenarios[0] (memfd-basic) params: "size" must be a size (bytes, or a number with K, M or G: 64M, 4096, 1G), got "64X"' });
  t.throws(() => checkParams(specs, { cycles: 0 }, 'x'), { instanceOf: ConfigError, message: /"cycles" must be at least 1, got 0/ });
  t.throws(() => checkParams(specs, { sizes: [] }, 'x'), { instanceOf: ConfigError, message: /"sizes" must be a non-empty list of sizes/ });
  t.throws(() => checkParams(specs, { bogus: 1 }, 'x'), { instanceOf: ConfigError, message: /"bogus" is not a parameter \(known: size, sizes, cycles\)/ });
});

test('a suite with a bad parameter is refused when it is read, naming the suite, the scenario and the key', (t) => {
  const e = t.throws(() => parseSuite({ scenarios: [{ name: 'memfd-basic' }, { name: 'memfd-sizes', params: { sizes: ['16M', 'lots'] } }] }, 'suites/mine.json'), { instanceOf: ConfigError });
  t.is(e!.message, 'suite suites/mine.json: scenarios[1] (memfd-sizes) params: "sizes"[1] must be a size (bytes, or a number with K, M or G: 64M, 4096, 1G), got "lots"');
});

test('the shipped suites parse; smoke is two boots', async (t) => {
  for (const name of ['default', 'smoke', 'full', 'bench']) t.truthy(await loadSuite(name), name);
  t.deepEqual((await loadSuite('smoke')).scenarios.map((s) => s.name), ['memfd-basic', 'negative-control']);
});
