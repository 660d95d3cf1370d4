// The scripts of a setup kexec on a remote host, as text (they are never run
// here: they would kexec this machine). They must parse in busybox sh and
// dash, keep the command line one argument, and stop the agent first.
import test from 'ava';
import { execa } from 'execa';
import { execScript, loadScript } from '../../../harness/target/hop.ts';

const cmdline = "console=ttyS1,115200n8 panic=-1 ip=198.51.100.7::198.51.100.1:255.255.255.0:lab::off luo_harness.net=kernel liveupdate=on luo_agent.note='it''s'";

test('load: the agent stopped (its sessions with it), then kexec -s -l with the whole command line as one argument', async (t) => {
  const s = loadScript('/tmp/luo-harness-hop/kernel', '/tmp/luo-harness-hop/initrd', cmdline);
  const lines = s.split('\n');
  t.regex(lines[0]!, /pidof luo-agent.*kill/);
  t.regex(lines.at(-1)!, /^kexec -s -l \/tmp\/luo-harness-hop\/kernel --initrd=\/tmp\/luo-harness-hop\/initrd --command-line='console=ttyS1/);
  // The shell hands kexec exactly the line we built.
  const echoed = await execa('sh', ['-c', s.split('\n').at(-1)!.replace(/^kexec /, 'printf "%s\\n" ')]);
  t.deepEqual(echoed.stdout.split('\n'), ['-s', '-l', '/tmp/luo-harness-hop/kernel', '--initrd=/tmp/luo-harness-hop/initrd', `--command-line=${cmdline}`]);
  t.false(loadScript('/k', undefined, 'x').includes('--initrd'), 'a kernel without initrd');
});

test('exec: detached, after the SSH command returned; systemd hosts shut down cleanly first', async (t) => {
  t.regex(execScript(true), /^setsid sh -c 'sleep 0\.5; sync; systemctl kexec \|\| kexec -e' <\/dev\/null >\/dev\/null 2>&1 &$/);
  t.regex(execScript(false), /'sleep 0\.5; sync; kexec -e'/);
  for (const script of [loadScript('/k', '/i', cmdline), execScript(true)]) {
    for (const sh of ['busybox', 'sh']) {
      const r = await execa(sh, [...(sh === 'busybox' ? ['sh'] : []), '-n', '-c', script], { reject: false });
      t.is(r.exitCode, 0, r.stderr);
    }
  }
});
