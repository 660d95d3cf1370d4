import test from 'ava';
import { toJUnitXml } from '../../../harness/report/junit.ts';
import { toMarkdown } from '../../../harness/report/markdown.ts';
import { renderHtml } from '../../../harness/report/html.ts';
import type { CoverageResult } from '../../../harness/report/result.ts';
import { run, scenario } from './synthetic.ts';
import { xmlProblems } from './xmlcheck.ts';

const coverage: CoverageResult = {
  kernels: [
    {
      recipe: 'luo-7.3-pci-coverage',
      release: '7.3.4',
      key: 'abc',
      sides: [
        { capture: 's/coverage/vm0/boot0', boot: 0, when: 'at-kexec', files: 0, missing: 'the target has no debugger stub (a remote host): its counters up to the kexec cannot be read' },
        { capture: 's/coverage/vm0/boot1', boot: 1, when: 'at-end', files: 9 },
      ],
      tracefile: 'coverage/luo-7.3-pci-coverage/luo-7.3-pci-coverage.info',
      html: 'coverage/luo-7.3-pci-coverage/html/index.html',
      total: { lines: { found: 300, hit: 150 }, functions: { found: 30, hit: 20 } },
      files: [{ path: 'drivers/pci/liveupdate.c', lines: { found: 300, hit: 150 }, functions: { found: 30, hit: 20 } }],
      patches: [{ patch: 'pci.mbox [v7 5/12] PCI: <bus> & "numbers"', run: {}, notRun: { 'drivers/pci/liveupdate.c': [599, 600, 601, 608] }, outside: { 'include/linux/pci.h': 3 } }],
    },
  ],
};

test('coverage in summary.md, JUnit and report.html: the files, the missing side by name, each patch with the lines that did not run', (t) => {
  const result = run({ scenarios: [scenario('memfd-basic', 'pass', [3000])], coverage });
  const md = toMarkdown(result);
  t.regex(md, /\*\*Coverage of luo-7\.3-pci-coverage \(7\.3\.4\)\*\*/);
  t.regex(md, /\| drivers\/pci\/liveupdate\.c \| 150\/300 \(50\.0%\) \| 20\/30 \(66\.7%\) \|/);
  t.regex(md, /s\/coverage\/vm0\/boot0: MISSING \(the target has no debugger stub/);
  t.regex(md, /0 of 4 executable added line\(s\) ran; not run: drivers\/pci\/liveupdate\.c:599-601, 608; 3 added line\(s\) outside the instrumented files/);
  const xml = toJUnitXml(result);
  t.deepEqual(xmlProblems(xml), []);
  t.regex(xml, /<testsuites name="luo-harness" tests="3"/);
  t.regex(xml, /<testsuite name="luo-harness coverage" tests="2" failures="0"/);
  t.regex(xml, /<testcase name="pci\.mbox \[v7 5\/12\] PCI: &lt;bus&gt; &amp; &quot;numbers&quot;" classname="luo-harness\.coverage\.luo-7\.3-pci-coverage"/);
  const html = renderHtml({ result });
  t.regex(html, /<h2>Coverage<\/h2>/);
  t.regex(html, /<a href="coverage\/luo-7\.3-pci-coverage\/html\/index\.html">line by line \(genhtml\)<\/a>/);
  t.regex(html, /not blackout figures/);
});
