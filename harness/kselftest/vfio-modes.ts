// The IOMMU modes of the VFIO selftests library and what each one needs of
// the kernel, learnt from the library's own sources (lib/iommu.c lists the
// modes and the container each opens; lib/include/libvfio/iommu.h names
// them), and which of them a test runs, learnt from the test's source.
//
// What a mode opens decides the Kconfig it needs (drivers/vfio/Kconfig,
// drivers/iommu/iommufd/Kconfig):
// - a container path means the group interface too (/dev/vfio/<group>,
//   VFIO_GROUP), since the device is reached through its group;
// - /dev/vfio/vfio is VFIO's own container (VFIO_CONTAINER, which selects
//   the type1 driver) or iommufd's emulation of it (IOMMUFD_VFIO_CONTAINER);
// - /dev/iommu is iommufd itself (IOMMUFD), set as the group's container;
// - no container: the device's cdev bound to an iommufd (VFIO_DEVICE_CDEV).
// A mode of a FIXTURE_VARIANT test the kernel cannot serve is left out with
// kselftest_harness's `-V <variant>` and reported unsupported with the
// option's name; a mode a test opens directly cannot be left out, so the
// test as a whole is unsupported there.

import { stripComments } from './c-source.ts';

/** One of the library's IOMMU modes and the Kconfig options it needs ("A|B": either). */
export interface IommuMode {
  name: string;
  containerPath?: string;
  requires: string[];
}

/** How a test uses a mode: as a fixture variant (`-V` can leave it out) or directly. */
export interface ModeUse {
  mode: string;
  variant: boolean;
  requires: string[];
}

/** What opening a container (or none: the cdev) needs of the kernel. */
export function containerRequires(containerPath: string | undefined): string[] {
  if (containerPath === undefined) return ['IOMMUFD', 'VFIO_DEVICE_CDEV'];
  if (containerPath === '/dev/iommu') return ['VFIO_GROUP', 'IOMMUFD'];
  if (containerPath === '/dev/vfio/vfio') return ['VFIO_GROUP', 'VFIO_CONTAINER|IOMMUFD_VFIO_CONTAINER'];
  // A container this table does not know: the group is all that is sure.
  return ['VFIO_GROUP'];
}

/** The modes of lib/iommu.c's `iommu_modes[]`, names resolved through the header's MODE_* defines. */
export function parseIommuModes(iommuC: string, header: string): IommuMode[] {
  const names = new Map<string, string>();
  for (const m of stripComments(header).matchAll(/^\s*#\s*define\s+(MODE_\w+)\s+"([^"]+)"/gm)) names.set(m[1]!, m[2]!);
  const src = stripComments(iommuC);
  const table = /\biommu_modes\s*\[\s*\]\s*=\s*\{([\s\S]*?)\};/.exec(src);
  if (!table) return [];
  const modes: IommuMode[] = [];
  for (const entry of table[1]!.matchAll(/\{([^{}]*)\}/g)) {
    const nameExpr = /\.name\s*=\s*([A-Za-z_]\w*|"[^"]*")/.exec(entry[1]!)?.[1];
    if (!nameExpr) continue;
    const name = nameExpr.startsWith('"') ? nameExpr.slice(1, -1) : names.get(nameExpr);
    if (!name) continue;
    const containerPath = /\.container_path\s*=\s*"([^"]+)"/.exec(entry[1]!)?.[1];
    modes.push({ name, ...(containerPath ? { containerPath } : {}), requires: containerRequires(containerPath) });
  }
  return modes;
}

/**
 * The modes a test's source runs: every mode as a variant when it uses
 * FIXTURE_VARIANT_ADD_ALL_IOMMU_MODES; directly, each literal it passes to
 * iommu_init(), and the modes it walks in `iommu_modes[]` (only those with
 * a container when the walk skips the others, as the series' kexec test does).
 */
export function modesOfTest(testSource: string, modes: readonly IommuMode[]): ModeUse[] {
  const src = stripComments(testSource);
  const uses: ModeUse[] = [];
  const add = (m: IommuMode, variant: boolean) => {
    if (!uses.some((u) => u.mode === m.name && u.variant === variant)) uses.push({ mode: m.name, variant, requires: m.requires });
  };
  if (/\bFIXTURE_VARIANT_ADD_ALL_IOMMU_MODES\b/.test(src)) for (const m of modes) add(m, true);
  for (const lit of src.matchAll(/\biommu_init\s*\(\s*"([^"]+)"\s*\)/g)) {
    const m = modes.find((x) => x.name === lit[1]);
    if (m) add(m, false);
  }
  if (/\biommu_modes\s*\[/.test(src)) {
    const onlyContainers = /if\s*\(\s*!\s*iommu_modes\s*\[[^\]]+\]\s*\.\s*container_path\s*\)\s*continue/.test(src);
    for (const m of modes) if (!onlyContainers || m.containerPath) add(m, false);
  }
  return uses;
}

/** The options of `requires` a kernel lacks (an "A|B" requirement is met by either), as CONFIG_ names. */
export function missingOptions(requires: readonly string[], caps: Record<string, boolean>): string[] {
  return requires
    .filter((req) => req.split('|').every((opt) => caps[opt] === false))
    .map((req) => req.split('|').map((o) => `CONFIG_${o}`).join(' or '));
}
