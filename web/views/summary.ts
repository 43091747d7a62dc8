/** Summary: decisions over time, and the images, rules and CVEs behind the most denials. */
import type { TopDenied } from '../../core/services/monitoring.js';
import { api, qs } from '../api.js';
import { type Bucket, countBars, decisionChart, fillBuckets } from '../chart.js';
import { field, h, put, select, table } from '../dom.js';
import { heading, type View } from '../view.js';

const RANGES: Record<string, { label: string; ms: number; bucket: 'hour' | 'day' }> = {
  '24h': { label: 'Last 24 hours', ms: 86_400_000, bucket: 'hour' },
  '7d': { label: 'Last 7 days', ms: 7 * 86_400_000, bucket: 'day' },
  '30d': { label: 'Last 30 days', ms: 30 * 86_400_000, bucket: 'day' },
  '90d': { label: 'Last 90 days', ms: 90 * 86_400_000, bucket: 'day' },
};

interface Summary {
  from: string;
  to: string;
  bucket: 'hour' | 'day';
  totals: { Allowed: number; Audited: number; Denied: number };
  buckets: Bucket[];
}

export const summaryView: View = async (ctx) => {
  const rangeKey = ctx.params.get('range') ?? '24h';
  const range = RANGES[rangeKey] ?? RANGES['24h']!;
  const cluster = ctx.params.get('cluster') ?? undefined;
  const to = new Date().toISOString();
  const from = new Date(Date.now() - range.ms).toISOString();
  const [summary, top] = await Promise.all([
    api<Summary>(`/admissions/summary${qs({ from, to, bucket: range.bucket, cluster })}`),
    api<TopDenied>(`/admissions/top${qs({ from, to, cluster, limit: 10 })}`),
  ]);
  if (!ctx.current()) return undefined;
  const rangeSelect = select(
    'range',
    Object.entries(RANGES).map(([k, r]) => [k, r.label]),
    rangeKey,
  );
  const form = h(
    'form',
    { class: 'filters', 'aria-label': 'Summary period' },
    field('Period', rangeSelect),
    field('Cluster', h('input', { name: 'cluster', value: cluster ?? '' })),
    h('button', { type: 'submit' }, 'Show'),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const q = new URLSearchParams({ range: rangeSelect.value });
    const c = (form.elements.namedItem('cluster') as HTMLInputElement).value.trim();
    if (c !== '') q.set('cluster', c);
    ctx.go(`#/summary?${q}`);
  });
  const buckets = fillBuckets(summary.buckets, summary.from, summary.to, summary.bucket);
  const t = summary.totals;
  const all = t.Allowed + t.Audited + t.Denied;
  const pct = (n: number) => (all === 0 ? '' : ` (${Math.round((n / all) * 100)}%)`);
  const topNote = top.truncated ? ` Counted over the newest ${top.scannedEvents} denied events.` : '';
  put(
    ctx.root,
    heading('Summary'),
    form,
    h(
      'ul',
      { class: 'cards', 'aria-label': 'Decisions in the period' },
      h('li', null, h('strong', null, String(all)), 'admission decisions'),
      h('li', null, h('strong', null, String(t.Denied)), `denied${pct(t.Denied)}`),
      h('li', null, h('strong', null, String(t.Audited)), `audited${pct(t.Audited)}`),
      h('li', null, h('strong', null, String(t.Allowed)), `allowed${pct(t.Allowed)}`),
    ),
    h('h2', null, 'Decisions over time'),
    decisionChart(buckets, summary.bucket, `Decisions per ${summary.bucket}, ${range.label.toLowerCase()}`),
    h(
      'details',
      null,
      h('summary', null, 'Show the numbers as a table'),
      table(
        `Decisions per ${summary.bucket} (UTC)`,
        [summary.bucket === 'hour' ? 'Hour' : 'Day', 'Allowed', 'Audited', 'Denied'],
        buckets
          .filter((b) => b.Allowed + b.Audited + b.Denied > 0)
          .map((b) => [
            summary.bucket === 'hour' ? `${b.start.slice(0, 13).replace('T', ' ')}:00` : b.start.slice(0, 10),
            String(b.Allowed),
            String(b.Audited),
            String(b.Denied),
          ]),
      ),
    ),
    h('h2', null, 'Most denied'),
    h('p', { class: 'muted' }, `Each count is the number of denied admissions it took part in.${topNote}`),
    h(
      'div',
      { class: 'grid' },
      h(
        'section',
        { 'aria-labelledby': 'top-images' },
        h('h3', { id: 'top-images' }, 'Images'),
        top.images.length ? countBars(top.images, 'Most denied images') : h('p', null, 'No denials.'),
      ),
      h(
        'section',
        { 'aria-labelledby': 'top-rules' },
        h('h3', { id: 'top-rules' }, 'Rules'),
        top.rules.length ? countBars(top.rules, 'Rules that denied most') : h('p', null, 'No denials.'),
      ),
      h(
        'section',
        { 'aria-labelledby': 'top-cves' },
        h('h3', { id: 'top-cves' }, 'Vulnerabilities'),
        top.cves.length
          ? countBars(top.cves, 'Vulnerabilities behind most denials')
          : h('p', null, 'No denials.'),
      ),
    ),
  );
  return undefined;
};
