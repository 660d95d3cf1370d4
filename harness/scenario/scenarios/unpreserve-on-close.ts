// Preservation lasts only while a session fd is held: a session closed
// before the kexec is gone after it, and so is one whose holder was killed.
import { defineScenario } from '../scenario.ts';
import { param } from '../params.ts';
import { bootFor, expect, liveUpdateAndVerify, requireLiveUpdate } from './common.ts';

export const unpreserveOnClose = defineScenario({
  name: 'unpreserve-on-close',
  description: 'a session closed before the kexec, or whose holder was killed, is gone after it; a held one survives',
  params: { size: param.size('4M') },
  async run(ctx) {
    const vm = await bootFor(ctx, {});
    await requireLiveUpdate(ctx, vm);
    const size = ctx.params.size;
    await ctx.check('preserve a memfd in "closed-early", then close the session', async () => {
      const s = await vm.agent.createSession('closed-early');
      await s.preserveMemfd({ size, seed: 1 });
      await s.close();
    });
    await ctx.check('preserve a memfd in "holder-killed", then SIGKILL the agent holding it', async () => {
      const s = await vm.agent.createSession('holder-killed');
      await s.preserveMemfd({ size, seed: 2 });
      // A new holder: /dev/liveupdate admits one opener, so its opening shows the old fd was released.
      const agent = await vm.restartAgent();
      expect(agent.liveupdate.open, `the new agent could not open /dev/liveupdate: ${agent.liveupdate.error?.op ?? '?'} ${agent.liveupdate.error?.errno_name ?? ''}`);
    });
    const kept = await ctx.check('preserve a memfd in "kept" with the new agent', async () => (await vm.agent.createSession('kept')).preserveMemfd({ size, seed: 3 }));
    await liveUpdateAndVerify(ctx, vm, 'kexec', [kept]);
    for (const gone of ['closed-early', 'holder-killed']) {
      await ctx.check(`session "${gone}" is gone after the kexec`, async () => {
        const status = await vm.agent.status();
        expect(!status.sessions.some((s) => s.name === gone), `session ${gone} is still held by the agent`);
        const r = await vm.ssh.run(`/usr/sbin/luo-agent session-retrieve --name ${gone}`);
        expect(r.exitCode !== 0 && /ENOENT/.test(r.stdout), `retrieving ${gone} should fail with ENOENT, got exit ${r.exitCode}: ${r.stdout.trim()}`);
      });
    }
    await ctx.check('session "kept" finishes', async () => {
      await (await vm.agent.session('kept')).finish();
    });
  },
});
