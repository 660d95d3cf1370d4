import test from 'ava';
import { parseTracefile, renderTracefile, summarize } from '../../../harness/coverage/tracefile.ts';
import { patchCoverage } from '../../../harness/coverage/report.ts';
import { parseDebugfsDump, sourceOfUnit } from '../../../harness/coverage/capture.ts';
import { symbolsOf } from '../../../harness/coverage/system-map.ts';
import { lineRanges, patchLine } from '../../../harness/report/coverage-text.ts';

const GENINFO = `TN:
SF:/src/linux/include/linux/list.h
DA:10,4
end_of_record
TN:
SF:/src/linux/kernel/liveupdate/luo_core.c
FN:78,early_liveupdate_param
FN:84,luo_early_startup
FNDA:1,early_liveupdate_param
FNDA:0,luo_early_startup
DA:78,1
DA:80,1
DA:84,0
DA:86,0
end_of_record
`;

test('a tracefile is read with its paths renamed (or dropped), written back, and summarized', (t) => {
  const files = parseTracefile(GENINFO, (sf) => (sf.startsWith('/src/linux/kernel/') ? sf.slice('/src/linux/'.length) : undefined));
  t.deepEqual(files.map((f) => f.path), ['kernel/liveupdate/luo_core.c']);
  t.deepEqual(summarize(files[0]!), { path: 'kernel/liveupdate/luo_core.c', lines: { found: 4, hit: 2 }, functions: { found: 2, hit: 1 } });
  const again = parseTracefile(renderTracefile(files));
  t.deepEqual(again, files);
});

test("a patch's added lines: run, not run (executable lines only), and those outside the instrumented files", (t) => {
  const files = parseTracefile(GENINFO, (sf) => sf.replace('/src/linux/', ''));
  const [p] = patchCoverage([{ patch: '[1/2] liveupdate: x', files: { 'kernel/liveupdate/luo_core.c': [78, 79, 80, 84, 86], 'include/linux/liveupdate.h': [3, 4] } }], files);
  t.deepEqual(p, { patch: '[1/2] liveupdate: x', run: { 'kernel/liveupdate/luo_core.c': [78, 80] }, notRun: { 'kernel/liveupdate/luo_core.c': [84, 86] }, outside: { 'include/linux/liveupdate.h': 2 } });
  t.is(patchLine(p!), '[1/2] liveupdate: x: 2 of 4 executable added line(s) ran; not run: kernel/liveupdate/luo_core.c:84, 86; 2 added line(s) outside the instrumented files (1 file(s))');
  t.is(lineRanges([5, 3, 4, 9, 10, 12]), '3-5, 9-10, 12');
});

test("a unit's .gcda name maps to its source in the tree, by build directory or by suffix", (t) => {
  const index = { objtree: '/cache/build/luo-7.2-coverage', files: ['kernel/liveupdate/luo_core.c', 'mm/memfd_luo.c'] };
  t.is(sourceOfUnit('/cache/build/luo-7.2-coverage/mm/memfd_luo.gcda', index), 'mm/memfd_luo.c');
  t.is(sourceOfUnit('/elsewhere/build/kernel/liveupdate/luo_core.gcda', index), 'kernel/liveupdate/luo_core.c');
  t.is(sourceOfUnit('/cache/build/luo-7.2-coverage/kernel/fork.gcda', index), undefined);
});

test("debugfs's dump is split into files and their bytes", (t) => {
  const dump = `@@ /sys/kernel/debug/gcov/b/kernel/a.gcda\n${Buffer.from('abc').toString('base64')}\n@@ /sys/kernel/debug/gcov/b/mm/m.gcda\n${Buffer.alloc(100, 7).toString('base64').replace(/(.{76})/g, '$1\n')}\n`;
  const files = parseDebugfsDump(dump);
  t.deepEqual(files.map((f) => [f.path, f.bytes.length]), [['/sys/kernel/debug/gcov/b/kernel/a.gcda', 3], ['/sys/kernel/debug/gcov/b/mm/m.gcda', 100]]);
});

test('System.map gives the addresses asked for, and names the ones it lacks', (t) => {
  const map = 'ffffffff81000000 T _text\nffffffff8123df40 T machine_kexec\nffffffff82a01234 b gcov_info_head\n';
  t.is(symbolsOf(map, ['gcov_info_head']).get('gcov_info_head'), 0xffffffff82a01234n);
  t.throws(() => symbolsOf(map, ['machine_kexec', 'nope'], 'k/System.map'), { message: 'k/System.map has no symbol nope' });
});
