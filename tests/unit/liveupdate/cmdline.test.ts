import test from 'ava';
import { guestArgs, renderCmdline, type KernelCmdline } from '../../../harness/liveupdate/cmdline.ts';
import { kexecAccelCmdline } from '../../../harness/vm/qemu-args/machine.ts';

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

test("a kexec's own arguments follow the machine's, before the caller's (who can still override them)", (t) => {
  const kexec = renderCmdline({ ...line, extra: ['tsc_early_khz=1000'], kexec: ['tsc_early_khz=2596148'] }, 2);
  t.is(kexec, 'console=ttyS0,115200 panic=-1 no_timer_check intel_iommu=on tsc_early_khz=2596148 kho_scratch=64M liveupdate=on luo_harness.share=kexec:/mnt/kexec luo_harness.boot=2 tsc_early_khz=1000');
});

test('under TCG a kexec tells the new kernel the TSC frequency the running one measured; not under KVM, nor without a figure', (t) => {
  t.deepEqual(kexecAccelCmdline('tcg', 2596148), ['tsc_early_khz=2596148']);
  t.deepEqual(kexecAccelCmdline('kvm', 2596148), []);
  t.deepEqual(kexecAccelCmdline('tcg', undefined), []);
  t.deepEqual(kexecAccelCmdline('tcg', Number.NaN), []);
  t.deepEqual(kexecAccelCmdline('tcg', 0), []);
});
