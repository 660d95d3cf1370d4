// Selftest benchmark (prints figures; asserts nothing), on the same prebuilt
// luo-7.3 artifact:
//   - the four staged liveupdate selftests through runKselftests, batched
//     (one boot, one kexec) and with --no-batch (four kexecs, one machine);
//   - a loop of the 7.3 tree's own tools/testing/selftests/liveupdate/vmtest.sh
//     -T <test> for x86_64, one QEMU run per test.
//
// vmtest.sh cannot take a prebuilt kernel: it always writes its own .config
// (its config fragments + olddefconfig) into the build directory and runs
// `make bzImage` and `make headers_install` there. To time the rest of it
// (compiling the test and its nolibc init, the cpio, QEMU with both stages)
// on the very kernel the harness runs, it runs here with a `make` on PATH that
// copies the artifact's bzImage and headers instead of building. A real warm
// build directory adds make's own no-op passes on top of the figure printed.
//
// Usage: node --import tsx scripts/bench-kselftest.ts [recipe=luo-7.3]
import { execa } from 'execa';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildKernel } from '../harness/kernel/pipeline.ts';
import { artifactPath } from '../harness/kernel/artifact.ts';
import { LIVEUPDATE_SELFTEST_DIR } from '../harness/kernel/selftest-build.ts';
import { parseConfigFragment } from '../harness/kselftest/discovery.ts';
import { cacheLayout } from '../harness/paths.ts';
import { runKselftests } from '../harness/kselftest/run.ts';

const recipe = process.argv[2] ?? 'luo-7.3';
const TESTS = ['luo_kexec_simple', 'luo_multi_session', 'luo_stress_sessions', 'luo_stress_files'];
const kernel = await buildKernel(recipe, { quiet: true });
const release = kernel.manifest.release;
const scratch = await mkdtemp(join(tmpdir(), 'bench-kselftest-'));
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

// ---- the harness ------------------------------------------------------------
async function harnessRun(batch: boolean) {
  const t0 = performance.now();
  const results = await runKselftests({ kernel, tests: TESTS, batch, resultsDir: join(scratch, batch ? 'batched' : 'unbatched') });
  return { wallMs: performance.now() - t0, results };
}
const batched = await harnessRun(true);
const unbatched = await harnessRun(false);

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

const vmtestRuns: { test: string; wallMs: number; passed: boolean; tail: string }[] = [];
const vmtestStart = performance.now();
for (const test of TESTS) {
  const t0 = performance.now();
  const r = await execa('bash', [vmtest, '-d', buildDir, '-t', 'x86_64', '-T', test, '-w', join(scratch, `ws-${test}`)], {
    reject: false,
    all: true,
    timeout: 180_000,
    env: { PATH: `${shim}:${process.env.PATH}`, BENCH_BZIMAGE: artifactPath(kernel, 'bzImage'), BENCH_HEADERS: artifactPath(kernel, 'headers') },
  });
  const all = r.all ?? '';
  vmtestRuns.push({ test, wallMs: performance.now() - t0, passed: r.exitCode === 0 && /^ok 1\b/m.test(all), tail: all.trim().split('\n').slice(-3).join(' | ') });
}
const vmtestWallMs = performance.now() - vmtestStart;

// ---- figures ----------------------------------------------------------------
const line = (s: string) => process.stdout.write(s + '\n');
line(`kselftest benchmark on ${recipe} (${release}, artifact ${kernel.manifest.key}), TCG, ${TESTS.length} staged tests`);
line('');
const summary = (name: string, run: typeof batched) => {
  const passed = run.results.filter((r) => r.status === 'pass').length;
  const kexecs = new Set(run.results.flatMap((r) => r.iterations.map((i) => JSON.stringify(i.blackout)))).size;
  const blackouts = run.results.flatMap((r) => r.iterations.map((i) => i.blackout?.totalMs ?? 0));
  line(`harness ${name.padEnd(10)} ${secs(run.wallMs).padStart(8)}  ${passed}/${run.results.length} passed, ${kexecs} kexec(s), blackout ${Math.min(...blackouts).toFixed(0)}-${Math.max(...blackouts).toFixed(0)} ms`);
};
summary('batched', batched);
summary('--no-batch', unbatched);
line(`vmtest.sh loop     ${secs(vmtestWallMs).padStart(8)}  ${vmtestRuns.filter((r) => r.passed).length}/${vmtestRuns.length} passed (make replaced by the prebuilt artifact)`);
for (const r of vmtestRuns) line(`  vmtest.sh -T ${r.test.padEnd(20)} ${secs(r.wallMs).padStart(7)}  ${r.passed ? 'PASS' : `FAIL: ${r.tail}`}`);
line('');
line(`speed-up of the batched harness over the vmtest.sh loop: ${(vmtestWallMs / batched.wallMs).toFixed(2)}x`);
if (lacking.length) line(`note: the artifact lacks ${lacking.join(', ')} from vmtest.sh's config fragments (debug options; vmtest would build them in)`);
await rm(scratch, { recursive: true, force: true });
