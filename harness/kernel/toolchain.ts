// The toolchain's identity goes into the content key: a new compiler is a new kernel.
import { execa } from 'execa';

const firstLine = (tool: string, args: string[]) =>
  execa(tool, args).then((r) => r.stdout.split('\n')[0]!.trim(), () => 'absent');

export async function toolchainVersions(): Promise<Record<string, string>> {
  const [gcc, ld, make] = await Promise.all([
    firstLine('gcc', ['--version']),
    firstLine('ld', ['--version']),
    firstLine('make', ['--version']),
  ]);
  return { gcc, ld, make };
}

export async function hasCcache(): Promise<boolean> {
  return execa('ccache', ['--version']).then(() => true, () => false);
}
