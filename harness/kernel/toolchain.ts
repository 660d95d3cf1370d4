// The toolchain's identity goes into the content key: a new compiler is a new kernel.
import { execa } from 'execa';

const firstLine = (tool: string, args: string[]) =>
  execa(tool, args).then((r) => r.stdout.split('\n')[0]!.trim(), () => 'absent');

let versions: Promise<Record<string, string>> | undefined;

/** Asked once per process: every boot and every build plan needs it, the answer does not change. */
export function toolchainVersions(): Promise<Record<string, string>> {
  versions ??= Promise.all([firstLine('gcc', ['--version']), firstLine('ld', ['--version']), firstLine('make', ['--version'])]).then(
    ([gcc, ld, make]) => ({ gcc, ld, make }),
  );
  return versions;
}

export async function hasCcache(): Promise<boolean> {
  return execa('ccache', ['--version']).then(() => true, () => false);
}
