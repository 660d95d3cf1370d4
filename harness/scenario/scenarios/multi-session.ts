// Several sessions with several memfds each; after the kexec the agent
// retrieves them in the opposite order to their preservation. Each
// iteration is one such live update with fresh sessions.
import { defineScenario } from '../scenario.ts';
import { param } from '../params.ts';
import type { PreservedMemfd } from '../../agent/client.ts';
import { bootFor, expect, liveUpdateAndVerify, requireLiveUpdate } from './common.ts';
import { parseMarker } from '../../vm/console-patterns.ts';

export const multiSession = defineScenario({
  name: 'multi-session',
  description: 'several sessions with several memfds each, retrieved in a different order than preserved',
  params: { sessions: param.int(3, { min: 1, max: 60 }), memfdsPerSession: param.int(3, { min: 1, max: 64 }), size: param.size('4M') },
  iterates: true,
  async run(ctx) {
    const vm = await bootFor(ctx, {});
    await requireLiveUpdate(ctx, vm);
    for (let it = 0; it < ctx.iterations; it++) {
      const at = ctx.iterations > 1 ? `iteration ${it}: ` : '';
      const names = Array.from({ length: ctx.params.sessions }, (_, i) => (ctx.iterations > 1 ? `tenant-${it}-${i}` : `tenant-${i}`));
      const memfds: PreservedMemfd[] = [];
      await ctx.check(`${at}preserve ${ctx.params.sessions} sessions x ${ctx.params.memfdsPerSession} memfds`, async () => {
        for (const [i, name] of names.entries()) {
          const s = await vm.agent.createSession(name);
          for (let j = 0; j < ctx.params.memfdsPerSession; j++) {
            memfds.push(await s.preserveMemfd({ size: ctx.params.size, seed: 1000 * it + 100 * i + j, token: 0x1000 + j }));
          }
        }
      });
      const lu = await liveUpdateAndVerify(ctx, vm, `${at}reverse-order retrieval`, memfds, {}, { cmdline: ['luo_agent.restore=reverse'] });
      await ctx.check(`${at}sessions were retrieved in reverse order of preservation`, () => {
        const retrieved = vm.console
          .lines(lu.toBoot)
          .map((l) => parseMarker(l.text))
          .filter((m) => m?.name === 'agent-retrieved' && m.fields.session?.startsWith('tenant-'))
          .map((m) => m!.fields.session);
        expect(JSON.stringify(retrieved) === JSON.stringify([...names].reverse()), `retrieval order was ${retrieved.join(', ')}, expected ${[...names].reverse().join(', ')}`);
      });
      await ctx.check(`${at}every session finishes, in a shuffled order`, async () => {
        const shuffled = names.length > 1 ? [names[1]!, names[0]!, ...names.slice(2)] : names;
        for (const name of shuffled) await (await vm.agent.session(name)).finish();
      });
    }
  },
});
