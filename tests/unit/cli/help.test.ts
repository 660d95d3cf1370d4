import test from 'ava';
import { execa } from 'execa';
import { join } from 'node:path';
import { COMMANDS } from '../../../harness/cli/main.ts';
import type { Command } from '../../../harness/cli/command.ts';

const bin = join(import.meta.dirname, '..', '..', '..', 'bin', 'luo-harness.js');

/** Every command and subcommand as the words that call it, with what declares it. */
async function everyCommand(): Promise<{ words: string[]; command: Command }[]> {
  const all: { words: string[]; command: Command }[] = [];
  for (const [name, entry] of Object.entries(COMMANDS)) {
    const command = await entry.load();
    all.push({ words: [name], command });
    for (const [sub, c] of Object.entries(command.subs ?? {})) all.push({ words: [name, sub], command: c });
  }
  return all;
}

/** The options a help names, leaving out those of other commands it quotes (`luo-harness run --shard i/n`). */
const flagsIn = (text: string) => new Set([...text.replace(/`luo-harness [^`]*`/g, '').matchAll(/(?<![\w-])--([a-z][a-z0-9-]*)/g)].map((m) => m[1]!));

test('every command and subcommand answers --help and -h with its usage, exit 0, through the real CLI', async (t) => {
  const all = await everyCommand();
  t.true(all.length >= Object.keys(COMMANDS).length + 8, 'the subcommands of kernel, baseline and report are listed too');
  await Promise.all(
    all.flatMap(({ words }) =>
      ['--help', '-h'].map(async (flag) => {
        const r = await execa('node', [bin, ...words, flag], { reject: false, stdin: 'ignore' });
        t.is(r.exitCode, 0, `luo-harness ${words.join(' ')} ${flag}: ${r.stderr}`);
        t.true(r.stdout.startsWith(`usage: luo-harness ${words[0]}`), `luo-harness ${words.join(' ')} ${flag} prints its usage`);
        t.is(r.stderr, '', `luo-harness ${words.join(' ')} ${flag} says nothing on stderr`);
      }),
    ),
  );
});

test("every option a command declares is in its help, and its help names no option it doesn't take", async (t) => {
  const all = await everyCommand();
  for (const { words, command } of all) {
    const what = `luo-harness ${words.join(' ')}`;
    const inHelp = flagsIn(command.help);
    t.deepEqual(Object.keys(command.options).filter((o) => !inHelp.has(o)), [], `${what} takes options its help does not name`);
    // A subcommand shares its command's help: what that help names, one of them takes.
    const sharing = new Set(all.filter((c) => c.command.help === command.help).flatMap((c) => Object.keys(c.command.options)));
    t.deepEqual([...inHelp].filter((o) => o !== 'help' && !sharing.has(o)), [], `${what}'s help names options it does not take`);
  }
});

test('a command without arguments where it needs a subcommand prints its usage and exits 2; an unknown option is named', async (t) => {
  const bare = await execa('node', [bin, 'kernel'], { reject: false, stdin: 'ignore' });
  t.is(bare.exitCode, 2);
  t.true(bare.stdout.startsWith('usage: luo-harness kernel'));
  const unknown = await execa('node', [bin, 'doctor', '--frobnicate'], { reject: false, stdin: 'ignore' });
  t.is(unknown.exitCode, 2);
  t.regex(unknown.stderr, /luo-harness doctor: .*'--frobnicate'/);
});
