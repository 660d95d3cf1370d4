// Direct kernel boot: kernel image, initramfs, kernel command line.

/** `-append` takes one string; arguments are joined with spaces and must not contain any. */
export function bootArgs(kernel: string, initrd: string | undefined, cmdline: readonly string[]): string[] {
  const args = ['-kernel', kernel];
  if (initrd !== undefined) args.push('-initrd', initrd);
  args.push('-append', cmdline.join(' '));
  return args;
}
