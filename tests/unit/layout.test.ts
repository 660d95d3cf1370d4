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

// A relative import in either quote style, static or dynamic.
const IMPORT = /(?:from|import)\s*\(?\s*(['"])(\.[^'"]+\.ts)\1/g;

test('the import pattern sees both quote styles, static and dynamic imports', (t) => {
  const seen = [...`import { a } from '../x/a.ts';\nimport { b } from "../y/b.ts";\nawait import("./c.ts");\nimport('./d.ts')`.matchAll(IMPORT)].map((m) => m[2]);
  t.deepEqual(seen, ['../x/a.ts', '../y/b.ts', './c.ts', './d.ts']);
});

test('no import goes from a lower room to a higher one, or sideways between rooms of one rank', (t) => {
  const wrong: string[] = [];
  for (const file of files(harness)) {
    const from = roomOf(file);
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const target = resolve(dirname(file), m[2]!);
      const to = roomOf(target);
      if (to === 'root' || to === from) continue;
      if (from === 'root' || ROOMS[to] >= ROOMS[from]) wrong.push(`${relative(repoRoot, file)} (${from}) imports ${relative(repoRoot, target)} (${to})`);
    }
  }
  t.deepEqual(wrong, []);
});
