// What the kernel pipeline produces and everything above it consumes.
import { join } from 'node:path';

/** Kconfig options the harness reads from a built kernel to know what it can test. */
export const CAPABILITY_OPTIONS = [
  'KEXEC_FILE',
  'KEXEC_HANDOVER',
  'KEXEC_HANDOVER_ENABLE_DEFAULT',
  'LIVEUPDATE',
  'LIVEUPDATE_MEMFD',
  'LIVEUPDATE_TEST',
  'IOMMUFD',
  'IOMMUFD_LIVEUPDATE',
  'VFIO',
  'VFIO_DEVICE_CDEV',
  'VFIO_PCI',
  'VFIO_PCI_LIVEUPDATE',
  'PCI_LIVEUPDATE',
  'INTEL_IOMMU',
  'VIRTIO_IOMMU',
  'RELOCATABLE',
  'HUGETLBFS',
  'GCOV_KERNEL',
] as const;
export type Capability = (typeof CAPABILITY_OPTIONS)[number];

/** Where the source came from, precisely enough to fetch the same bytes again. */
export type SourceIdentity =
  | { kind: 'debian'; package: string; version: string; sha256: string }
  | { kind: 'git'; url: string; ref: string; commit: string }
  | { kind: 'tarball'; location: string; sha256: string }
  | { kind: 'local'; path: string; fingerprint: string };

export interface FileDigest {
  name: string;
  sha256: string;
}

export interface KernelManifest {
  schema: 1;
  /** Content key: hash of recipe, source identity, patches, fragments and toolchain. */
  key: string;
  recipe: string;
  /** `uname -r` of the built kernel. */
  release: string;
  arch: 'x86_64';
  source: SourceIdentity;
  patches: FileDigest[];
  fragments: FileDigest[];
  /** Kernel arguments the recipe needs (e.g. `liveupdate=on`). */
  cmdline: string[];
  toolchain: Record<string, string>;
  buildSeconds: number;
  builtAt: string;
  /** sha256 of every file of the artifact other than manifest.json, by relative path. */
  files: Record<string, string>;
  capabilities: Record<Capability, boolean>;
  /** The kernel's own liveupdate selftests, built from the same tree into selftests/ (or why they could not be). */
  selftests?: { tests: string[]; notes?: string[] } | { error: string };
  /** The mail series among the patches: subject, version, each patch's subject and hash, the cover's base-commit. */
  series?: {
    origin: string;
    messageId?: string;
    subject: string;
    version: number;
    total: number;
    applied: number;
    baseCommit?: string;
    patches: { index: number; subject: string; sha256: string; messageId: string }[];
  }[];
  /** The fuzz the recipe allowed (GNU patch --fuzz), when not 0. */
  patchFuzz?: number;
  /** Patches that applied only with fuzz, and where. */
  fuzzed?: { patch: string; hunks: string[] }[];
  /** Options of the recipe's `whenDefined` fragments that this tree does not define, so were not asked for. */
  notDefined?: string[];
  /** A coverage build: the C files it instruments (coverage/ holds their notes and sources), and those its config does not compile. */
  coverage?: { files: string[]; notBuilt?: string[] };
}

/** Relative paths inside an artifact directory. */
export const ARTIFACT_FILES = {
  bzImage: 'bzImage',
  config: 'config',
  headers: 'headers', // the `make headers_install` tree: headers/include/linux/...
  selftests: 'selftests', // static live-update selftests, their sources (src/) and build.json
  coverage: 'coverage', // a coverage build's notes, sources, System.map (kernel/coverage-build.ts)
  manifest: 'manifest.json',
} as const;

/** A complete kernel artifact in the cache (or imported). */
export interface KernelArtifact {
  dir: string;
  manifest: KernelManifest;
}

export const artifactPath = (a: KernelArtifact, file: keyof typeof ARTIFACT_FILES) =>
  join(a.dir, ARTIFACT_FILES[file]);

/** What a LUO kernel must have for the harness to call it one. */
export const LUO_REQUIRED: Capability[] = ['KEXEC_FILE', 'KEXEC_HANDOVER', 'LIVEUPDATE'];

export function missingLuoCapabilities(m: KernelManifest): Capability[] {
  return LUO_REQUIRED.filter((c) => !m.capabilities[c]);
}
