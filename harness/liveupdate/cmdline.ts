// The guest's kernel command line, kept in its parts so that a kexec builds
// the next one from them (never by scraping QEMU's argv). This is the one
// owner of `liveupdate=on|off`: the vm/ room knows nothing of Live Update,
// and recipes need not say it.
export interface KernelCmdline {
  /** What the machine needs to boot at all (console, panic, accelerator and IOMMU needs): the target's. */
  machine: readonly string[];
  /** The running kernel's recipe arguments (an A -> B live update swaps them). */
  recipe: readonly string[];
  /** Live Update switched on (`liveupdate=on`) or off (`liveupdate=off`: no /dev/liveupdate). */
  liveUpdate: boolean;
  /** The harness's own: 9p shares the init mounts. */
  shares: readonly { tag: string; mount: string }[];
  /** The caller's (a scenario, `run --cmdline`): last, so they win over everything above. */
  extra: readonly string[];
  /** What the target adds to the line of a kernel it kexecs into (under TCG, the TSC's frequency): a kexec's own. */
  kexec?: readonly string[];
}

/** The arguments of boot `boot` (0 on a cold boot; n after the n-th kexec). `machine` is left out: the target adds it itself. */
export function guestArgs(c: KernelCmdline, boot: number): string[] {
  return [
    ...c.recipe,
    `liveupdate=${c.liveUpdate ? 'on' : 'off'}`,
    ...c.shares.map((s) => `luo_harness.share=${s.tag}:${s.mount}`),
    `luo_harness.boot=${boot}`,
    ...c.extra,
  ];
}

/** The whole line of boot `boot`, as kexec_file_load takes it. */
export function renderCmdline(c: KernelCmdline, boot: number): string {
  return [...c.machine, ...(c.kexec ?? []), ...guestArgs(c, boot)].join(' ');
}

/** Every 9p share the line asks init to mount: the harness's own (in parts) and the target's (in its machine arguments). */
export function sharesOf(c: KernelCmdline): { tag: string; mount: string }[] {
  const out = [...c.shares];
  for (const a of c.machine) {
    if (!a.startsWith('luo_harness.share=')) continue;
    const v = a.slice('luo_harness.share='.length);
    const colon = v.indexOf(':');
    if (colon > 0) out.push({ tag: v.slice(0, colon), mount: v.slice(colon + 1) });
  }
  return out;
}
