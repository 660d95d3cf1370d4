// Our own planted-bug kernels (recipes under tests/fixtures/kernels/): the
// kernels every new check must fail on.
import { join } from 'node:path';
import { repoRoot } from '../../harness/paths.ts';

const recipe = (name: string) => join(repoRoot, 'tests', 'fixtures', 'kernels', `${name}.json`);

/** Refuses memfds of 32 MiB and more; restores sealed memfds a page short (tests/fixtures/series/memfd-luo-thread.mbox). */
export const PLANTED = recipe('memfd-bugs');
/** Fallocated pages written after PRESERVE_FD are lost; fallocate goes through on a preserved memfd (tests/fixtures/series/memfd-late-writes.mbox). */
export const LATE_WRITES = recipe('memfd-late-writes');
