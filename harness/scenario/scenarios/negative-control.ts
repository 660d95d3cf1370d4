// The harness must not pass a kernel without LUO: memfd-basic on nolu-7.2
// has to come out unsupported, naming the missing /dev/liveupdate.
import type { ScenarioDefinition } from '../scenario.ts';
import { runScenario } from '../scenario.ts';
import { memfdBasic } from './memfd-basic.ts';
import { expect } from './common.ts';
import { join } from 'node:path';

export const negativeControl: ScenarioDefinition<Record<string, never>> = {
  name: 'negative-control',
  description: 'on a kernel without LUO (nolu-7.2) a preservation scenario reports unsupported with the reason, never pass',
  params: {},
  async run(ctx) {
    const inner = await runScenario(memfdBasic, {
      kernel: ctx.kernel === 'luo-7.2' ? 'nolu-7.2' : ctx.kernel,
      params: { size: '4M' },
      dir: join(ctx.dir, 'memfd-basic'),
      resultsDir: ctx.dir,
      log: (m) => ctx.log(m),
    });
    for (const a of inner.artifacts) ctx.artifact(`memfd-basic ${a.name}`, join(ctx.dir, a.path));
    await ctx.check('memfd-basic on the kernel without LUO is unsupported, not pass', () => {
      expect(inner.status === 'unsupported', `memfd-basic came out ${inner.status}${inner.reason ? `: ${inner.reason}` : ''}`);
    });
    await ctx.check('the reason names the missing /dev/liveupdate', () => {
      expect(/no \/dev\/liveupdate/.test(inner.reason ?? ''), `reason: ${inner.reason}`);
    });
  },
};
