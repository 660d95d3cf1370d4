// Inline SVG charts for the HTML report: plain strings, no library, no script.
// Sizes are in user units; the SVG scales to its container via viewBox.
import { escapeAttr, escapeText } from './xml.ts';

/** Colour-blind-friendly categorical palette (Okabe-Ito, reordered for contrast on white). */
export const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#D55E00', '#CC79A7', '#56B4E9', '#8C6D1F', '#000000'];

export const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';

/** Round tick values covering [min, max]: steps of 1, 2 or 5 times a power of ten. */
export function niceTicks(min: number, max: number, target = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [0, 1];
  if (max === min) max = min + 1;
  const raw = (max - min) / Math.max(1, target);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((f) => f * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let v = Math.floor(min / step) * step; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks.at(-1)! < max) ticks.push(Number((ticks.at(-1)! + step).toPrecision(12)));
  return ticks;
}

const fmtTick = (v: number) => (Math.abs(v) >= 1000 ? v.toLocaleString('en-US') : String(Number(v.toPrecision(4))));
const r1 = (x: number) => Math.round(x * 10) / 10;

function text(x: number, y: number, s: string, extra: Record<string, string | number> = {}): string {
  const a = Object.entries(extra)
    .map(([k, v]) => ` ${k}="${escapeAttr(String(v))}"`)
    .join('');
  return `<text x="${r1(x)}" y="${r1(y)}"${a}>${escapeText(s)}</text>`;
}

function svgOpen(width: number, height: number, title: string): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="100%" role="img" ` +
    `font-family="${escapeAttr(FONT)}" font-size="12" fill="#1f2933">` +
    `<title>${escapeText(title)}</title>`
  );
}

/** A horizontal legend; returns the SVG and the height it used. */
function legend(items: { name: string; color: string; line?: boolean }[], x0: number, y0: number, maxWidth: number): { svg: string; height: number } {
  const parts: string[] = [];
  let x = x0;
  let y = y0;
  for (const it of items) {
    const w = 18 + it.name.length * 7 + 18;
    if (x + w > x0 + maxWidth && x > x0) {
      x = x0;
      y += 18;
    }
    parts.push(
      it.line
        ? `<line x1="${x}" x2="${x + 12}" y1="${y - 3}" y2="${y - 3}" stroke="${it.color}" stroke-width="2.5"/>`
        : `<rect x="${x}" y="${y - 9}" width="12" height="12" rx="2" fill="${it.color}"/>`,
      text(x + 17, y + 1, it.name),
    );
    x += w;
  }
  return { svg: parts.join(''), height: y - y0 + 18 };
}

export interface StackedRow {
  label: string;
  segments: { name: string; value: number }[];
  /** Shown right of the bar, e.g. the total. */
  note?: string;
}

/** A horizontal value axis from 0 to past `max`: grid lines, tick labels and the unit below the plot; `sx` maps a value to x. */
function valueAxis(max: number, tickCount: number, box: { left: number; width: number; top: number; height: number }, unit: string) {
  const ticks = niceTicks(0, max, tickCount);
  const xMax = ticks.at(-1)!;
  const sx = (v: number) => box.left + (v / xMax) * box.width;
  const bottom = box.top + box.height;
  const svg: string[] = [];
  for (const t of ticks) {
    svg.push(`<line x1="${r1(sx(t))}" x2="${r1(sx(t))}" y1="${box.top - 4}" y2="${bottom}" stroke="#e4e7eb"/>`);
    svg.push(text(sx(t), bottom + 16, fmtTick(t), { 'text-anchor': 'middle', fill: '#52606d' }));
  }
  svg.push(text(box.left + box.width / 2, bottom + 36, unit, { 'text-anchor': 'middle', fill: '#52606d' }));
  return { sx, svg };
}

/** Horizontal stacked bars (one row per scenario/iteration), a legend on top and an axis at the bottom. */
export function stackedBarChart(
  rows: StackedRow[],
  opts: { title: string; unit: string; series: string[]; colors?: string[]; width?: number },
): string {
  const width = opts.width ?? 960;
  const colors = opts.colors ?? PALETTE;
  const labelW = Math.min(300, 24 + Math.max(40, ...rows.map((r) => r.label.length * 6.6)));
  const noteW = 70;
  const plotW = width - labelW - noteW - 16;
  const barH = 18;
  const gap = 8;
  const lg = legend(opts.series.map((name, i) => ({ name, color: colors[i % colors.length]! })), labelW, 18, plotW);
  const top = 18 + lg.height + 6;
  const max = Math.max(1, ...rows.map((r) => r.segments.reduce((a, s) => a + Math.max(0, s.value), 0)));
  const plotH = rows.length * (barH + gap);
  const height = top + plotH + 46;
  const axis = valueAxis(max, 6, { left: labelW, width: plotW, top, height: plotH }, opts.unit);
  const sx = axis.sx;
  const out = [svgOpen(width, height, opts.title), lg.svg, ...axis.svg];
  rows.forEach((row, i) => {
    const y = top + i * (barH + gap);
    out.push(text(labelW - 8, y + barH / 2 + 4, row.label, { 'text-anchor': 'end' }));
    let acc = 0;
    row.segments.forEach((seg) => {
      const idx = opts.series.indexOf(seg.name);
      const v = Math.max(0, seg.value);
      if (v <= 0) return;
      const x = sx(acc);
      const w = sx(acc + v) - x;
      out.push(
        `<rect x="${r1(x)}" y="${y}" width="${r1(Math.max(w, 0.5))}" height="${barH}" fill="${colors[(idx < 0 ? 0 : idx) % colors.length]}">` +
          `<title>${escapeText(`${row.label} — ${seg.name}: ${fmtTick(v)} ${opts.unit}`)}</title></rect>`,
      );
      acc += v;
    });
    if (row.note) out.push(text(sx(acc) + 6, y + barH / 2 + 4, row.note, { fill: '#52606d' }));
  });
  out.push(`<line x1="${labelW}" x2="${labelW}" y1="${top - 4}" y2="${top + plotH}" stroke="#9aa5b1"/>`);
  out.push('</svg>');
  return out.join('');
}

export interface Series {
  name: string;
  points: { x: number; y: number; label?: string }[];
  /** Overrides the chart's `lines` / `dots` for this series. */
  lines?: boolean;
  dots?: boolean;
  color?: string;
}

/** Scatter or line chart with labelled axes; `xFormat` renders x ticks (dates, sizes). */
export function xyChart(
  series: Series[],
  opts: {
    title: string;
    xLabel: string;
    yLabel: string;
    lines?: boolean;
    dots?: boolean;
    width?: number;
    height?: number;
    xFormat?: (v: number) => string;
    xTicks?: number[];
    colors?: string[];
  },
): string {
  const width = opts.width ?? 960;
  const colors = opts.colors ?? PALETTE;
  const all = series.flatMap((s) => s.points);
  const left = 70;
  const right = 20;
  const plotW = width - left - right;
  const lg = legend(
    series.map((s, i) => ({ name: s.name, color: s.color ?? colors[i % colors.length]!, line: (s.lines ?? opts.lines ?? false) && !(s.dots ?? opts.dots ?? true) })),
    left,
    18,
    plotW,
  );
  const top = 18 + lg.height + 8;
  const plotH = opts.height ?? 260;
  const height = top + plotH + 52;
  const xs = all.map((p) => p.x);
  const ys = all.map((p) => p.y);
  const xTicks = opts.xTicks ?? niceTicks(Math.min(...xs), Math.max(...xs), 6);
  const yTicks = niceTicks(0, Math.max(1, ...ys), 5);
  const [x0, x1] = [Math.min(xTicks[0]!, ...xs), Math.max(xTicks.at(-1)!, ...xs)];
  const yMax = yTicks.at(-1)!;
  const sx = (v: number) => left + (x1 === x0 ? plotW / 2 : ((v - x0) / (x1 - x0)) * plotW);
  const sy = (v: number) => top + plotH - (v / yMax) * plotH;
  const out = [svgOpen(width, height, opts.title), lg.svg];
  for (const t of yTicks) {
    out.push(`<line x1="${left}" x2="${left + plotW}" y1="${r1(sy(t))}" y2="${r1(sy(t))}" stroke="#e4e7eb"/>`);
    out.push(text(left - 8, sy(t) + 4, fmtTick(t), { 'text-anchor': 'end', fill: '#52606d' }));
  }
  for (const t of xTicks) {
    out.push(`<line x1="${r1(sx(t))}" x2="${r1(sx(t))}" y1="${top + plotH}" y2="${top + plotH + 5}" stroke="#9aa5b1"/>`);
    out.push(text(sx(t), top + plotH + 18, opts.xFormat ? opts.xFormat(t) : fmtTick(t), { 'text-anchor': 'middle', fill: '#52606d' }));
  }
  out.push(`<line x1="${left}" x2="${left + plotW}" y1="${top + plotH}" y2="${top + plotH}" stroke="#9aa5b1"/>`);
  out.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" stroke="#9aa5b1"/>`);
  out.push(text(left + plotW / 2, top + plotH + 42, opts.xLabel, { 'text-anchor': 'middle', fill: '#52606d' }));
  out.push(text(16, top + plotH / 2, opts.yLabel, { 'text-anchor': 'middle', fill: '#52606d', transform: `rotate(-90 16 ${r1(top + plotH / 2)})` }));
  series.forEach((s, i) => {
    const c = s.color ?? colors[i % colors.length]!;
    const pts = [...s.points].sort((a, b) => a.x - b.x);
    if ((s.lines ?? opts.lines) && pts.length > 1) {
      out.push(`<polyline fill="none" stroke="${c}" stroke-width="2" points="${pts.map((p) => `${r1(sx(p.x))},${r1(sy(p.y))}`).join(' ')}"/>`);
    }
    if (s.dots ?? opts.dots ?? true) {
      for (const p of pts) {
        out.push(
          `<circle cx="${r1(sx(p.x))}" cy="${r1(sy(p.y))}" r="3.5" fill="${c}" fill-opacity="0.85" stroke="#fff" stroke-width="1">` +
            `<title>${escapeText(p.label ?? `${s.name}: ${fmtTick(p.y)}`)}</title></circle>`,
        );
      }
    }
  });
  out.push('</svg>');
  return out.join('');
}

/** Two bars per category (run A vs run B), horizontal. */
export function pairedBarChart(
  rows: { label: string; a?: number; b?: number }[],
  opts: { title: string; unit: string; aName: string; bName: string; width?: number },
): string {
  const width = opts.width ?? 960;
  const labelW = Math.min(300, 24 + Math.max(40, ...rows.map((r) => r.label.length * 6.6)));
  const plotW = width - labelW - 90;
  const lg = legend([{ name: opts.aName, color: '#9aa5b1' }, { name: opts.bName, color: PALETTE[0]! }], labelW, 18, plotW);
  const top = 18 + lg.height + 6;
  const barH = 11;
  const rowH = barH * 2 + 10;
  const max = Math.max(1, ...rows.flatMap((r) => [r.a ?? 0, r.b ?? 0]));
  const plotH = rows.length * rowH;
  const axis = valueAxis(max, 6, { left: labelW, width: plotW, top, height: plotH }, opts.unit);
  const sx = axis.sx;
  const out = [svgOpen(width, top + plotH + 46, opts.title), lg.svg, ...axis.svg];
  rows.forEach((row, i) => {
    const y = top + i * rowH;
    out.push(text(labelW - 8, y + barH + 4, row.label, { 'text-anchor': 'end' }));
    for (const [v, dy, color] of [
      [row.a, 0, '#9aa5b1'],
      [row.b, barH + 1, PALETTE[0]!],
    ] as const) {
      if (v === undefined) continue;
      out.push(`<rect x="${labelW}" y="${y + dy}" width="${r1(Math.max(0.5, sx(v) - labelW))}" height="${barH}" fill="${color}"/>`);
      out.push(text(sx(v) + 5, y + dy + barH - 1, `${fmtTick(Number(v.toFixed(1)))}`, { fill: '#52606d', 'font-size': 11 }));
    }
  });
  out.push(`<line x1="${labelW}" x2="${labelW}" y1="${top - 4}" y2="${top + plotH}" stroke="#9aa5b1"/>`);
  out.push('</svg>');
  return out.join('');
}

export interface WaterfallRow {
  label: string;
  kind: string;
  startMs: number;
  ms: number;
}

/** A waterfall: one row per span, a bar from its start for its length, coloured by kind, on one time axis. */
export function waterfallChart(rows: WaterfallRow[], opts: { title: string; kinds: string[]; width?: number }): string {
  const width = opts.width ?? 960;
  const labelW = Math.min(320, 24 + Math.max(40, ...rows.map((r) => r.label.length * 6.4)));
  const noteW = 64;
  const plotW = width - labelW - noteW - 16;
  const barH = 12;
  const gap = 4;
  const lg = legend(opts.kinds.map((name, i) => ({ name, color: PALETTE[i % PALETTE.length]! })), labelW, 18, plotW);
  const top = 18 + lg.height + 6;
  const end = Math.max(1, ...rows.map((r) => r.startMs + r.ms));
  const plotH = rows.length * (barH + gap);
  const height = top + plotH + 46;
  const axis = valueAxis(end, 8, { left: labelW, width: plotW, top, height: plotH }, 'ms from the start of the scenario');
  const sx = axis.sx;
  const out = [svgOpen(width, height, opts.title), lg.svg, ...axis.svg];
  rows.forEach((row, i) => {
    const y = top + i * (barH + gap);
    const color = PALETTE[Math.max(0, opts.kinds.indexOf(row.kind)) % PALETTE.length];
    out.push(text(labelW - 8, y + barH - 2, row.label, { 'text-anchor': 'end', 'font-size': 11 }));
    out.push(
      `<rect x="${r1(sx(row.startMs))}" y="${y}" width="${r1(Math.max(sx(row.startMs + row.ms) - sx(row.startMs), 1))}" height="${barH}" fill="${color}">` +
        `<title>${escapeText(`${row.label}: ${fmtTick(row.ms)} ms, from ${fmtTick(row.startMs)} ms`)}</title></rect>`,
    );
    out.push(text(sx(row.startMs + row.ms) + 5, y + barH - 2, `${fmtTick(Math.round(row.ms))} ms`, { fill: '#52606d', 'font-size': 11 }));
  });
  out.push(`<line x1="${labelW}" x2="${labelW}" y1="${top - 4}" y2="${top + plotH}" stroke="#9aa5b1"/>`);
  out.push('</svg>');
  return out.join('');
}
