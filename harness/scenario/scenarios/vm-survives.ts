// A running VM crosses the live update, as on a hypervisor host: a real VMM
// (the host's QEMU, inside the test guest) runs a tiny VM of our own whose RAM
// is a memfd the agent preserved before the VM ran on, so the guest keeps
// writing it after preservation. At the freeze the VM is stopped and its
// device state saved (x-ignore-shared: RAM is not copied) into a second
// memfd, preserved too; then the kexec; in the new kernel a new QEMU starts
// on the same RAM with -incoming and the VM runs on.
//
// Checks: every page of guest RAM holds after the kexec exactly what the
// stopped VM left (its firmware's pass counts: one +1 step where it stopped),
// the pass counter too; the device state came back byte for byte; the VM
// resumed from it (same boot id, the counter continues, no fresh boot) and
// runs on. The downtime as the VM saw it (its last serial byte before the
// stop -> its first after the resume, host clock) is a figure of its own.
import { defineScenario, type ScenarioContext } from '../scenario.ts';
import { param } from '../params.ts';
import { InfraError, TestFailure } from '../../errors.ts';
import { NESTED_GUEST, nestedGuestRom } from '../../image/nested-guest.ts';
import { HOST_USR_SHARE, hostQemu, NestedVmm } from '../../liveupdate/nested-vmm.ts';
import type { LiveVm } from '../../liveupdate/live-vm.ts';
import type { AgentResponse } from '../../agent/protocol.ts';
import type { SerialLine } from '../../vm/aux-serial.ts';
import { bootFor, checkRestore, expect, requireLiveUpdate } from './common.ts';

const PASS_LINE = /LUO-VM pass=([0-9a-f]{8}) id=([0-9a-f]{8})/;
const pass = (l: SerialLine) => {
  const m = PASS_LINE.exec(l.text);
  return m ? { ms: l.ms, pass: Number.parseInt(m[1]!, 16), id: m[2]! } : undefined;
};
const hex8 = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;

/** Where the agent's memfd `id` is, as a path the nested QEMU opens (the agent's own fd, through /proc). */
async function memfdPath(vm: LiveVm, id: string): Promise<string> {
  const s = await vm.agent.status();
  const m = s.memfds.find((x) => x.id === id);
  if (!m) throw new TestFailure(`the agent holds no memfd '${id}' (it holds ${s.memfds.map((x) => x.id).join(', ') || 'none'})`);
  return `/proc/${s.pid}/fd/${m.fd}`;
}

/** The guest RAM against the layout the stopped VM left, in a sentence that names the first pages off. */
function ramVerdict(before: AgentResponse<'vm-ram-check'>, after: AgentResponse<'vm-ram-check'>): string | undefined {
  const problems: string[] = [];
  if (after.off_pages > 0) {
    const named = after.first_off.map((p) => `page ${p.page} holds ${hex8(p.found)}, expected ${hex8(p.expected)}`).join('; ');
    const end = before.first + before.pages - 1;
    const layout = before.boundary === before.first ? `every page ${hex8(before.low)}` : `pages ${before.first}-${before.boundary - 1} ${hex8(before.high)}${before.boundary <= end ? `, pages ${before.boundary}-${end} ${hex8(before.low)}` : ''}`;
    problems.push(`${after.off_pages} of ${after.pages} pages of guest RAM do not hold what the running VM left at its stop (${layout}): ${named}${after.off_pages > after.first_off.length ? '; ...' : ''}`);
  }
  if (after.counter !== before.counter) problems.push(`the VM's pass counter (page ${NESTED_GUEST.counterPage}) reads ${after.counter}, the stopped VM left ${before.counter}`);
  if (problems.length === 0 && after.sha256 !== before.sha256) problems.push(`guest RAM's sha256 is ${after.sha256}, the stopped VM left ${before.sha256} (a change outside the pages the VM writes)`);
  return problems.length ? problems.join('; ') : undefined;
}

export const vmSurvives = defineScenario({
  name: 'vm-survives',
  description: 'a running VM crosses the live update: QEMU in the guest runs a tiny VM on a preserved memfd that it writes until the freeze, saves its device state into a second preserved memfd, and a new QEMU resumes it after the kexec; every page and the VM-seen downtime',
  params: {
    /** How long the VM runs on its preserved RAM before the freeze. */
    runMs: param.int(2000, { min: 200, max: 600_000 }),
    /** 1: change one byte of guest RAM after the freeze (a test of the check itself: it must name that page). */
    tamper: param.int(0, { min: 0, max: 1 }),
  },
  async run(ctx: ScenarioContext<{ runMs: number; tamper: number }>) {
    const qemu = await ctx.check("the host's QEMU for the nested VMM", () => hostQemu());
    const rom = await ctx.check("assemble the nested VM's firmware", () => nestedGuestRom());
    const vm = await bootFor(ctx, { auxSerial: true, shares: [{ ...HOST_USR_SHARE }], bindVfio: false });
    await requireLiveUpdate(ctx, vm);
    const serial = vm.target.auxSerial;
    if (!serial) throw new InfraError(`vm-survives needs a second serial line the harness reads (ttyS1) to time the nested VM; the ${vm.target.kind} target has none`);
    const vmm = new NestedVmm(vm, qemu);
    await ctx.check("the host's QEMU runs inside the guest", () => vmm.probe());
    // Staged where the kernels for kexec go: it is there in every boot (the guest's /tmp is not).
    const romPath = await vm.target.stage(rom, 'nested-guest.rom', vm.ssh);

    const session = await ctx.check('create session', () => vm.agent.createSession('vm'));
    const mib = NESTED_GUEST.ramMiB;
    // Preallocated with fallocate(), as a VMM does, and preserved before the VM runs: every write of the running guest comes after PRESERVE_FD.
    const ram = await ctx.check(`preserve ${mib} MiB of guest RAM (fallocated, never written) before the VM runs`, async () => {
      const m = await vm.agent.createMemfd({ id: 'guest-ram', size: mib * 1024 * 1024, seed: 0, fill: 'fallocate' });
      return session.preserveHeld(m);
    }, { capability: 'memfd' });

    let qemuStartMs = 0;
    await ctx.check('QEMU in the guest runs the VM on the preserved RAM', async () => {
      const t0 = performance.now();
      await vmm.start({ ramPath: await memfdPath(vm, ram.id), romPath });
      qemuStartMs = Math.round(performance.now() - t0);
      const first = await serial.waitForLine(PASS_LINE, 0, 120_000);
      if (!first) throw new TestFailure('the nested VM printed no pass line within 120 s of its start');
    });
    await new Promise((r) => setTimeout(r, ctx.params.runMs));

    // The freeze: stop the VM, its device state into a memfd of its own, the VMM gone.
    const state = await ctx.check("stop the VM and save its device state (x-ignore-shared) into a second memfd", async () => {
      await vmm.hmp('stop');
      const m = await vm.agent.createMemfd({ id: 'vm-state', size: 0, seed: 0, fill: 'hole' });
      const path = await memfdPath(vm, m.id);
      await vmm.saveState(path);
      await vmm.quit();
      const sha = (await vm.exec(`sha256sum < ${path}`)).stdout.split(/\s/)[0]!;
      const bytes = Number((await vm.exec(`wc -c < ${path}`)).stdout.trim());
      return { m, sha, bytes };
    });
    const before = serial.lines().map(pass).filter((p) => p !== undefined);
    const lastByte = serial.chunks.at(-1)!;
    await ctx.check('preserve the device state memfd', () => session.preserveHeld(state.m), { capability: 'memfd' });
    // Where the VM's downtime goes, on the serial line's clock: what a VMM does, and what only the harness does (its checks).
    const t = { saved: serial.nowMs(), checked: 0, up: 0 };
    const left = await ctx.check('read what the stopped VM left in guest RAM', async () => {
      const r = await vm.agent.call('vm-ram-check', { id: ram.id, first: NESTED_GUEST.firstPage, pages: NESTED_GUEST.pages, 'counter-page': NESTED_GUEST.counterPage });
      const last = before.at(-1);
      expect(last !== undefined && r.counter >= last.pass, `the VM's pass counter in its RAM reads ${r.counter}, but it printed pass=${last?.pass} before it was stopped`);
      expect(r.off_pages === 0 && (r.high === r.low || r.high === r.low + 1), `the stopped VM's RAM is not one +1 step (${r.off_pages} pages off the best fit, ${hex8(r.high)} / ${hex8(r.low)})`);
      // Pages the pass counter has not reached yet hold it; all of them one more when the VM stopped before counting its pass.
      expect(r.low === r.counter || (r.high === r.low && r.low === r.counter + 1), `the stopped VM's pages hold ${hex8(r.low)} where its pass counter says ${hex8(r.counter)}`);
      return r;
    });
    if (ctx.params.tamper) {
      const page = NESTED_GUEST.firstPage + Math.floor(NESTED_GUEST.pages / 2) + 1;
      // A value the page cannot hold: the low byte of its expected word with the top bit flipped.
      const wrong = ((page < left.boundary ? left.high : left.low) & 0xff) ^ 0x80;
      await ctx.check(`tamper with page ${page} of guest RAM after the freeze (0x${wrong.toString(16)})`, async () =>
        vm.exec(`printf '\\${wrong.toString(8).padStart(3, '0')}' | dd of=${await memfdPath(vm, ram.id)} bs=1 seek=${page * 4096} conv=notrunc 2>/dev/null`),
      );
    }

    t.checked = serial.nowMs();
    const lu = await ctx.check(`kexec ${vm.kernel.manifest.recipe} -> ${ctx.to ? ctx.to.manifest.recipe : 'same kernel'} with the VM stopped`, () => vm.liveUpdate({ ...(ctx.to ? { to: ctx.to } : {}), rebindVfio: false }));
    t.up = serial.nowMs();
    await checkRestore(ctx, vm, 'after the kexec');

    await ctx.check('every page of guest RAM and the pass counter hold what the stopped VM left', async () => {
      const after = await vm.agent.call('vm-ram-check', { id: ram.id, first: left.first, pages: left.pages, 'counter-page': NESTED_GUEST.counterPage, high: left.high, low: left.low, boundary: left.boundary });
      const why = ramVerdict(left, after);
      if (why) throw new TestFailure(`memfd ${ram.id}: ${why}`);
    }, { capability: 'memfd' });
    const statePath = await memfdPath(vm, state.m.id);
    await ctx.check('the device state came back byte for byte', async () => {
      const sha = (await vm.exec(`sha256sum < ${statePath}`)).stdout.split(/\s/)[0]!;
      expect(sha === state.sha, `the device state memfd's sha256 is ${sha} after the kexec, ${state.sha} (${state.bytes} bytes) before it`);
    }, { capability: 'memfd' });

    const resumeStart = serial.nowMs();
    // A VM that does not come back: QEMU's own words (in the error) and what the VM last printed.
    const serialTail = () => JSON.stringify(serial.chunks.slice(-40).map((c) => c.text).join('').slice(-300));
    const resumed = await ctx.check('a new QEMU resumes the VM from its device state on the same RAM', async () => {
      try {
        await vmm.start({ ramPath: await memfdPath(vm, ram.id), romPath, incoming: true });
        await vmm.loadState(statePath);
      } catch (error) {
        throw new TestFailure(`${error instanceof Error ? error.message : String(error)}; the VM's serial tail before its stop: ${serialTail()}`, { cause: error });
      }
      const line = await serial.waitForLine(PASS_LINE, resumeStart, 120_000);
      if (!line) throw new TestFailure('the resumed VM printed no pass line within 120 s');
      const firstChunk = serial.chunks.find((c) => c.ms > resumeStart)!;
      const p = pass(line)!;
      const last = before.at(-1)!;
      const booted = serial.lines().some((l) => l.ms > resumeStart && /LUO-VM boot/.test(l.text));
      expect(!booted && p.id === last.id, `the VM came up fresh, not from its device state: ${booted ? 'it printed "LUO-VM boot"' : `its boot id is ${p.id}, it was ${last.id}`}`);
      expect(p.pass > left.counter, `the resumed VM's pass counter (${p.pass}) did not continue from ${left.counter}`);
      return { firstChunk, p };
    });
    await ctx.check('the VM runs on after the resume', async () => {
      const next = await serial.waitForLine(PASS_LINE, resumed.p.ms, 60_000);
      expect(next !== undefined && pass(next)!.pass > resumed.p.pass, 'the resumed VM printed no further pass line within 60 s');
    });
    await vmm.quit();

    const first = before[0]!;
    const last = before.at(-1)!;
    // Per pass, not per second: every metric is a cost to the gate (a slower VM is a larger figure).
    const msPerPass = last.pass > first.pass ? Math.round(((last.ms - first.ms) / (last.pass - first.pass)) * 100) / 100 : 0;
    const r2 = (ms: number) => Math.round(ms * 100) / 100;
    const figures = {
      /** The VM's last serial byte before the stop -> its first after the resume. */
      vmDowntimeMs: r2(resumed.firstChunk.ms - lastByte.ms),
      /** Stop, device state saved, QEMU gone, the state memfd preserved. */
      vmSaveMs: r2(t.saved - lastByte.ms),
      /** The harness's own reading of guest RAM and state while the VM was stopped (no VMM does this). */
      vmHarnessChecksMs: r2(t.checked - t.saved + (resumeStart - t.up)),
      /** A new QEMU up, the device state loaded, the VM continued, its first byte out. */
      vmRestartMs: r2(resumed.firstChunk.ms - resumeStart),
    };
    ctx.log(`VM-seen downtime ${figures.vmDowntimeMs} ms: save ${figures.vmSaveMs}, the harness's checks ${figures.vmHarnessChecksMs}, kexec to SSH ${r2(t.up - t.checked)}, restart ${figures.vmRestartMs}; ${msPerPass} ms per pass before the stop; device state ${state.bytes} bytes`);
    ctx.iteration({ blackout: lu.blackout, metrics: { ...figures, vmQemuStartMs: qemuStartMs, vmMsPerPass: msPerPass, vmStateBytes: state.bytes, vmRamBytes: mib * 1024 * 1024 } });
    await ctx.check('finish the session', async () => {
      await (await vm.agent.session(session.name)).finish();
    });
  },
});
