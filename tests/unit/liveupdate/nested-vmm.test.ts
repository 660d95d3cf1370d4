// The host's QEMU for the nested VMM: found with everything it loads under
// the shared /usr, or an error that says what is missing.
import test from 'ava';
import { InfraError } from '../../../harness/errors.ts';
import { hostQemu } from '../../../harness/liveupdate/nested-vmm.ts';

test('the host\'s QEMU as the guest runs it: its loader, libraries, modules and firmware, all under /host/usr', async (t) => {
  const q = await hostQemu();
  t.regex(q.command, /^\/host\/usr\/\S*ld-linux[^ ]*\.so\.\d --library-path \/host\/usr\/\S+ \/host\/usr\/bin\/qemu-system-x86_64$/);
  t.is(q.dataDir, '/host/usr/share/qemu');
  t.regex(q.moduleDir, /^\/host\/usr\/lib\/.*qemu$/);
  t.regex(q.version, /^QEMU emulator version \d+\.\d+/);
});

test('no QEMU on the host: an InfraError that names what is missing, never a pass or a silent skip', async (t) => {
  const e = await t.throwsAsync(hostQemu('qemu-system-nonexistent'), { instanceOf: InfraError });
  t.regex(e!.message, /^No QEMU for the nested VM: qemu-system-nonexistent is not on this host's PATH/);
});
