import test from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import { Writable } from 'node:stream';
import { createProgress } from '../../../harness/util/progress.ts';

function sink() {
  const lines: string[] = [];
  const stream = new Writable({ write(chunk, _enc, done) { lines.push(...chunk.toString().split('\n').filter(Boolean)); done(); } });
  return { stream, lines };
}

test('a plain log repeats the phase with its last detail when nothing else was printed', async (t) => {
  const { stream, lines } = sink();
  const p = createProgress('kernel luo-7.2', stream, { live: false, heartbeatMs: 200 });
  p.phase('building');
  p.update('120/1600 steps (7%)');
  await sleep(700);
  p.done('built');
  const beats = lines.filter((l) => /^\[kernel luo-7\.2\] building: 120\/1600 steps \(7%\) \(\d+s\)$/.test(l));
  t.true(beats.length >= 2, lines.join('\n'));
  t.regex(lines.at(-1)!, /^\[kernel luo-7\.2\] built \(\d+s\)$/);
  const count = lines.length;
  await sleep(400);
  t.is(lines.length, count, 'done() stops the heartbeat');
});

test('updates are rate-limited but phases always print', (t) => {
  const { stream, lines } = sink();
  const p = createProgress('x', stream, { live: false, heartbeatMs: 60_000 });
  p.phase('configuring');
  for (let i = 0; i < 50; i++) p.update(`${i} steps`);
  p.phase('building');
  p.done();
  t.deepEqual(lines.map((l) => l.replace(/ \(\d+s\)$/, '')), ['[x] configuring', '[x] building']);
});

test('quiet prints nothing', async (t) => {
  const { stream, lines } = sink();
  const p = createProgress('x', stream, { quiet: true, heartbeatMs: 100 });
  p.phase('a');
  await sleep(300);
  p.done('b');
  t.deepEqual(lines, []);
});
