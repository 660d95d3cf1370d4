// Typed errors. Each says what happened in a sentence a user can act on and
// keeps its `cause`. The class decides the exit code and whether a retry is
// worth it: only InfraError is ever retried.

export type ErrorKind = 'config' | 'infra' | 'build' | 'boot' | 'kernel-fault' | 'test-failure' | 'unsupported';

export abstract class HarnessError extends Error {
  abstract readonly kind: ErrorKind;
  /** Extra detail shown under the message: a log tail, a failing hunk. */
  readonly detail?: string;

  constructor(message: string, options: { cause?: unknown; detail?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    if (options.detail !== undefined) this.detail = options.detail;
  }
}

/** Bad input: a recipe, a flag, a patch, a tarball. Exit code 2. */
export class ConfigError extends HarnessError {
  readonly kind = 'config' as const;
}

/** The host, QEMU, SSH or the network failed; the kernel is not at fault. Exit code 3. */
export class InfraError extends HarnessError {
  readonly kind = 'infra' as const;
}

/** The kernel did not compile (a broken patch or config): the change is at fault. Carries the log tail. */
export class BuildFailure extends HarnessError {
  readonly kind = 'build' as const;
}

/** The guest never came up. Carries the console tail. */
export class BootError extends HarnessError {
  readonly kind = 'boot' as const;
}

/** The kernel crashed or hung (panic, oops, BUG, hung task). Carries the console tail. */
export class KernelFault extends HarnessError {
  readonly kind = 'kernel-fault' as const;
}

/** An expectation of a test did not hold. */
export class TestFailure extends HarnessError {
  readonly kind = 'test-failure' as const;
}

/** The kernel under test lacks what the test needs (no /dev/liveupdate, no fd handler). */
export class Unsupported extends HarnessError {
  readonly kind = 'unsupported' as const;
}

export const EXIT = { ok: 0, failed: 1, badInput: 2, infra: 3, allSkipped: 4 } as const;

/** The process exit code an error stands for. */
export function exitCodeOf(error: unknown): number {
  if (error instanceof ConfigError) return EXIT.badInput;
  if (error instanceof Unsupported) return EXIT.allSkipped;
  if (error instanceof HarnessError && error.kind !== 'infra') return EXIT.failed;
  return EXIT.infra;
}

/** Message plus detail plus the cause chain, for printing to a user. */
export function describeError(error: unknown): string {
  const lines: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 8; depth++) {
    if (current instanceof Error) {
      lines.push((depth === 0 ? '' : 'caused by: ') + current.message);
      if (current instanceof HarnessError && current.detail) lines.push(current.detail);
      current = current.cause;
    } else {
      lines.push('caused by: ' + String(current));
      break;
    }
  }
  return lines.join('\n');
}
