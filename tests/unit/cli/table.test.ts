import test from 'ava';
import { formatTableWithNotes } from '../../../harness/cli/table.ts';

test('a long or multi-line reason is cut in the table and printed in full below it', (t) => {
  const long = 'preserve the iommufd fd: 7.2.13 has no iommufd live-update handler: LIVEUPDATE_SESSION_PRESERVE_FD failed with ENOENT (2)';
  const text = formatTableWithNotes(['scenario', 'status', 'reason'], [
    { label: 'memfd-basic', note: '', cells: ['memfd-basic', 'PASS'] },
    { label: 'iommufd-vfio', note: long, cells: ['iommufd-vfio', 'UNSUPPORTED'] },
    { label: 'kselftest/x', note: 'stage 2: failed\nconsole tail', cells: ['kselftest/x', 'FAIL'] },
  ], 40);
  const lines = text.split('\n');
  t.regex(lines[3]!, /^iommufd-vfio +UNSUPPORTED +preserve the iommufd fd: 7\.2\.13\.\.\. \[1\]$/);
  t.regex(lines[4]!, /^kselftest\/x +FAIL +stage 2: failed\.\.\. \[2\]$/);
  t.true(text.includes(`[1] iommufd-vfio: ${long}`), 'the full reason follows the table');
  t.true(text.includes('[2] kselftest/x: stage 2: failed\nconsole tail'));
});

test('short reasons stay in the table with no notes', (t) => {
  const text = formatTableWithNotes(['scenario', 'reason'], [{ label: 'a', note: 'fine', cells: ['a'] }]);
  t.is(text.split('\n').length, 3);
  t.notRegex(text, /\[1\]/);
});
