import test from 'ava';
import { chooseAccel, loadedModules, type AccelHost } from '../../../harness/vm/accel.ts';
import { probeFirmware } from '../../../harness/vm/kvm-probe.ts';

// /proc/modules lines as the kernel prints them.
const PROC_INTEL = `kvm_intel 413696 0 - Live 0x0000000000000000
kvm 1146880 1 kvm_intel, Live 0x0000000000000000
irqbypass 12288 1 kvm, Live 0x0000000000000000
`;
const PROC_PVM = `kvm_pvm 98304 0 - Live 0x0000000000000000
kvm 1146880 1 kvm_pvm, Live 0x0000000000000000
`;

function host(fields: Partial<AccelHost> & { probed?: string[] }): AccelHost {
  return {
    kvmDeviceUsable: () => true,
    procModules: () => undefined,
    sysModules: () => undefined,
    ...fields,
  };
}

test('module names come from /proc/modules and /sys/module alike', (t) => {
  t.deepEqual([...loadedModules(PROC_INTEL, ['intel_idle'])].sort(), ['intel_idle', 'irqbypass', 'kvm', 'kvm_intel']);
  t.deepEqual([...loadedModules(undefined, undefined)], []);
});

test('kvm_pvm behind /dev/kvm means TCG, without running the probe', async (t) => {
  let probed = false;
  const probe = async () => {
    probed = true;
    return undefined;
  };
  const fromProc = await chooseAccel('auto', host({ procModules: () => PROC_PVM, probe }));
  t.is(fromProc.accel, 'tcg');
  t.regex(fromProc.reason, /kvm_pvm/);
  // This host's shape: no /proc/modules, modules visible in /sys/module only.
  const fromSys = await chooseAccel('auto', host({ sysModules: () => ['amd_uncore', 'intel_idle', 'kvm', 'kvm_pvm'], probe }));
  t.is(fromSys.accel, 'tcg');
  t.false(probed);
});

test('a vendor module and a passing probe mean KVM', async (t) => {
  const choice = await chooseAccel('auto', host({ procModules: () => PROC_INTEL, probe: async () => undefined }));
  t.is(choice.accel, 'kvm');
  t.regex(choice.reason, /kvm_intel/);
  const amd = await chooseAccel('auto', host({ sysModules: () => ['kvm', 'kvm_amd'] }));
  t.is(amd.accel, 'kvm');
});

test('a failing probe, no vendor module, or no usable /dev/kvm mean TCG', async (t) => {
  const failed = await chooseAccel('auto', host({ procModules: () => PROC_INTEL, probe: async () => 'no exit within 3000 ms' }));
  t.deepEqual([failed.accel, /no exit/.test(failed.reason)], ['tcg', true]);
  t.is((await chooseAccel('auto', host({ sysModules: () => ['kvm'] }))).accel, 'tcg');
  t.is((await chooseAccel('auto', host({ kvmDeviceUsable: () => false, procModules: () => PROC_INTEL }))).accel, 'tcg');
});

test('kvm and tcg are obeyed as asked', async (t) => {
  const broken = host({ kvmDeviceUsable: () => false });
  t.is((await chooseAccel('kvm', broken)).accel, 'kvm');
  t.is((await chooseAccel('tcg', host({ procModules: () => PROC_INTEL }))).accel, 'tcg');
});

test('the probe firmware puts its exit sequence at the reset vector', (t) => {
  const image = probeFirmware();
  t.is(image.length, 65536);
  // mov al,1; out 0xf4,al; hlt; jmp $-1
  t.deepEqual([...image.subarray(0xfff0, 0xfff7)], [0xb0, 0x01, 0xe6, 0xf4, 0xf4, 0xeb, 0xfd]);
  t.is(image[0], 0xff);
});
