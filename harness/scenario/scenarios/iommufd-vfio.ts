// A VMM's view: QEMU's edu device bound to vfio-pci, a memfd mapped through
// iommufd, DMA before the kexec; then memfd, iommufd and the VFIO device fd
// preserved in dependency order. A stock kernel has no iommufd/VFIO handler:
// those preserves are reported unsupported with the kernel's errno, the
// memfd must still survive, and after the kexec the device comes back on
// vfio-pci and DMA works again over the restored memfd. A kernel whose
// manifest claims the handlers must preserve them.
import type { ScenarioDefinition, ScenarioContext } from '../scenario.ts';
import type { LiveVm } from '../live-vm.ts';
import { bootFor, expect, liveUpdateAndVerify, requireLiveUpdate } from './common.ts';
import { TestFailure, Unsupported } from '../../errors.ts';
import { AgentOpError } from '../agent-protocol.ts';

const IOVA = 0x100000;
/** DMA lands in a separate, unpreserved bounce memfd: the preserved one must keep its pattern. */
const BOUNCE_IOVA = 0x4000000;
const BOUNCE_BYTES = 64 * 1024;
const DMA_LEN = 2048;
const hex = (n: number) => `0x${n.toString(16)}`;

type Params = { size: string; seed: number };

/**
 * A fresh iommufd + IOAS with the guest-memory memfd mapped at IOVA and a
 * bounce memfd beside it, the edu device attached, and one DMA round trip:
 * the device reads guest memory and writes the bounce buffer.
 */
async function dmaRoundTrip(ctx: ScenarioContext<Params>, vm: LiveVm, label: string, memfdId: string, length: number, bounce: string) {
  const edu = vm.vfio.find((d) => d.kind === 'edu');
  if (!edu) throw new TestFailure('the edu device is not bound to vfio-pci');
  await ctx.check(`${label}: iommufd, IOAS, guest memory mapped at IOVA ${hex(IOVA)}`, async () => {
    await vm.agent.call('iommufd-open', {});
    const { ioas } = await vm.agent.call('ioas-alloc', {});
    await vm.agent.call('vfio-open', { cdev: edu.cdev, ioas });
    await vm.agent.call('memfd-create', { name: bounce, size: BOUNCE_BYTES, seed: 0 });
    await vm.agent.call('ioas-map', { memfd: memfdId, length, iova: hex(IOVA), ioas });
    await vm.agent.call('ioas-map', { memfd: bounce, length: BOUNCE_BYTES, iova: hex(BOUNCE_IOVA), ioas });
  });
  await ctx.check(`${label}: edu DMA round trip through the vIOMMU`, async () => {
    const r = await vm.agent.call('edu-dma', { 'src-iova': hex(IOVA), 'dst-iova': hex(BOUNCE_IOVA), len: DMA_LEN, cdev: edu.cdev });
    expect(r.liveness_ok, 'the edu device failed its liveness check');
    expect(r.verified && r.match === true, `DMA round trip did not match (verified ${r.verified}, match ${r.match})`);
  });
}

/** "LIVEUPDATE_SESSION_PRESERVE_FD failed with ENOENT" from the agent's error, else the message. */
function refusal(error: Error): string {
  const op = error.cause instanceof AgentOpError ? error.cause : undefined;
  return op ? `${op.op} failed with ${op.errnoName} (${op.errno})` : error.message;
}

export const iommufdVfio: ScenarioDefinition<Params> = {
  name: 'iommufd-vfio',
  description: 'edu on vfio-pci with DMA through iommufd; memfd, iommufd and VFIO fd preserved in dependency order',
  params: { size: '2M', seed: 31 },
  async run(ctx) {
    const vm = await bootFor(ctx, { devices: ['edu'], iommu: 'intel' });
    await requireLiveUpdate(ctx, vm);
    const caps = vm.kernel.manifest.capabilities;
    await ctx.check('edu is bound to vfio-pci and has a cdev', () => {
      const edu = vm.vfio.find((d) => d.kind === 'edu');
      expect(!!edu && /^\/dev\/vfio\/devices\/vfio\d+$/.test(edu.cdev), `no vfio cdev for edu: ${JSON.stringify(vm.vfio)}`);
    });
    const session = await ctx.check('create session', () => vm.agent.createSession('vmm'));
    const memfd = await ctx.check(`create and preserve the guest-memory memfd (${ctx.params.size})`, () => session.preserveMemfd({ size: ctx.params.size as `${number}M`, seed: ctx.params.seed, id: 'guest-ram' }));
    await dmaRoundTrip(ctx, vm, 'before kexec', memfd.id, memfd.size, 'bounce-0');

    for (const [kind, claims, token] of [['iommufd', caps.IOMMUFD_LIVEUPDATE, 0x2000], ['vfio', caps.VFIO_PCI_LIVEUPDATE, 0x3000]] as const) {
      await ctx.check(
        `preserve the ${kind} fd`,
        async () => {
          try {
            await vm.agent.call('fd-preserve', { session: 'vmm', 'fd-kind': kind, token });
          } catch (error) {
            // A kernel that claims the handler must preserve; one that does not is unsupported, with the errno.
            if (error instanceof Unsupported && !claims) throw new Unsupported(`${vm.kernel.manifest.release} has no ${kind} live-update handler: ${refusal(error)}`, { cause: error });
            throw error instanceof Unsupported ? new TestFailure(`the manifest claims ${kind} preservation but the kernel refused: ${error.message}`, { cause: error }) : error;
          }
        },
        { continueIfUnsupported: true },
      );
    }

    await liveUpdateAndVerify(ctx, vm, 'kexec', [memfd], { memfdBytes: memfd.size });
    await ctx.check('edu re-enumerates and is bound to vfio-pci again', async () => {
      const edu = vm.vfio.find((d) => d.kind === 'edu');
      expect(!!edu, 'edu is not on vfio-pci after the kexec');
      await vm.exec(`test -c ${edu!.cdev}`);
    });
    await dmaRoundTrip(ctx, vm, 'after kexec, over the restored memfd', memfd.id, memfd.size, 'bounce-1');
    await ctx.check('the session finishes', async () => {
      await (await vm.agent.session('vmm')).finish();
    });
  },
};
