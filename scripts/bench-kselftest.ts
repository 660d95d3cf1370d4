// The harness against the kernel's own runner (prints figures, and exits 1
// when any sample did not pass: a flaky sample never hides in a median), on
// the same prebuilt artifact, each side a process started from the shell, n
// samples each (medians):
//   - `luo-harness run` of memfd-basic with a 4 KiB memfd against
//     `vmtest.sh -T luo_kexec_simple` (one boot, one kexec each);
//   - `luo-harness kselftest` of the four staged selftests, batched (one boot,
//     one kexec) and --no-batch, against a loop of vmtest.sh -T <test>.
//
// vmtest.sh cannot take a prebuilt kernel: it always writes its own .config
// (its config fragments + olddefconfig) into the build directory and runs
// `make bzImage` and `make headers_install` there. To time the rest of it
// (compiling the test and its nolibc init, the cpio, QEMU with both stages)
// on the very kernel the harness runs, it runs here with a `make` on PATH that
// copies the artifact's bzImage and headers instead of building. A real warm
// build directory adds make's own no-op passes on top: they are timed apart,
// on a copy of the harness's build directory of the kernel, and added.
//
// Usage: node --import tsx scripts/bench-kselftest.ts [recipe=luo-7.3] [n=3]
import { execa } from 'execa';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildKernel } from '../harness/kernel/pipeline.ts';
import { artifactPath } from '../harness/kernel/artifact.ts';
import { LIVEUPDATE_SELFTEST_DIR } from '../harness/kernel/selftest-build.ts';
import { parseConfigFragment } from '../harness/kselftest/discovery.ts';
import { cacheLayout } from '../harness/paths.ts';
import { median } from '../harness/report/stats.ts';

const recipe = process.argv[2] ?? 'luo-7.3';
const n = Number(process.argv[3] ?? 3);
const TESTS = ['luo_kexec_simple', 'luo_multi_session', 'luo_stress_sessions', 'luo_stress_files'];
const kernel = await buildKernel(recipe, { quiet: true });
const release = kernel.manifest.release;
const scratch = await mkdtemp(join(tmpdir(), 'bench-kselftest-'));
const cli = fileURLToPath(new URL('../bin/luo-harness.js', import.meta.url));
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const log = (s: string) => process.stderr.write(`[bench] ${s}\n`);

interface Sample { wallMs: number; ok: boolean; tail: string }
/** One process, timed from spawn to exit. */
async function timed(file: string, args: string[], env: Record<string, string> = {}, mustPrint?: RegExp): Promise<Sample> {
  const t0 = performance.now();
  const r = await execa(file, args, { reject: false, all: true, timeout: 300_000, env });
  const wallMs = performance.now() - t0;
  const all = r.all ?? '';
  return { wallMs, ok: r.exitCode === 0 && (!mustPrint || mustPrint.test(all)), tail: all.trim().split('\n').slice(-3).join(' | ') };
}
const medianOf = (xs: Sample[]) => median(xs.map((x) => x.wallMs));
const okAll = (xs: Sample[]) => xs.every((x) => x.ok);

// ---- the harness ------------------------------------------------------------
const suite = join(scratch, 'memfd-4k.json');
await writeFile(suite, JSON.stringify({ description: 'bench: memfd-basic with a 4 KiB memfd', kernel: kernel.manifest.key, scenarios: [{ name: 'memfd-basic', params: { size: '4K' } }] }));
const harness = {
  memfd: [] as Sample[],
  batched: [] as Sample[],
  unbatched: [] as Sample[],
};
for (let i = 0; i < n; i++) {
  log(`harness sample ${i + 1}/${n}`);
  harness.memfd.push(await timed('node', [cli, 'run', '--suite', suite, '--out', join(scratch, `run-${i}`)]));
  harness.batched.push(await timed('node', [cli, 'kselftest', '--kernel', kernel.manifest.key, '--tests', TESTS.join(','), '--out', join(scratch, `ks-${i}`)]));
  harness.unbatched.push(await timed('node', [cli, 'kselftest', '--kernel', kernel.manifest.key, '--tests', TESTS.join(','), '--no-batch', '--out', join(scratch, `ksn-${i}`)]));
}

// ---- vmtest.sh ----------------------------------------------------------------
const sources = cacheLayout().sources;
const major = /^\d+\.\d+/.exec(release)![0];
const treeName = (await readdir(sources)).find((d) => d.startsWith(`debian-linux-source-${major}-`));
if (!treeName) throw new Error(`no linux-source-${major} tree under the cache's sources/; build ${recipe} first`);
const tree = join(sources, treeName);
const testDir = join(tree, LIVEUPDATE_SELFTEST_DIR);
const vmtest = join(testDir, 'vmtest.sh');

// The options of vmtest's config fragments the artifact lacks (vmtest would build them in).
const wanted = parseConfigFragment(
  (await Promise.all(['config', 'config.x86_64'].map((f) => readFile(join(testDir, f), 'utf8').catch(() => '')))).join('\n'),
);
const have = parseConfigFragment(await readFile(artifactPath(kernel, 'config'), 'utf8'));
const lacking = Object.entries(wanted).filter(([k, v]) => v !== 'n' && have[k] !== v).map(([k, v]) => `CONFIG_${k}=${v}`);

const shim = join(scratch, 'shim');
const buildDir = join(scratch, 'vmtest-build');
await mkdir(shim, { recursive: true });
await mkdir(join(buildDir, 'usr'), { recursive: true });
await writeFile(
  join(shim, 'make'),
  `#!/bin/bash
# Stands in for make in vmtest.sh: hands over the prebuilt artifact instead of building.
goal=; out=; hdr=
for a in "$@"; do
  case "$a" in
    O=*) out="\${a#O=}" ;;
    INSTALL_HDR_PATH=*) hdr="\${a#INSTALL_HDR_PATH=}" ;;
    olddefconfig|bzImage|headers_install) goal="$a" ;;
  esac
done
case "$goal" in
  olddefconfig) exit 0 ;;
  bzImage) mkdir -p "$out/arch/x86/boot" && cp "$BENCH_BZIMAGE" "$out/arch/x86/boot/bzImage" ;;
  headers_install) mkdir -p "$hdr" && cp -r "$BENCH_HEADERS/." "$hdr/" ;;
  *) echo "bench make shim: unexpected make $*" >&2; exit 2 ;;
esac
`,
);
await chmod(join(shim, 'make'), 0o755);
// vmtest.sh packs its initrd with the build directory's usr/gen_init_cpio.
await execa('gcc', ['-O2', '-o', join(buildDir, 'usr', 'gen_init_cpio'), join(tree, 'usr', 'gen_init_cpio.c')]);

const vmtestEnv = { PATH: `${shim}:${process.env.PATH}`, BENCH_BZIMAGE: artifactPath(kernel, 'bzImage'), BENCH_HEADERS: artifactPath(kernel, 'headers') };
const vmtestOne = (test: string, i: number) => timed('bash', [vmtest, '-d', buildDir, '-t', 'x86_64', '-T', test, '-w', join(scratch, `ws-${test}-${i}`)], vmtestEnv, /^ok 1\b/m);
const vmtestSimple: Sample[] = [];
const vmtestLoop: Sample[] = [];
const vmtestPerTest: Record<string, Sample[]> = {};
for (let i = 0; i < n; i++) {
  log(`vmtest.sh sample ${i + 1}/${n}`);
  vmtestSimple.push(await vmtestOne('luo_kexec_simple', i));
  const t0 = performance.now();
  let ok = true;
  for (const test of TESTS) {
    const r = await vmtestOne(test, i);
    (vmtestPerTest[test] ??= []).push(r);
    ok &&= r.ok;
  }
  vmtestLoop.push({ wallMs: performance.now() - t0, ok, tail: '' });
}

// ---- what a real warm build directory adds -------------------------------------
// vmtest.sh's three make passes (olddefconfig, bzImage, headers_install) on a
// copy of the harness's warm build directory of this very kernel: all no-ops.
// A real vmtest.sh build directory holds vmtest's own config (its fragments on
// olddefconfig, a larger kernel than the artifact), so this is a lower bound
// of what every vmtest.sh run pays on top of the figures above.
const warmDir = join(scratch, 'warm-build');
await execa('cp', ['-a', join(cacheLayout().build, kernel.manifest.recipe), warmDir]);
const makeNoop: Sample[] = [];
// One untimed round first: whatever the directory last built, the timed rounds are no-ops.
for (let i = -1; i < n; i++) {
  log(i < 0 ? 'make: one untimed round' : `make no-op sample ${i + 1}/${n}`);
  const t0 = performance.now();
  let ok = true;
  for (const goal of [['olddefconfig'], ['-j2', 'bzImage'], ['headers_install', `INSTALL_HDR_PATH=${join(scratch, 'warm-headers')}`]]) {
    const r = await execa('make', ['-s', '-C', tree, `O=${warmDir}`, ...goal], { reject: false, all: true });
    ok &&= r.exitCode === 0;
  }
  if (i >= 0) makeNoop.push({ wallMs: performance.now() - t0, ok, tail: '' });
}

// ---- figures ----------------------------------------------------------------
const line = (s: string) => process.stdout.write(s + '\n');
const row = (name: string, xs: Sample[]) => line(`  ${name.padEnd(44)} ${secs(medianOf(xs)).padStart(8)}  [${xs.map((x) => (x.wallMs / 1000).toFixed(2)).join(' ')}]${okAll(xs) ? '' : `  NOT ALL PASSED: ${xs.find((x) => !x.ok)!.tail}`}`);
line(`harness vs vmtest.sh on ${recipe} (${release}, artifact ${kernel.manifest.key}), TCG, n=${n} each, wall from spawn to exit, median [samples]`);
line('');
row('luo-harness run memfd-basic (4 KiB memfd)', harness.memfd);
row('vmtest.sh -T luo_kexec_simple', vmtestSimple);
row(`luo-harness kselftest, ${TESTS.length} staged tests batched`, harness.batched);
row(`luo-harness kselftest, ${TESTS.length} staged tests --no-batch`, harness.unbatched);
row(`vmtest.sh loop over the ${TESTS.length} tests`, vmtestLoop);
for (const t of TESTS) row(`  vmtest.sh -T ${t}`, vmtestPerTest[t]!);
row("vmtest.sh's make passes, warm build dir (no-ops)", makeNoop);
line('');
line(`memfd-basic 4 KiB / vmtest.sh luo_kexec_simple: ${(medianOf(harness.memfd) / medianOf(vmtestSimple)).toFixed(2)}x (target <= 0.8x)`);
line(`vmtest.sh loop / batched kselftest:             ${(medianOf(vmtestLoop) / medianOf(harness.batched)).toFixed(2)}x faster (target >= 4x)`);
line(`vmtest.sh loop / --no-batch kselftest:          ${(medianOf(vmtestLoop) / medianOf(harness.unbatched)).toFixed(2)}x faster`);
const noop = medianOf(makeNoop);
line(`with a real warm build directory (+${secs(noop)} of make per vmtest.sh run, at least):`);
line(`  memfd-basic 4 KiB / vmtest.sh luo_kexec_simple: ${(medianOf(harness.memfd) / (medianOf(vmtestSimple) + noop)).toFixed(2)}x`);
line(`  vmtest.sh loop / batched kselftest:             ${((medianOf(vmtestLoop) + TESTS.length * noop) / medianOf(harness.batched)).toFixed(2)}x faster`);
if (lacking.length) line(`note: the artifact lacks ${lacking.join(', ')} from vmtest.sh's config fragments (debug options; vmtest would build them in)`);
await rm(scratch, { recursive: true, force: true });
// A flaky sample must never hide inside a median: any sample that did not pass fails the benchmark.
const failed = [...Object.entries({ 'memfd-basic': harness.memfd, 'vmtest.sh luo_kexec_simple': vmtestSimple, 'kselftest batched': harness.batched, 'kselftest --no-batch': harness.unbatched, 'vmtest.sh loop': vmtestLoop, 'make no-ops': makeNoop })].flatMap(([name, xs]) =>
  xs.map((x, i) => ({ name, i, x })).filter(({ x }) => !x.ok),
);
if (failed.length > 0) {
  for (const { name, i, x } of failed) process.stderr.write(`bench-kselftest: ${name} sample ${i + 1} did not pass${x.tail ? `: ${x.tail}` : ''}\n`);
  process.exitCode = 1;
}
