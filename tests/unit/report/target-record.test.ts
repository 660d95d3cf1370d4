// A run on a remote target says so in every writer: what it runs on and from
// what evidence, the host, its CPU and memory, its kernel before the first
// hop, how it got back.
import test from 'ava';
import { resultsJson, parseResults } from '../../../harness/report/json.ts';
import { toJUnitXml } from '../../../harness/report/junit.ts';
import { toMarkdown } from '../../../harness/report/markdown.ts';
import { renderHtml } from '../../../harness/report/html.ts';
import { mergeShardResults } from '../../../harness/report/shard.ts';
import type { TargetInfo } from '../../../harness/report/result.ts';
import { run } from './synthetic.ts';

const target: TargetInfo = { kind: 'remote', address: 'root@lab-host-07', hostname: 'lab-host-07', cpu: 'Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz', cpus: 64, memoryMiB: 257736, kernelBefore: '6.1.0-28-amd64', devices: [{ bdf: '0000:3b:00.0', vendorDevice: '8086:0d58', driver: 'ice' }], after: 'kexec', platform: 'bare metal', platformEvidence: '/proc/cpuinfo flags lack "hypervisor"' };
const remote = run({ accelerator: 'bare metal', target });

test('results.json keeps the target; Markdown, HTML and JUnit show it, and no QEMU version for bare metal', (t) => {
  t.deepEqual(parseResults(resultsJson(remote)).target, target);
  const md = toMarkdown(remote);
  t.regex(md, /\(bare metal\), kernels/);
  t.regex(md, /Target: root@lab-host-07: lab-host-07, 64 x Intel\(R\) Xeon\(R\) Gold 6338 CPU @ 2\.00GHz, 257736 MiB, kernel 6\.1\.0-28-amd64 before the first hop, devices 0000:3b:00\.0; bare metal \(\/proc\/cpuinfo flags lack "hypervisor"\); afterwards: kexec\./);
  const html = renderHtml({ result: remote });
  t.regex(html, /bare metal · kernels .* · target root@lab-host-07: lab-host-07, 64 x/);
  t.notRegex(html.split('class="meta"')[1]!.split('</p>')[0]!, /QEMU/);
  const xml = toJUnitXml(remote);
  for (const p of ['target.address" value="root@lab-host-07"', 'target.cpus" value="64"', 'target.kernelBefore" value="6.1.0-28-amd64"', 'accelerator" value="bare metal"', 'target.platformEvidence" value="/proc/cpuinfo flags lack &quot;hypervisor&quot;"']) t.true(xml.includes(p), p);
  t.false(toMarkdown(run()).includes('Target:'), 'a QEMU run has no target line');
  t.is(mergeShardResults([remote, { ...remote, runId: 'other', scenarios: [] }]).target?.address, 'root@lab-host-07');
});
