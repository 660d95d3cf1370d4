// Which kernel option gives which live-update handler, and the one place
// that decides what a refused preservation means. "Unsupported" is only
// true when the kernel lacks the handler; when its config has it, a refusal
// of a file that handler should take is a regression and must fail, however
// the kernel worded it.
import { TestFailure, Unsupported, type HarnessError } from '../errors.ts';
import type { Capability } from './artifact.ts';

/** What a test asks the kernel to carry across a live update. */
export type PreservedKind = 'memfd' | 'memfd-hugetlb' | 'iommufd' | 'vfio-device';

interface Handler {
  /** Every option the handler needs (all must be set). Empty: no kernel we know has one. */
  options: Capability[];
  /** How a reader names the thing: "memfd", "VFIO device". */
  noun: string;
}

export const HANDLERS: Readonly<Record<PreservedKind, Handler>> = {
  memfd: { options: ['LIVEUPDATE_MEMFD'], noun: 'memfd' },
  // The memfd handler takes shmem files only (memfd_luo_can_preserve); no series adds hugetlbfs.
  'memfd-hugetlb': { options: [], noun: 'hugetlb memfd' },
  // The IOMMU series (IOMMU_LIVEUPDATE) preserves HWPTs, not the iommufd itself: no kernel has an iommufd file handler yet.
  iommufd: { options: ['IOMMUFD_LIVEUPDATE'], noun: 'iommufd' },
  'vfio-device': { options: ['PCI_LIVEUPDATE', 'VFIO_PCI_LIVEUPDATE'], noun: 'VFIO device' },
};

/** Errnos with which PRESERVE_FD says "no handler takes this file" (ENOENT) or "not this property of it" (EOPNOTSUPP). */
export const REFUSALS: ReadonlySet<string> = new Set(['ENOENT', 'EOPNOTSUPP']);

export interface Refusal {
  kind: PreservedKind;
  /** The ioctl that refused, e.g. LIVEUPDATE_SESSION_PRESERVE_FD. */
  op: string;
  errnoName: string;
  errno: number;
  /** What was refused, for the sentence: "a 64 MiB memfd", "the agent's state memfd". */
  what: string;
  /** The kernel's release and recipe, for the sentence. */
  kernel: string;
}

/** Whether the kernel's config has every option of the handler for `kind` (unknown options count as absent). */
export function hasHandler(capabilities: Partial<Record<Capability, boolean>>, kind: PreservedKind): boolean {
  const { options } = HANDLERS[kind];
  return options.length > 0 && options.every((o) => capabilities[o] === true);
}

const configText = (options: readonly Capability[], capabilities: Partial<Record<Capability, boolean>>) =>
  options.map((o) => `CONFIG_${o}=${capabilities[o] ? 'y' : 'n'}`).join(' and ');

/**
 * The harness error a refused preservation stands for: Unsupported when the
 * kernel lacks the handler (saying which option), else a TestFailure that
 * says the config claims it. Errnos other than the refusal ones are always
 * failures: the handler exists and something went wrong.
 */
export function judgeRefusal(capabilities: Partial<Record<Capability, boolean>>, r: Refusal, cause?: unknown): HarnessError {
  const { options, noun } = HANDLERS[r.kind];
  const how = `${r.op} refused ${r.what} with ${r.errnoName} (${r.errno})`;
  const opts = cause === undefined ? {} : { cause };
  if (REFUSALS.has(r.errnoName) && !hasHandler(capabilities, r.kind)) {
    const why = options.length === 0 ? `no kernel handler for a ${noun} exists` : `its config has ${configText(options, capabilities)}`;
    return new Unsupported(`${r.kernel} has no ${noun} live-update handler (${why}): ${how}`, opts);
  }
  if (REFUSALS.has(r.errnoName)) {
    return new TestFailure(`the kernel's config has ${configText(options, capabilities)} but ${how}: the ${noun} handler should take it`, opts);
  }
  return new TestFailure(`${how}`, opts);
}

/**
 * A selftest that skipped because it found no /dev/liveupdate, on a kernel
 * whose config has CONFIG_LIVEUPDATE=y and that booted with liveupdate=on,
 * found a regression, not a reason to skip: a failure. When the device is
 * there but could not be opened, something on the host side holds it: an
 * error. Other skips stand.
 */
export function judgeSelftestSkip(
  capabilities: Partial<Record<Capability, boolean>>,
  reason: string,
  deviceExists: boolean,
): { status: 'fail' | 'error'; message: string } | undefined {
  if (!/\/dev\/liveupdate/.test(reason) || capabilities.LIVEUPDATE !== true) return undefined;
  if (!deviceExists) return { status: 'fail', message: `the kernel's config has CONFIG_LIVEUPDATE=y and it booted with liveupdate=on, but it exposes no /dev/liveupdate (the test skipped: ${reason})` };
  return { status: 'error', message: `/dev/liveupdate exists but the test could not open it; another process must hold it (the test skipped: ${reason})` };
}
