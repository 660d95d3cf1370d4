import test from 'ava';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseLdd } from '../../../harness/image/ldd.ts';

const fixture = (name: string) => readFile(fileURLToPath(new URL(`../../fixtures/image/${name}`, import.meta.url)), 'utf8');

test('parseLdd lists libraries and the loader, skipping the vDSO', async (t) => {
  t.deepEqual(parseLdd(await fixture('ldd-dropbear.txt')), [
    '/lib/x86_64-linux-gnu/libtomcrypt.so.1',
    '/lib/x86_64-linux-gnu/libtommath.so.1',
    '/lib/x86_64-linux-gnu/libz.so.1',
    '/lib/x86_64-linux-gnu/libcrypt.so.1',
    '/lib/x86_64-linux-gnu/libc.so.6',
    '/lib/x86_64-linux-gnu/libgmp.so.10',
    '/lib64/ld-linux-x86-64.so.2',
  ]);
});

test('parseLdd: a static binary needs nothing', (t) => {
  t.deepEqual(parseLdd('\tnot a dynamic executable\n'), []);
  t.deepEqual(parseLdd('\tstatically linked\n'), []);
});

test('parseLdd fails on a missing library, naming it', (t) => {
  const err = t.throws(() => parseLdd('\tlibfoo.so.3 => not found\n\tlibc.so.6 => /lib/libc.so.6 (0x1)\n', 'kexec'));
  t.regex(err!.message, /kexec needs libraries .*libfoo\.so\.3/);
});
