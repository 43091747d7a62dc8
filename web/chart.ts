/**
 * Charts drawn as SVG by hand: stacked decision bars over time and horizontal count bars.
 * Each series has its own fill pattern as well as its colour, each bar a <title>, and every
 * chart comes with the same numbers as a table.
 */
import { h, s } from './dom.js';

export interface Bucket {
  start: string;
  Allowed: number;
  Audited: number;
  Denied: number;
}

const SERIES = ['Allowed', 'Audited', 'Denied'] as const;

/** Fills the buckets a store leaves out (no events) so the time axis has no gaps. */
export function fillBuckets(buckets: Bucket[], from: string, to: string, bucket: 'hour' | 'day'): Bucket[] {
  const step = bucket === 'hour' ? 3_600_000 : 86_400_000;
  const byStart = new Map(buckets.map((b) => [Date.parse(b.start), b]));
  const out: Bucket[] = [];
  const first = Math.floor(Date.parse(from) / step) * step;
  for (let t = first; t < Date.parse(to); t += step) {
    out.push(byStart.get(t) ?? { start: new Date(t).toISOString(), Allowed: 0, Audited: 0, Denied: 0 });
  }
  return out;
}

/** A rounded axis maximum: 1, 2, 5 × 10^n. */
export function niceMax(n: number): number {
  if (n <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(n));
  for (const m of [1, 2, 5, 10]) if (m * p >= n) return m * p;
  return 10 * p;
}

function patterns(): SVGElement {
  return s(
    'defs',
    null,
    s(
      'pattern',
      { id: 'p-denied', width: 6, height: 6, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' },
      s('rect', { width: 6, height: 6, class: 'pd-bg' }),
      s('rect', { width: 2, height: 6, class: 'pd-line' }),
    ),
    s(
      'pattern',
      { id: 'p-audited', width: 6, height: 6, patternUnits: 'userSpaceOnUse' },
      s('rect', { width: 6, height: 6, class: 'pa-bg' }),
      s('circle', { cx: 3, cy: 3, r: 1.2, class: 'pa-dot' }),
    ),
  );
}

function label(start: string, bucket: 'hour' | 'day'): string {
  return bucket === 'hour' ? `${start.slice(11, 13)}:00` : start.slice(5, 10);
}

/** Stacked bars of decisions per bucket, with a legend. */
export function decisionChart(buckets: Bucket[], bucket: 'hour' | 'day', title: string): HTMLElement {
  const W = 720;
  const H = 220;
  const left = 40;
  const bottom = 24;
  const plotH = H - bottom - 8;
  const max = niceMax(Math.max(0, ...buckets.map((b) => b.Allowed + b.Audited + b.Denied)));
  const bw = (W - left) / Math.max(1, buckets.length);
  const every = Math.ceil(buckets.length / 12);
  const bars = buckets.map((b, i) => {
    let y = H - bottom;
    const x = left + i * bw;
    const rects = SERIES.map((k) => {
      const hgt = (b[k] / max) * plotH;
      y -= hgt;
      return hgt <= 0
        ? null
        : s('rect', { x: x + 1, y, width: Math.max(1, bw - 2), height: hgt, class: `s-${k.toLowerCase()}` });
    });
    const when =
      bucket === 'hour' ? `${b.start.slice(0, 13).replace('T', ' ')}:00 UTC` : b.start.slice(0, 10);
    return s(
      'g',
      null,
      s('title', null, `${when}: ${b.Allowed} allowed, ${b.Audited} audited, ${b.Denied} denied`),
      rects,
      i % every === 0
        ? s('text', { x: x + bw / 2, y: H - 8, 'text-anchor': 'middle' }, label(b.start, bucket))
        : null,
    );
  });
  const svg = s(
    'svg',
    {
      class: 'chart',
      viewBox: `0 0 ${W} ${H}`,
      role: 'img',
      'aria-label': `${title} (the numbers are in the table below)`,
    },
    patterns(),
    s('line', { x1: left, x2: W, y1: H - bottom, y2: H - bottom, class: 'axis' }),
    s('line', { x1: left, x2: left, y1: 4, y2: H - bottom, class: 'axis' }),
    s('text', { x: left - 4, y: 12, 'text-anchor': 'end' }, String(max)),
    s('text', { x: left - 4, y: H - bottom, 'text-anchor': 'end' }, '0'),
    bars,
  );
  const legend = h(
    'ul',
    { class: 'legend', 'aria-label': 'Legend' },
    SERIES.map((k) =>
      h(
        'li',
        null,
        s(
          'svg',
          { width: 14, height: 14, 'aria-hidden': 'true' },
          s('rect', { width: 14, height: 14, class: `s-${k.toLowerCase()}` }),
        ),
        k,
      ),
    ),
  );
  return h('figure', null, svg, legend);
}

/** A ranked list of names with counts, each with a bar proportional to the first. */
export function countBars(
  entries: { name: string; count: number }[],
  label: string,
  max?: number,
): HTMLElement {
  const top = max ?? Math.max(1, ...entries.map((e) => e.count));
  return h(
    'ol',
    { class: 'bars', 'aria-label': label },
    entries.map((e) =>
      h(
        'li',
        null,
        h('span', null, e.name),
        h('span', null, `${e.count}`),
        s(
          'svg',
          { viewBox: '0 0 100 6', preserveAspectRatio: 'none', 'aria-hidden': 'true' },
          s('rect', { width: (e.count / top) * 100, height: 6 }),
        ),
      ),
    ),
  );
}
