// A VMM's view: QEMU's edu device bound to vfio-pci, a memfd mapped through
// iommufd, DMA before the kexec; then memfd, iommufd and the VFIO device fd
// preserved in dependency order. Each capability gets its own verdict
// (memfd, vfio-device, iommufd), so one unsupported piece hides no pass.
//
// A stock kernel has no iommufd/VFIO handler: those preserves are
// unsupported with the kernel's errno, the memfd must still survive, and
// after the kexec the device comes back on vfio-pci and DMA works again over
// the restored memfd. A kernel with the PCI and VFIO live-update series
// preserves the device: the agent binds it to vfio-pci in the new kernel
// before it retrieves the fd (the kernel hands it back only through
// vfio-pci, and guards the cdev with EBUSY until then), and the scenario
// checks that the device is the same one, that the retrieved fd is a live
// device fd, and that it binds to a fresh iommufd and does DMA again over the
// restored memfd. No kernel can preserve the iommufd itself yet: a fresh one
// is made in the new kernel. On a remote target the device is the host's own
// (`--devices`): DMA is checked only where the agent has a driver for its
// kind (edu); any other device gets the fd-level checks alone.
import { defineScenario, type ScenarioContext } from '../scenario.ts';
import { param, type ParamValues } from '../params.ts';
import { formatSize } from '../../util/size.ts';
import type { LiveVm, VfioDevice } from '../../liveupdate/live-vm.ts';
import { bootFor, expect, liveUpdateAndVerify, requireLiveUpdate } from './common.ts';
import { TestFailure } from '../../errors.ts';

const IOVA = 0x100000;
/** DMA lands in a separate, unpreserved bounce memfd: the preserved one must keep its pattern. */
const BOUNCE_IOVA = 0x4000000;
const BOUNCE_BYTES = 64 * 1024;
const DMA_LEN = 2048;
const VFIO_TOKEN = 0x3000;
const IOMMUFD_TOKEN = 0x2000;
const hex = (n: number) => `0x${n.toString(16)}`;

const PARAMS = { size: param.size('2M'), seed: param.int(31, { min: 0 }) };
type Params = ParamValues<typeof PARAMS>;

/** vendor:device of a PCI function, from sysfs. */
async function pciIds(vm: LiveVm, bdf: string): Promise<string> {
  const r = await vm.exec(`cat /sys/bus/pci/devices/${bdf}/vendor /sys/bus/pci/devices/${bdf}/device`);
  return r.stdout.trim().split('\n').map((x) => x.replace(/^0x/, '')).join(':');
}

/** The device under test: edu where there is one (DMA), else the first one bound. */
const deviceOf = (vm: LiveVm): VfioDevice | undefined => vm.vfio.find((d) => d.kind === 'edu') ?? vm.vfio[0];
/** How checks name it: "edu" as ever, or the kind and address of a host's device. */
const nameOf = (d: VfioDevice) => (d.kind === 'edu' ? 'edu' : `${d.kind} ${d.bdf}`);

/**
 * A fresh iommufd + IOAS with the guest-memory memfd mapped at IOVA and a
 * bounce memfd beside it, the edu device attached (its cdev opened, or the
 * fd retrieved after the live update), and one DMA round trip: the device
 * reads guest memory and writes the bounce buffer.
 */
async function dmaRoundTrip(ctx: ScenarioContext<Params>, vm: LiveVm, label: string, memfdId: string, length: number, bounce: string, restored: boolean) {
  const edu = deviceOf(vm);
  if (!edu) throw new TestFailure('no device is bound to vfio-pci');
  const capability = restored ? { capability: 'vfio-device' } : {};
  const opened = await ctx.check(`${label}: iommufd, IOAS, guest memory mapped at IOVA ${hex(IOVA)}, ${nameOf(edu)} attached${restored ? ' through the retrieved fd' : ''}`, async () => {
    await vm.agent.call('iommufd-open', {});
    const { ioas } = await vm.agent.call('ioas-alloc', {});
    await vm.agent.call('memfd-create', { name: bounce, size: BOUNCE_BYTES, seed: 0 });
    await vm.agent.call('ioas-map', { memfd: memfdId, length, iova: hex(IOVA), ioas });
    await vm.agent.call('ioas-map', { memfd: bounce, length: BOUNCE_BYTES, iova: hex(BOUNCE_IOVA), ioas });
    return vm.agent.call('vfio-open', { cdev: edu.cdev, ioas, ...(restored ? { restored: true } : {}) });
  }, capability);
  if (restored) {
    await ctx.check(`${label}: the retrieved fd answers VFIO_DEVICE_GET_INFO`, () => {
      expect(opened.restored === true, 'vfio-open did not use the retrieved fd');
      expect(!!opened.info && opened.info.num_regions > 0, `VFIO_DEVICE_GET_INFO reports ${JSON.stringify(opened.info)}`);
    }, capability);
  }
  if (edu.kind !== 'edu') {
    ctx.record({ name: `${label}: DMA round trip`, status: 'skip', message: `the agent has no DMA driver for ${nameOf(edu)}: fd-level checks only` });
    return;
  }
  await ctx.check(`${label}: edu DMA round trip through the vIOMMU`, async () => {
    const r = await vm.agent.call('edu-dma', { 'src-iova': hex(IOVA), 'dst-iova': hex(BOUNCE_IOVA), len: DMA_LEN, cdev: edu.cdev });
    expect(r.liveness_ok, 'the edu device failed its liveness check');
    expect(r.verified && r.match === true, `DMA round trip did not match (verified ${r.verified}, match ${r.match})`);
  }, capability);
}

export const iommufdVfio = defineScenario({
  name: 'iommufd-vfio',
  description: 'edu on vfio-pci with DMA through iommufd; memfd, iommufd and VFIO fd preserved in dependency order; a verdict per capability',
  params: PARAMS,
  async run(ctx) {
    const vm = await bootFor(ctx, { devices: ['edu'], iommu: 'intel' });
    await requireLiveUpdate(ctx, vm);
    const first = deviceOf(vm);
    const edu = await ctx.check(`${first ? nameOf(first) : 'edu'} is bound to vfio-pci and has a cdev`, () => {
      expect(!!first && /^\/dev\/vfio\/devices\/vfio\d+$/.test(first.cdev), `no vfio cdev for ${first ? nameOf(first) : 'edu'}: ${JSON.stringify(vm.vfio)}`);
      return first!;
    });
    const ids = await pciIds(vm, edu.bdf);
    const session = await ctx.check('create session', () => vm.agent.createSession('vmm'));
    const memfd = await ctx.check(`create and preserve the guest-memory memfd (${formatSize(ctx.params.size)})`, () => session.preserveMemfd({ size: ctx.params.size, seed: ctx.params.seed, id: 'guest-ram' }), { capability: 'memfd' });
    await dmaRoundTrip(ctx, vm, 'before kexec', memfd.id, memfd.size, 'bounce-0', false);

    // The client judges a refusal against the kernel's config: unsupported only where the handler is absent.
    const preserved = { iommufd: false, vfio: false };
    for (const [kind, token, capability] of [['iommufd', IOMMUFD_TOKEN, 'iommufd'], ['vfio', VFIO_TOKEN, 'vfio-device']] as const) {
      await ctx.check(`preserve the ${kind} fd`, async () => {
        await vm.agent.call('fd-preserve', { session: 'vmm', 'fd-kind': kind, token, ...(kind === 'vfio' ? { cdev: edu.cdev } : {}) });
        preserved[kind] = true;
      }, { continueIfUnsupported: true, capability });
    }

    await liveUpdateAndVerify(ctx, vm, 'kexec', [memfd], { memfdBytes: memfd.size });
    const back = vm.vfio.find((d) => d.bdf === edu.bdf) ?? deviceOf(vm);
    await ctx.check(`${nameOf(edu)} re-enumerates at the same address with the same vendor:device and is on vfio-pci`, async () => {
      expect(!!back, `${nameOf(edu)} is not on vfio-pci after the kexec`);
      expect(back!.bdf === edu.bdf, `${nameOf(edu)} came back at ${back!.bdf}, it was at ${edu.bdf}`);
      const now = await pciIds(vm, back!.bdf);
      expect(now === ids, `${nameOf(edu)} at ${back!.bdf} is ${now} now, it was ${ids}`);
      await vm.exec(`test -c ${back!.cdev}`);
    }, preserved.vfio ? { capability: 'vfio-device' } : {});
    if (preserved.vfio) {
      await ctx.check('the agent bound the preserved device to vfio-pci before retrieving its fd, and the kernel guarded its cdev until then', async () => {
        const { restore } = await vm.agent.status();
        const dev = restore.devices?.find((d) => d.bdf === edu.bdf);
        expect(!!dev, `the agent's restore brought back no device at ${edu.bdf}: ${JSON.stringify(restore.devices ?? [])}`);
        expect(dev!.bound_before_retrieve, `${edu.bdf} was not bound to vfio-pci before RETRIEVE_FD`);
        expect(dev!.guard_errno_name === 'EBUSY', `open() of ${dev!.cdev} before RETRIEVE_FD gave ${dev!.guard_errno_name ?? 'success'}, expected EBUSY (the preserved file guards the device)`);
      }, { capability: 'vfio-device' });
    }
    await dmaRoundTrip(ctx, vm, 'after kexec, over the restored memfd', memfd.id, memfd.size, 'bounce-1', preserved.vfio);
    await ctx.check('the session finishes', async () => {
      await (await vm.agent.session('vmm')).finish();
    }, preserved.vfio ? { capability: 'vfio-device' } : {});
  },
});
