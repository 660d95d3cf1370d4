// A directory lock that survives crashes: the owner's pid is recorded and a
// lock whose owner is dead is taken over, so a killed build never wedges the cache.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { InfraError } from '../errors.ts';

export interface Lock {
  release(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function acquireLock(
  path: string,
  { timeoutMs = 60 * 60_000, onWait }: { timeoutMs?: number; onWait?: (ownerPid: number) => void } = {},
): Promise<Lock> {
  const deadline = Date.now() + timeoutMs;
  let told = false;
  for (;;) {
    try {
      await mkdir(path);
      await writeFile(join(path, 'owner'), String(process.pid));
      let released = false;
      const release = async () => {
        if (released) return;
        released = true;
        await rm(path, { recursive: true, force: true });
      };
      return { release, [Symbol.asyncDispose]: release };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new InfraError(`cannot create lock ${path}`, { cause: e });
    }
    const owner = Number(await readFile(join(path, 'owner'), 'utf8').catch(() => 'NaN'));
    if (Number.isInteger(owner) && !alive(owner)) {
      await rm(path, { recursive: true, force: true });
      continue;
    }
    if (!told && Number.isInteger(owner)) {
      onWait?.(owner);
      told = true;
    }
    if (Date.now() > deadline) throw new InfraError(`timed out waiting for lock ${path} held by pid ${owner}`);
    await sleep(200);
  }
}
