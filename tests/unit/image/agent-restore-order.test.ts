// The agent's restore order, from its own C code (images/agent/restore_order.c)
// compiled on the host: sessions, then devices bound before their fd is
// retrieved, then files, then the heartbeat.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { agentSourceDir } from '../../../harness/image/agent-binary.ts';
import { scratchDir } from '../../helpers/scratch.ts';

const bin = join(scratchDir('restore-order-'), 'restore_order_test');
execFileSync('gcc', ['-Wall', '-Wextra', '-Werror', '-o', bin, join(agentSourceDir(), 'restore_order.c'), join(agentSourceDir(), 'tests', 'restore_order_test.c')]);
const order = (plan: string[], reverse = false) => execFileSync(bin, reverse ? ['reverse'] : [], { input: plan.join('\n') + '\n' }).toString().trim().split('\n');

// A plan as plan_save() writes it: a VMM's session holding guest memory and a VFIO device.
const PLAN = [
  'luo-agent-plan 1',
  'session vmm',
  'session other',
  'memfd guest-ram vmm 0x1 2097152 31 0 abc',
  'fd iommufd vmm 0x2000 -',
  'fd vfio vmm 0x3000 0000:00:10.0',
  'memfd m2 other 0x1 4096 1 4 def',
  'heartbeat heartbeat 10000',
  'end',
];

test('a preserved device comes right after the sessions, before any file is retrieved', (t) => {
  t.deepEqual(order(PLAN), [
    'session vmm',
    'session other',
    'fd vfio vmm 0x3000 0000:00:10.0',
    'memfd guest-ram vmm 0x1 2097152 31 0 abc',
    'fd iommufd vmm 0x2000 -',
    'memfd m2 other 0x1 4096 1 4 def',
    'heartbeat heartbeat 10000',
  ]);
});

test('reverse order reverses each class, and never moves a device after a file', (t) => {
  const out = order(PLAN, true);
  t.deepEqual(out.slice(0, 3), ['session other', 'session vmm', 'fd vfio vmm 0x3000 0000:00:10.0']);
  t.is(out.at(-1), 'heartbeat heartbeat 10000');
});

test('a VFIO fd from a plan without a BDF (an older agent) is an ordinary file; the magic and end lines are no steps', (t) => {
  const out = order(['luo-agent-plan 1', 'fd vfio vmm 0x3000', 'session vmm', 'end']);
  t.deepEqual(out, ['session vmm', 'fd vfio vmm 0x3000']);
});
