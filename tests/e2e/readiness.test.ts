// The readiness contract for real: a share that init mounts late on purpose
// (luo_harness.share_delay_ms on the kernel command line) is there for the
// first command after the cold boot and after a kexec, because the harness
// waits for guest-ready and not for SSH; a share that never comes is a
// BootError that names it and says since when.
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BootError } from '../../harness/errors.ts';
import { boot } from '../../harness/liveupdate/live-vm.ts';
import { scratchDir } from '../helpers/scratch.ts';

const DELAY_MS = 2000;

function share() {
  const dir = scratchDir('luo-ready-');
  writeFileSync(join(dir, 'present'), 'here\n');
  return { hostPath: dir, tag: 'late', mount: '/mnt/late' };
}

test.serial('a late share is waited for: the first command after the boot and after a kexec finds it', async (t) => {
  await using vm = await boot({ kernel: 'luo-7.2', shares: [share()], cmdline: [`luo_harness.share_delay_ms=${DELAY_MS}`], bindVfio: false });
  // The first thing run in the guest: no retry, no sleep.
  t.is((await vm.exec('cat /mnt/late/present')).stdout, 'here\n');
  const at = (name: string, boot: number) => vm.console.markers(name, boot)[0]!.line.ms;
  t.true(at('share-mounted', 0) - at('init', 0) >= DELAY_MS, 'init did hold the share back');
  t.is(vm.ready?.boot, 0);

  const lu = await vm.liveUpdate({ agentRestores: false, rebindVfio: false });
  t.is((await vm.exec('cat /mnt/late/present')).stdout, 'here\n');
  const mounted = vm.console.markers('share-mounted', 1).find((m) => m.fields.tag === 'late')!;
  t.true(mounted.line.ms - at('init', 1) >= DELAY_MS);
  // SSH answered before the share was there (dropbear starts first): readiness, not SSH, ended the blackout.
  t.true(vm.ready!.ms >= mounted.line.ms);
  const service = lu.blackout.phases.find((p) => p.name === 'service')!;
  t.true(service.ms >= DELAY_MS - 500, `service ${service.ms} ms holds the late share`);
});

test.serial('a share that never comes: the boot fails with a sentence naming it and since when', async (t) => {
  const e = await t.throwsAsync(
    boot({ kernel: 'luo-7.2', shares: [share()], cmdline: ['luo_harness.share_delay_ms=3600000'], bindVfio: false, bootTimeoutMs: 30_000 }),
    { instanceOf: BootError },
  );
  t.regex(e!.message, /^Boot 0 did not say it was ready within 30000 ms: .*the share 'late' at \/mnt\/late is not mounted, missing since init started \d+\.\d s ago/);
});
