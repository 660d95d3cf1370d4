// The house's one rule: a room imports only rooms below it (harness/rooms.ts).
import test from 'ava';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { repoRoot } from '../../harness/paths.ts';
import { ROOMS, type Room } from '../../harness/rooms.ts';

const harness = join(repoRoot, 'harness');
const files = (dir: string): string[] => readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? files(join(dir, f)) : f.endsWith('.ts') ? [join(dir, f)] : []));
const roomOf = (file: string): Room | 'root' => {
  const first = relative(harness, file).split('/')[0]!;
  return first.endsWith('.ts') ? 'root' : (first as Room);
};

test('every folder of harness/ is a room with a rank and a README saying what it holds and may import', (t) => {
  const folders = readdirSync(harness).filter((f) => statSync(join(harness, f)).isDirectory());
  for (const f of folders) {
    t.true(f in ROOMS, `harness/${f} is not in harness/rooms.ts`);
    t.notThrows(() => readFileSync(join(harness, f, 'README.md')), `harness/${f}/README.md`);
  }
});

test('no import goes from a lower room to a higher one, or sideways between rooms of one rank', (t) => {
  const wrong: string[] = [];
  for (const file of files(harness)) {
    const from = roomOf(file);
    for (const m of readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+\.ts)'/g)) {
      const target = resolve(dirname(file), m[1]!);
      const to = roomOf(target);
      if (to === 'root' || to === from) continue;
      if (from === 'root' || ROOMS[to] >= ROOMS[from]) wrong.push(`${relative(repoRoot, file)} (${from}) imports ${relative(repoRoot, target)} (${to})`);
    }
  }
  t.deepEqual(wrong, []);
});
