// The shared libraries (and the dynamic loader) a host binary needs, so it
// can be copied into the guest with everything it loads.
import { execa } from 'execa';
import { InfraError } from '../errors.ts';

/**
 * Parse `ldd` output into absolute library paths, loader included, in order
 * of appearance. The vDSO has no file and is skipped; a static binary gives [].
 */
export function parseLdd(output: string, binary = 'the binary'): string[] {
  const libs: string[] = [];
  const missing: string[] = [];
  for (const raw of output.split('\n')) {
    const line = raw.trim();
    if (line === '' || /not a dynamic executable|statically linked/.test(line)) continue;
    let m = /^(\S+) => not found$/.exec(line);
    if (m) {
      missing.push(m[1]!);
      continue;
    }
    m = /^\S+ => (\/\S+)(?: \(0x[0-9a-f]+\))?$/.exec(line) ?? /^(\/\S+)(?: \(0x[0-9a-f]+\))?$/.exec(line);
    if (m) {
      if (!libs.includes(m[1]!)) libs.push(m[1]!);
      continue;
    }
    if (/^\S+ (?:=> )?\(0x[0-9a-f]+\)$/.test(line)) continue; // linux-vdso.so.1 (0x...)
    throw new InfraError(`Cannot understand this line of ldd output for ${binary}: ${JSON.stringify(line)}.`);
  }
  if (missing.length > 0) {
    throw new InfraError(`${binary} needs libraries the host does not have: ${missing.join(', ')}. Install them or rebuild ${binary}.`);
  }
  return libs;
}

export async function sharedLibraries(binary: string): Promise<string[]> {
  // ldd exits 1 for a static binary; the output says which case it is.
  const r = await execa('ldd', [binary], { reject: false, all: true, env: { LC_ALL: 'C' } });
  if (r.failed && r.exitCode === undefined) {
    throw new InfraError(`Cannot run ldd on ${binary}: ${r.shortMessage}. Is libc-bin installed?`, { cause: r });
  }
  if (r.exitCode !== 0 && !/not a dynamic executable|statically linked/.test(r.all ?? '')) {
    throw new InfraError(`ldd ${binary} failed (exit ${r.exitCode}).`, { detail: r.all });
  }
  return parseLdd(r.all ?? '', binary);
}
