import test from 'ava';
import { guestArgs, renderCmdline, type KernelCmdline } from '../../../harness/liveupdate/cmdline.ts';

const line: KernelCmdline = {
  machine: ['console=ttyS0,115200', 'panic=-1', 'no_timer_check', 'intel_iommu=on'],
  recipe: ['kho_scratch=64M'],
  liveUpdate: true,
  shares: [{ tag: 'kexec', mount: '/mnt/kexec' }],
  extra: ['luo_agent.restore_delay_ms=500'],
};

test('the parts of a command line, in order: machine, recipe, the Live Update switch, shares, boot index, the caller last', (t) => {
  t.is(renderCmdline(line, 1), 'console=ttyS0,115200 panic=-1 no_timer_check intel_iommu=on kho_scratch=64M liveupdate=on luo_harness.share=kexec:/mnt/kexec luo_harness.boot=1 luo_agent.restore_delay_ms=500');
  t.deepEqual(guestArgs({ ...line, liveUpdate: false, extra: [] }, 0), ['kho_scratch=64M', 'liveupdate=off', 'luo_harness.share=kexec:/mnt/kexec', 'luo_harness.boot=0']);
});
