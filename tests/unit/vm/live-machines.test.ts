import test from 'ava';
import { liveCount, registerLive, unregisterLive } from '../../../harness/vm/live-machines.ts';

test.serial('signal and exit handlers exist only while machines are live', (t) => {
  const before = { int: process.listenerCount('SIGINT'), term: process.listenerCount('SIGTERM'), exit: process.listenerCount('exit') };
  const a = { killNow: () => undefined };
  const b = { killNow: () => undefined };
  registerLive(a);
  registerLive(b);
  t.is(liveCount(), 2);
  t.is(process.listenerCount('SIGINT'), before.int + 1);
  t.is(process.listenerCount('SIGTERM'), before.term + 1);
  t.is(process.listenerCount('exit'), before.exit + 1);
  unregisterLive(a);
  t.is(process.listenerCount('SIGINT'), before.int + 1);
  unregisterLive(b);
  unregisterLive(b);
  t.is(liveCount(), 0);
  t.deepEqual(
    { int: process.listenerCount('SIGINT'), term: process.listenerCount('SIGTERM'), exit: process.listenerCount('exit') },
    before,
  );
});

test.serial('SIGTERM kills every live machine; the process then follows its other handler', (t) => {
  const killed: string[] = [];
  registerLive({ killNow: () => killed.push('a') });
  registerLive({ killNow: () => killed.push('b') });
  // Another handler keeps the process alive, so the handler does not re-raise into a real exit.
  const keep = () => undefined;
  process.on('SIGTERM', keep);
  t.teardown(() => process.off('SIGTERM', keep));
  process.emit('SIGTERM', 'SIGTERM');
  t.deepEqual(killed, ['a', 'b']);
  t.is(liveCount(), 0);
});
