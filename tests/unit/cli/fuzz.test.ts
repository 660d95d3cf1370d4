// luo-harness fuzz: durations and counts are read strictly, and bad input is
// refused (exit 2) before anything boots.
import test from 'ava';
import { ConfigError } from '../../../harness/errors.ts';
import { parseDuration } from '../../../harness/cli/args.ts';
import { fuzzCommand } from '../../../harness/cli/fuzz.ts';
import { main } from '../../../harness/cli/main.ts';

test('durations: 90s, 10m, 8h, 1h30m, bare seconds', (t) => {
  t.is(parseDuration('90s', '--budget'), 90_000);
  t.is(parseDuration('10m', '--budget'), 600_000);
  t.is(parseDuration('8h', '--budget'), 28_800_000);
  t.is(parseDuration('1h30m', '--budget'), 5_400_000);
  t.is(parseDuration('45', '--budget'), 45_000);
  t.is(parseDuration('250ms', '--budget'), 250);
  for (const bad of ['', 'ten minutes', '10x', '0s', '-5m', '10m junk']) t.throws(() => parseDuration(bad, '--budget'), { instanceOf: ConfigError, message: /--budget/ }, bad);
});

test('bad flags are refused before any machine starts', async (t) => {
  await t.throwsAsync(fuzzCommand(['--seed', 'abc']), { instanceOf: ConfigError, message: /--seed expects a whole number/ });
  await t.throwsAsync(fuzzCommand(['--programs', '0']), { instanceOf: ConfigError, message: /--programs expects a positive whole number/ });
  await t.throwsAsync(fuzzCommand(['--budget', 'soon']), { instanceOf: ConfigError, message: /--budget expects a duration/ });
  await t.throwsAsync(fuzzCommand(['--replay', 'f.json', '--seed', '3']), { instanceOf: ConfigError, message: /leave out --seed/ });
  await t.throwsAsync(fuzzCommand(['--replay', '/nonexistent/finding.json']), { instanceOf: ConfigError, message: /Cannot read the finding file/ });
  await t.throwsAsync(fuzzCommand(['--frobnicate']), { instanceOf: ConfigError });
});

test('fuzz is a command of luo-harness, with its help', async (t) => {
  let out = '';
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string) => ((out += chunk), true)) as typeof process.stdout.write;
  try {
    t.is(await main(['fuzz', '--help']), 0);
    t.is(await main(['--help']), 0);
  } finally {
    process.stdout.write = write;
  }
  t.regex(out, /luo-harness fuzz --replay FINDING\.json/);
  t.regex(out, /fuzz\s+model-based fuzzing of the LUO uAPI/);
});
