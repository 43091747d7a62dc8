/** Images by their newest scan (status and severity counts), and one image's findings. */
import type { ImageScan } from '../../core/domain.js';
import { api, qs } from '../api.js';
import { badge, digest, field, h, notice, put, select, table, time } from '../dom.js';
import { formQuery, heading, type View } from '../view.js';

type ImageSummary = Omit<ImageScan, 'vulnerabilities'>;
const SEVERITY_ORDER: Record<string, number> = { Critical: 0, High: 1, Medium: 2, Low: 3, Negligible: 4 };

export const imagesView: View = async (ctx) => {
  const p = ctx.params;
  const q = {
    registry: p.get('registry') ?? undefined,
    repository: p.get('repository') ?? undefined,
    status: p.get('status') ?? undefined,
  };
  const page = await api<{ items: ImageSummary[]; nextCursor: string | null }>(
    `/images${qs({ ...q, limit: 100, cursor: p.get('cursor') })}`,
  );
  if (!ctx.current()) return undefined;
  const form = h(
    'form',
    { class: 'filters', 'aria-label': 'Filter images' },
    field('Registry', h('input', { name: 'registry', value: q.registry ?? '', placeholder: 'docker.io' })),
    field('Repository', h('input', { name: 'repository', value: q.repository ?? '' })),
    field(
      'Scan status',
      select(
        'status',
        [
          ['', 'Any'],
          ['Scanned', 'Scanned'],
          ['Pending', 'Pending'],
          ['Failed', 'Failed'],
          ['Unsupported', 'Unsupported'],
        ],
        q.status ?? null,
      ),
    ),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'submit' }, 'Apply filters'),
      h('a', { href: '#/images' }, 'Clear filters'),
    ),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    ctx.go(`#/images${formQuery(form)}`);
  });
  const next = new URLSearchParams(p);
  if (page.nextCursor !== null) next.set('cursor', page.nextCursor);
  put(
    ctx.root,
    heading('Images'),
    form,
    page.items.length === 0
      ? h(
          'p',
          null,
          'No scanned images match. Import a report with `portcullis findings import` or sync a registry.',
        )
      : table(
          `${page.items.length} images by their newest scan`,
          ['Image', 'Digest', 'Tags', 'Status', 'Critical', 'High', 'Medium', 'Low', 'Source', 'Scanned'],
          page.items.map((i) => [
            h('a', { href: `#/images/${encodeURIComponent(i.digest)}` }, `${i.registry}/${i.repository}`),
            digest(i.digest),
            i.tags.join(', ') || '—',
            badge(i.status),
            String(i.counts.Critical),
            String(i.counts.High),
            String(i.counts.Medium),
            String(i.counts.Low),
            i.source,
            time(i.scannedAt),
          ]),
          'images-table',
        ),
    page.nextCursor !== null
      ? h('p', null, h('a', { href: `#/images?${next}` }, 'Next page of images'))
      : null,
  );
  return undefined;
};

export const imageDetailView: View = async (ctx) => {
  const back = h('p', null, h('a', { href: '#/images' }, '← Back to images'));
  let scan: ImageScan;
  try {
    scan = await api<ImageScan>(`/images/${encodeURIComponent(ctx.id ?? '')}`);
  } catch (error) {
    put(ctx.root, back, heading('Image not found'), notice((error as Error).message, 'error'));
    return undefined;
  }
  if (!ctx.current()) return undefined;
  const vulns = [...scan.vulnerabilities].sort(
    (a, b) =>
      (SEVERITY_ORDER[a.severity] ?? 9) - (SEVERITY_ORDER[b.severity] ?? 9) ||
      (b.cvss ?? -1) - (a.cvss ?? -1) ||
      a.id.localeCompare(b.id),
  );
  const c = scan.counts;
  put(
    ctx.root,
    back,
    heading(`${scan.registry}/${scan.repository}`),
    h(
      'dl',
      { class: 'props' },
      h('dt', null, 'Digest'),
      h('dd', null, h('code', null, scan.digest)),
      h('dt', null, 'Tags'),
      h('dd', null, scan.tags.join(', ') || '—'),
      h('dt', null, 'Status'),
      h('dd', null, badge(scan.status), scan.statusReason ? ` ${scan.statusReason}` : null),
      h('dt', null, 'Source'),
      h('dd', null, scan.source),
      h('dt', null, 'Scanned'),
      h('dd', null, time(scan.scannedAt)),
    ),
    h(
      'ul',
      { class: 'cards', 'aria-label': 'Distinct vulnerabilities by severity' },
      (['Critical', 'High', 'Medium', 'Low', 'Negligible'] as const).map((s) =>
        h('li', null, h('strong', null, String(c[s])), s),
      ),
    ),
    vulns.length === 0
      ? h('p', null, 'No vulnerabilities reported.')
      : table(
          `${vulns.length} findings, most severe first`,
          ['Vulnerability', 'Severity', 'CVSS', 'Package', 'Version', 'Fixed in', 'State'],
          vulns.map((v) => [
            h('code', null, v.id),
            v.originalSeverity && v.originalSeverity.toLowerCase() !== v.severity.toLowerCase()
              ? `${v.severity} (${v.originalSeverity})`
              : v.severity,
            v.cvss === undefined ? '—' : v.cvss.toFixed(1),
            v.package ?? '—',
            v.version ?? '—',
            v.fixedVersion ?? '—',
            v.state ?? 'Active',
          ]),
          'findings-table',
        ),
  );
  return undefined;
};
