import test from 'ava';
import { ConfigError } from '../../../harness/errors.ts';
import { parseHostBdf, resolveSpec } from '../../../harness/vm/spec.ts';

const base = { kernel: 'bzImage', runDir: 'run' };

test('defaults: 1024 MiB, 2 cpus, auto accel, intel iommu, no devices', (t) => {
  const spec = resolveSpec(base);
  t.is(spec.memoryMiB, 1024);
  t.is(spec.cpus, 2);
  t.is(spec.accel, 'auto');
  t.is(spec.iommu, 'intel');
  t.deepEqual(spec.devices, []);
  t.deepEqual(spec.shares, []);
  t.is(spec.initrd, undefined);
});

test('host BDFs are validated and normalised to dddd:bb:ss.f', (t) => {
  t.is(parseHostBdf('vfio-host:0000:03:00.0'), '0000:03:00.0');
  t.is(parseHostBdf('vfio-host:3B:1f.7'), '0000:3b:1f.7');
  for (const bad of ['vfio-host:03:00', 'vfio-host:03:20.0', 'vfio-host:03:00.8', 'vfio-host:', 'vfio-host:00000:03:00.0']) {
    t.throws(() => parseHostBdf(bad), { instanceOf: ConfigError }, bad);
  }
});

test('bad specs are rejected with a ConfigError naming the field', (t) => {
  t.throws(() => resolveSpec({ ...base, cpus: 0 }), { instanceOf: ConfigError, message: /cpus/ });
  t.throws(() => resolveSpec({ ...base, memoryMiB: 1.5 }), { instanceOf: ConfigError, message: /memoryMiB/ });
  t.throws(() => resolveSpec({ ...base, accel: 'hvf' as never }), { instanceOf: ConfigError, message: /accel/ });
  t.throws(() => resolveSpec({ ...base, iommu: 'amd' as never }), { instanceOf: ConfigError, message: /iommu/ });
  t.throws(() => resolveSpec({ ...base, devices: ['virtio-gpu' as never] }), { instanceOf: ConfigError, message: /virtio-gpu/ });
  t.throws(() => resolveSpec({ ...base, devices: ['vfio-host:zz:00.0'] }), { instanceOf: ConfigError });
  t.throws(() => resolveSpec({ ...base, kernel: '' }), { instanceOf: ConfigError, message: /kernel/ });
  t.throws(() => resolveSpec({ ...base, shares: [{ hostPath: 'a', tag: 'has space' }] }), { instanceOf: ConfigError });
  t.throws(
    () => resolveSpec({ ...base, shares: [{ hostPath: 'a', tag: 'x' }, { hostPath: 'b', tag: 'x' }] }),
    { instanceOf: ConfigError, message: /twice/ },
  );
});
