// The agent's own failures, each made to happen on the host and seen
// reported with its call and errno: the real agent (images/agent), built as
// the harness builds it, runs here as a daemon on a socket of its own, with
// the kernel command line it reads its switches from given by
// LUO_AGENT_CMDLINE (luo_agent.fault=, luo_agent.slots=; images/agent/README.md).
// The agent compiles only against a kernel's uapi headers (liveupdate.h,
// iommufd.h), so this takes those of a kernel already built; with none in the
// cache every test here is skipped, saying so. What needs /dev/liveupdate is
// in tests/e2e/agent-failures.test.ts.
import test from 'ava';
import { execa } from 'execa';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { agentBinaryFor } from '../../../harness/image/agent-binary.ts';
import { lookupName, listArtifacts } from '../../../harness/kernel/store.ts';
import { cacheLayout, cacheRoot } from '../../../harness/paths.ts';
import { scratchDir } from '../../helpers/scratch.ts';

// Whether any built kernel has the headers, known before any test is declared (ava wants them synchronously).
const kernels = cacheLayout(cacheRoot()).kernels;
const haveHeaders = existsSync(kernels) && readdirSync(kernels).some((k) => existsSync(join(kernels, k, 'headers', 'include', 'linux', 'liveupdate.h')));
const run = haveHeaders ? test.serial : (title: string) => test.skip(`${title} — SKIPPED: no kernel with LUO's uapi headers in the cache (npx luo-harness kernel build luo-7.2)`, () => {});

let agent: string;
test.before(async () => {
  if (!haveHeaders) return;
  const cache = cacheRoot();
  const artifact = (await lookupName(cache, 'luo-7.2')) ?? (await listArtifacts(cache)).find((a) => existsSync(join(a.dir, 'headers', 'include', 'linux', 'liveupdate.h')));
  agent = await agentBinaryFor(artifact!);
});

interface Place {
  dir: string;
  env: Record<string, string>;
  console: () => string;
}

/** A socket, a console file and a command line of their own: no guest, nothing shared with another daemon. */
function place(cmdline: string): Place {
  const dir = scratchDir('agent-failures-');
  const consolePath = join(dir, 'console');
  writeFileSync(consolePath, '');
  return {
    dir,
    env: { LUO_AGENT_SOCK: join(dir, 'sock'), LUO_AGENT_CONSOLE: consolePath, LUO_AGENT_CMDLINE: cmdline },
    console: () => readFileSync(consolePath, 'utf8'),
  };
}

/** A daemon in the foreground, ready once its socket answers; killed by its pid when the test ends. */
async function daemon(t: { teardown: (f: () => void) => void }, p: Place): Promise<void> {
  const child = execa(agent, ['daemon', '--foreground'], { env: p.env, reject: false });
  t.teardown(() => child.kill('SIGKILL'));
  for (let i = 0; i < 200 && !/agent-ready /.test(p.console()); i++) await new Promise((r) => setTimeout(r, 25));
  if (!/agent-ready /.test(p.console())) throw new Error(`the daemon did not come up:\n${p.console()}`);
  // Not returned: the child is a thenable, and an async function would wait for the daemon to exit.
}

/** One verb through the agent's CLI: its JSON reply. */
async function call(p: Place, verb: string, ...args: string[]) {
  const r = await execa(agent, [verb, ...args], { env: p.env, reject: false });
  return JSON.parse(r.stdout) as { ok: boolean; error?: { op: string; errno: number; errno_name: string; message: string; fd: number | null } } & Record<string, unknown>;
}

run('a failed pipe() or fork() at the daemon\'s start: exit 1 with the call and errno on stderr, not silence', async (t) => {
  for (const [fault, sentence] of [
    ['pipe:EMFILE', 'luo-agent daemon: pipe failed with EMFILE (24): the pipe the daemon says it is ready on: Too many open files'],
    ['fork:EAGAIN', "luo-agent daemon: fork failed with EAGAIN (11): the daemon's process: Resource temporarily unavailable"],
  ]) {
    const p = place(`luo_agent.fault=${fault}`);
    const r = await execa(agent, ['daemon'], { env: p.env, reject: false });
    t.is(r.exitCode, 1, fault);
    t.is(r.stderr.trim(), sentence);
    t.regex(p.console(), new RegExp(`agent-error op=${fault.split(':')[0]} errno=\\d+ errno_name=${fault.split(':')[1]}`));
  }
});

run('a failed listen() is named listen, not bind; socket, bind and chmod are named too; a forked daemon hands its reason to its starter', async (t) => {
  for (const [call, errno, n, text] of [
    ['listen', 'EADDRINUSE', 98, 'Address already in use'],
    ['bind', 'EACCES', 13, 'Permission denied'],
    ['socket', 'ENFILE', 23, 'Too many open files in system'],
    ['chmod', 'EPERM', 1, 'Operation not permitted'],
  ] as const) {
    const p = place(`luo_agent.fault=${call}:${errno}`);
    const sentence = `luo-agent daemon: ${call} failed with ${errno} (${n}): ${p.env.LUO_AGENT_SOCK}: ${text}`;
    const forked = await execa(agent, ['daemon'], { env: p.env, reject: false });
    t.is(forked.exitCode, 1, call);
    t.is(forked.stderr.trim(), sentence, 'the forked daemon\'s reason reaches the starter');
    const foreground = await execa(agent, ['daemon', '--foreground'], { env: p.env, reject: false });
    t.is(foreground.exitCode, 1);
    t.is(foreground.stderr.trim(), sentence);
    t.regex(p.console(), new RegExp(`agent-fault call=${call} errno=${n} errno_name=${errno}\\n.*agent-error op=${call} errno=${n} errno_name=${errno}\\n`));
    t.notRegex(p.console(), call === 'listen' ? /op=bind/ : /op=listen/);
  }
});

run('fstat and F_GET_SEALS failures in memfd-verify fail the reply with the call and errno, never size 0 or "seals": null', async (t) => {
  const p = place('luo_agent.restore=off luo_agent.fault=fstat:EIO:1,F_GET_SEALS:EINVAL:1');
  await daemon(t, p);
  t.true((await call(p, 'memfd-create', '--name', 'm', '--size', '8192')).ok);
  const first = await call(p, 'memfd-verify', '--id', 'm');
  t.false(first.ok);
  t.like(first.error, { op: 'fstat', errno: 5, errno_name: 'EIO', message: "fstat memfd 'm': Input/output error" });
  const second = await call(p, 'memfd-verify', '--id', 'm');
  t.like(second.error, { op: 'fcntl(F_GET_SEALS)', errno: 22, errno_name: 'EINVAL', message: "read the seals of memfd 'm': Invalid argument" });
  // Both faults spent: the same verify passes, its seals a number.
  const third = await call(p, 'memfd-verify', '--id', 'm');
  t.true(third.ok);
  t.is(third.seals, 0);
  t.is(third.intact, true);
  t.regex(p.console(), /agent-fault call=fstat errno=5 errno_name=EIO\n.*agent-fault call=F_GET_SEALS errno=22 errno_name=EINVAL\n/);
});

run('fstat failures in memfd-truncate and kexec-load are reported, not taken for size 0', async (t) => {
  const p = place('luo_agent.restore=off luo_agent.fault=fstat:EBADF');
  await daemon(t, p);
  t.true((await call(p, 'memfd-create', '--name', 'm', '--size', '8192')).ok);
  t.like((await call(p, 'memfd-truncate', '--id', 'm', '--size', '4096')).error, {
    op: 'fstat',
    errno_name: 'EBADF',
    message: "fstat memfd 'm' after ftruncate to 4096 bytes: Bad file descriptor; its size is unknown",
  });
  const kernel = join(p.dir, 'console');
  t.like((await call(p, 'kexec-load', '--kernel', kernel, '--cmdline', 'x')).error, {
    op: 'fstat',
    errno_name: 'EBADF',
    message: `fstat kernel ${kernel}: Bad file descriptor`,
  }, 'refused before kexec_file_load is called');
});

run('luo_agent.slots= lowers a table\'s limit, and a full table says which, how large, and why', async (t) => {
  const p = place('luo_agent.restore=off luo_agent.slots=memfds:2');
  await daemon(t, p);
  t.true((await call(p, 'memfd-create', '--name', 'a', '--size', '4096')).ok);
  t.true((await call(p, 'memfd-create', '--name', 'b', '--size', '4096')).ok);
  t.like((await call(p, 'memfd-create', '--name', 'c', '--size', '4096')).error, {
    op: 'lookup',
    errno_name: 'ENOSPC',
    message: "no memfd 'c': the memfd table is full (2 slots: luo_agent.slots=memfds:2; built with 256)",
  });
});

run('a switch the agent cannot read is reported on the console, not ignored; a start without /dev/liveupdate says why nothing was restored', async (t) => {
  const p = place('luo_agent.fault=fstat:ENOTANERRNO luo_agent.slots=pipes:1,memfds:999');
  await daemon(t, p);
  const console = p.console();
  t.regex(console, /agent-error op=luo_agent\.fault errno=22 errno_name=EINVAL item=ENOTANERRNO why=not-an-errno/);
  t.regex(console, /agent-error op=luo_agent\.slots errno=22 errno_name=EINVAL item=pipes:1 why=no-such-table\(sessions,memfds,held\)/);
  t.regex(console, /agent-error op=luo_agent\.slots errno=22 errno_name=EINVAL item=memfds:999 why=limit-not-0\.\.built-in-maximum/);
  if (!existsSync('/dev/liveupdate')) t.regex(console, /agent-restore-skipped op=open errno=2 errno_name=ENOENT/);
});
