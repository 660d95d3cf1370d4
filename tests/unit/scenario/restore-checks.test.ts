import test from 'ava';
import { capabilityOf, restoreErrorChecks } from '../../../harness/liveupdate/restore-checks.ts';

test('each restore error is a failed check naming the item, the ioctl and the errno', (t) => {
  // What the agent reported on a kernel with the VFIO series, when it asked for the device before binding it.
  const checks = restoreErrorChecks([
    { what: 'fd:vfio:vmm:0x3000', op: 'LIVEUPDATE_SESSION_RETRIEVE_FD', errno: 19, errno_name: 'ENODEV', message: 'retrieve token 0x3000: No such device' },
    { what: 'device:0000:00:10.0:vmm:0x3000', op: 'write', errno: 16, errno_name: 'EBUSY', message: "write '0000:00:10.0' to /sys/bus/pci/drivers_probe: Device or resource busy" },
    { what: 'memfd:guest-ram', op: 'LIVEUPDATE_SESSION_RETRIEVE_FD', errno: 2, errno_name: 'ENOENT', message: 'retrieve token 0x1: No such file or directory' },
    { what: 'state-memfd', op: 'LIVEUPDATE_SESSION_RETRIEVE_FD', errno: 5, errno_name: 'EIO', message: 'x' },
  ], 'kexec');
  t.deepEqual(checks.map((c) => [c.name, c.status, c.capability]), [
    ['kexec: the agent restores vfio fd (session vmm, token 0x3000)', 'fail', 'vfio-device'],
    ['kexec: the agent restores VFIO device 0000:00:10.0 (session vmm, token 0x3000)', 'fail', 'vfio-device'],
    ["kexec: the agent restores memfd 'guest-ram'", 'fail', 'memfd'],
    ["kexec: the agent restores the agent's state-memfd", 'fail', 'session'],
  ]);
  t.is(checks[0]!.message, 'LIVEUPDATE_SESSION_RETRIEVE_FD failed with ENODEV (19): retrieve token 0x3000: No such device');
  t.deepEqual(restoreErrorChecks([], 'kexec'), []);
});

test('capabilities of plan items', (t) => {
  t.is(capabilityOf('fd:iommufd:vmm:0x2000'), 'iommufd');
  t.is(capabilityOf('session:tenant-0'), 'session');
});
