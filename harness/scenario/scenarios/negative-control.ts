// The harness must not pass a kernel without Live Update: memfd-basic has to
// come out unsupported, naming the missing /dev/liveupdate. A kernel built
// with LUO is booted with it switched off on its command line
// (`liveupdate=off`), so the control costs no second kernel build; a kernel
// built without it (nolu-7.2) is booted as it is.
import { join } from 'node:path';
import { defineScenario, runScenario } from '../scenario.ts';
import { memfdBasic } from './memfd-basic.ts';
import { expect } from './common.ts';

export const negativeControl = defineScenario({
  name: 'negative-control',
  description: 'with Live Update off (on the command line, or not built in) a preservation scenario reports unsupported with the reason, never pass',
  params: {},
  async run(ctx) {
    const kernel = ctx.kernel;
    const builtIn = kernel.manifest.capabilities.LIVEUPDATE;
    const how = builtIn ? `${kernel.manifest.recipe} booted with liveupdate=off` : `${kernel.manifest.recipe}, built without CONFIG_LIVEUPDATE`;
    ctx.log(`memfd-basic on ${how}`);
    const inner = await runScenario(memfdBasic, {
      kernel: ctx.kernel,
      params: { size: '4M' },
      cmdline: [...ctx.cmdline],
      liveUpdate: !builtIn,
      ...(ctx.target ? { target: ctx.target } : {}),
      dir: join(ctx.dir, 'memfd-basic'),
      resultsDir: ctx.dir,
      log: (m) => ctx.log(m),
    });
    for (const a of inner.artifacts) ctx.artifact(`memfd-basic ${a.name}`, join(ctx.dir, a.path));
    await ctx.check(`memfd-basic on ${how} is unsupported, not pass`, () => {
      expect(inner.status === 'unsupported', `memfd-basic came out ${inner.status}${inner.reason ? `: ${inner.reason}` : ''}`);
    });
    await ctx.check('the reason names the missing /dev/liveupdate', () => {
      expect(/no \/dev\/liveupdate/.test(inner.reason ?? ''), `reason: ${inner.reason}`);
    });
  },
});
