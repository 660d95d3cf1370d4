// Host directories exported over 9p.
import { ConfigError } from '../../errors.ts';
import type { ShareSpec } from '../spec.ts';
import { PCI_BUS, SHARE_SLOTS, slotAddr } from './pci-layout.ts';
import { optionValue } from './option-value.ts';

/**
 * One fsdev + virtio-9p-pci per share. `security_model=none`: the guest sees host
 * ownership as is (the harness runs as the owner). Read-only unless asked otherwise.
 */
export function shareArgs(shares: readonly ShareSpec[]): string[] {
  const capacity = SHARE_SLOTS.last - SHARE_SLOTS.first + 1;
  if (shares.length > capacity) throw new ConfigError(`At most ${capacity} shares are supported; got ${shares.length}.`);
  const args: string[] = [];
  shares.forEach((share, index) => {
    const id = `share${index}`;
    const readonly = share.readOnly === false ? '' : ',readonly=on';
    args.push(
      '-fsdev', `local,id=${id},path=${optionValue(share.hostPath)},security_model=none${readonly}`,
      '-device', `virtio-9p-pci,fsdev=${id},mount_tag=${share.tag},bus=${PCI_BUS},addr=${slotAddr(SHARE_SLOTS.first + index)}`,
    );
  });
  return args;
}
