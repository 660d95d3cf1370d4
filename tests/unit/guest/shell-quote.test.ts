import test from 'ava';
import { execa } from 'execa';
import { shellJoin, shellQuote } from '../../../harness/guest/shell-quote.ts';

test('shellQuote leaves plain words alone and quotes the rest', (t) => {
  t.is(shellQuote('/tmp/a-b_c.d'), '/tmp/a-b_c.d');
  t.is(shellQuote('a b'), "'a b'");
  t.is(shellQuote("it's"), "'it'\\''s'");
  t.is(shellQuote(''), "''");
});

test('quoted words reach busybox sh unchanged', async (t) => {
  const words = ["it's", 'a b', '$HOME', '`id`', '"x"', 'back\\slash', '*', 'new\nline', ''];
  const r = await execa('busybox', ['sh', '-c', `for w in ${shellJoin(words)}; do printf '[%s]' "$w"; done`]);
  t.is(r.stdout, words.map((w) => `[${w}]`).join(''));
});
