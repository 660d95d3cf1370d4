// report.html for real: the `report` command writes it from a results
// directory, headless Chromium renders it, and the screenshot must show a
// page (not a blank or an error page) with the verdict banner and the charts.
import test from 'ava';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { inflateSync } from 'node:zlib';
import { execa } from 'execa';
import { reportCommand } from '../../harness/cli/report.ts';
import { writeReportFiles } from '../../harness/report/output.ts';
import { formatMetricsRows, metricsRows } from '../../harness/report/history.ts';
import { historyRuns, run } from '../unit/report/synthetic.ts';

const WIDTH = 1280;
const HEIGHT = 2000;

/** $CHROMIUM, else the first Chromium-like browser on PATH. */
function findChromium(): string | undefined {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const name of ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable']) {
    for (const d of dirs) if (existsSync(join(d, name))) return join(d, name);
  }
  return undefined;
}

const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

async function screenshot(browser: string, page: string, png: string): Promise<void> {
  const profile = await mkdtemp(join(tmpdir(), 'luo-chromium-'));
  const args = [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`, `--screenshot=${png}`, `--window-size=${WIDTH},${HEIGHT}`, pathToFileURL(page).href];
  try {
    await execa(browser, args, { timeout: 90_000, forceKillAfterDelay: 2000, stdin: 'ignore' });
  } finally {
    // A fresh profile is a few MiB; nothing in it is worth keeping.
    await rm(profile, { recursive: true, force: true });
  }
}

interface Image {
  width: number;
  height: number;
  /** RGB triplets, row-major. */
  rgb: Uint8Array;
}

/** Just enough PNG decoding for a browser screenshot: 8-bit RGB or RGBA, not interlaced. */
function decodePng(buf: Buffer): Image {
  if (!buf.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) throw new Error('not a PNG');
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  for (let off = 8; off < buf.length; ) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString('latin1', off + 4, off + 8);
    const data = buf.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      const [depth, colorType, , , interlace] = data.subarray(8, 13);
      if (depth !== 8 || interlace !== 0 || (colorType !== 2 && colorType !== 6)) throw new Error(`unsupported PNG: depth ${depth}, colour type ${colorType}, interlace ${interlace}`);
      channels = colorType === 6 ? 4 : 3;
    } else if (type === 'IDAT') idat.push(data);
    off += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const px = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? px[y * stride + i - channels]! : 0;
      const b = y > 0 ? px[(y - 1) * stride + i]! : 0;
      const c = y > 0 && i >= channels ? px[(y - 1) * stride + i - channels]! : 0;
      const p = a + b - c;
      const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
      const pred = [0, a, b, (a + b) >> 1, pa <= pb && pa <= pc ? a : pb <= pc ? b : c][filter];
      if (pred === undefined) throw new Error(`bad PNG filter ${filter} on row ${y}`);
      px[y * stride + i] = (line[i]! + pred) & 0xff;
    }
  }
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) rgb.set(px.subarray(i * channels, i * channels + 3), i * 3);
  return { width, height, rgb };
}

/** Pixels within a small distance of `hex` (anti-aliasing and colour management shift edges a little). */
function countColour(img: Image, hex: string): number {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) as [number, number, number];
  let n = 0;
  for (let i = 0; i < img.rgb.length; i += 3) {
    if (Math.abs(img.rgb[i]! - r) + Math.abs(img.rgb[i + 1]! - g) + Math.abs(img.rgb[i + 2]! - b) <= 12) n++;
  }
  return n;
}

function distinctColours(img: Image): number {
  const seen = new Set<number>();
  for (let i = 0; i < img.rgb.length; i += 3) seen.add((img.rgb[i]! << 16) | (img.rgb[i + 1]! << 8) | img.rgb[i + 2]!);
  return seen.size;
}

const chromium = findChromium();

if (!chromium) {
  test.skip('report.html renders in headless Chromium — SKIPPED: no chromium on PATH (install Debian package chromium, or set $CHROMIUM)', () => {});
} else {
  test('report.html renders in headless Chromium with its banner and charts', async (t) => {
    const root = await mkdtemp(join(tmpdir(), 'luo-report-render-'));
    const dir = join(root, 'results');
    await writeReportFiles(dir, run());
    const history = join(root, 'metrics.jsonl');
    await writeFile(history, formatMetricsRows([...historyRuns(6), run()].flatMap(metricsRows)));
    const printed: string[] = [];
    t.is(await reportCommand([dir, '--history', history], (s) => printed.push(s)), 0);
    const page = join(dir, 'report.html');
    t.deepEqual(printed, [page]);

    const empty = join(root, 'empty.html');
    await writeFile(empty, '<!DOCTYPE html><html><head><meta charset="utf-8"><title>empty</title></head><body></body></html>\n');
    const [shot, blank] = [join(root, 'report.png'), join(root, 'empty.png')];
    await screenshot(chromium, page, shot);
    await screenshot(chromium, empty, blank);
    t.log(`screenshot: ${shot}`);

    const png = await readFile(shot);
    const blankPng = await readFile(blank);
    // IHDR right after the signature: the window size we asked for.
    t.is(png.toString('latin1', 12, 16), 'IHDR');
    t.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [WIDTH, HEIGHT]);
    t.true(png.length > 5 * blankPng.length, `report ${png.length} B vs empty page ${blankPng.length} B`);

    const img = decodePng(png);
    const none = decodePng(blankPng);
    t.is(distinctColours(none), 1, 'the empty page is one colour: the decoder and the comparison are sound');
    const colours = distinctColours(img);
    // The failed run's red verdict banner (about 1040 x 50 px) near the top.
    const bannerRed = countColour({ ...img, rgb: img.rgb.subarray(0, WIDTH * 300 * 3) }, '#cf222e');
    // The stacked phase bars: kernel-boot (green) dominates every bar; purgatory (orange) is thin but present.
    const [green, orange] = [countColour(img, '#009E73'), countColour(img, '#E69F00')];
    t.log(`${colours} distinct colours; pixels: banner red ${bannerRed}, kernel-boot green ${green}, purgatory orange ${orange}`);
    t.true(colours > 200);
    t.true(bannerRed > 30_000);
    t.true(green > 20_000);
    t.true(orange > 2_000);
  });
}
