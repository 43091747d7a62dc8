/** Admission events: the filtered table with live refresh, and one event in detail. */
import type { AdmissionEvent, ImageResult } from '../../core/domain.js';
import { api, qs } from '../api.js';
import {
  badge,
  counts,
  field,
  fromLocalInput,
  h,
  notice,
  put,
  select,
  table,
  time,
  toLocalInput,
} from '../dom.js';
import { formQuery, heading, type View } from '../view.js';

interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

const FILTERS = ['cluster', 'namespace', 'decision', 'rule', 'image', 'from', 'to'] as const;
const LIVE_MS = 5000;

function rulesOf(e: AdmissionEvent): string[] {
  return [...new Set(e.images.flatMap((i) => i.triggeredRules.map((r) => r.ruleName)))];
}

function eventRow(e: AdmissionEvent): HTMLTableRowElement {
  const rules = rulesOf(e);
  return h(
    'tr',
    { 'data-id': e.id },
    h('td', null, time(e.time)),
    h('td', null, e.cluster),
    h('td', null, e.namespace),
    h(
      'td',
      null,
      h('a', { href: `#/events/${encodeURIComponent(e.uid)}` }, `${e.kind} ${e.name}`),
      e.dryRun ? h('span', { class: 'muted' }, ' (dry run)') : null,
    ),
    h('td', null, e.operation),
    h('td', null, badge(e.decision)),
    h('td', null, rules.length === 0 ? '—' : rules.join(', ')),
    h(
      'td',
      null,
      e.images.map((i) => h('div', null, i.reference)),
    ),
  );
}

/** The events table: filters in the URL, newest first, more on request, optional live refresh. */
export const eventsView: View = async (ctx) => {
  const p = ctx.params;
  const [clusters, rules] = await Promise.all([
    api<{ items: { name: string }[] }>('/clusters'),
    api<{ items: { name: string }[] }>('/rules'),
  ]);
  const form = h(
    'form',
    { class: 'filters', 'aria-label': 'Filter events' },
    field('Cluster', h('input', { name: 'cluster', list: 'clusters-list', value: p.get('cluster') ?? '' })),
    h(
      'datalist',
      { id: 'clusters-list' },
      clusters.items.map((c) => h('option', { value: c.name })),
    ),
    field('Namespace', h('input', { name: 'namespace', value: p.get('namespace') ?? '' })),
    field(
      'Decision',
      select(
        'decision',
        [
          ['', 'Any'],
          ['Denied', 'Denied'],
          ['Audited', 'Audited'],
          ['Allowed', 'Allowed'],
        ],
        p.get('decision'),
      ),
    ),
    field('Rule', h('input', { name: 'rule', list: 'rules-list', value: p.get('rule') ?? '' })),
    h(
      'datalist',
      { id: 'rules-list' },
      rules.items.map((r) => h('option', { value: r.name })),
    ),
    field(
      'Image',
      h('input', { name: 'image', value: p.get('image') ?? '', placeholder: 'nginx or sha256:…' }),
    ),
    field('From', h('input', { name: 'from', type: 'datetime-local', value: toLocalInput(p.get('from')) })),
    field('To', h('input', { name: 'to', type: 'datetime-local', value: toLocalInput(p.get('to')) })),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'submit' }, 'Apply filters'),
      h('a', { href: '#/events' }, 'Clear filters'),
    ),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    ctx.go(`#/events${formQuery(form, { from: fromLocalInput, to: fromLocalInput })}`);
  });

  const query: Record<string, string | undefined> = {};
  for (const f of FILTERS) query[f] = p.get(f) ?? undefined;
  const first = await api<Page<AdmissionEvent>>(`/admissions${qs({ ...query, limit: 50 })}`);
  if (!ctx.current()) return undefined;

  const live = h('input', { type: 'checkbox', id: 'live', checked: p.get('live') === '1' });
  const liveField = h(
    'div',
    { class: 'field check' },
    live,
    h('label', { for: 'live' }, `Live refresh (every ${LIVE_MS / 1000} s)`),
  );
  const state = h('p', { class: 'muted', id: 'events-state' });
  const tableEl = table(
    'Admission events, newest first',
    ['Time', 'Cluster', 'Namespace', 'Workload', 'Operation', 'Decision', 'Rules', 'Images'],
    [],
    'events-table',
  );
  const tbody = tableEl.querySelector('tbody')!;
  const seen = new Set<string>();
  const add = (items: AdmissionEvent[], where: 'top' | 'bottom') => {
    const rows = items
      .filter((e) => !seen.has(e.id))
      .map((e) => {
        seen.add(e.id);
        const row = eventRow(e);
        if (where === 'top') row.classList.add('fresh');
        return row;
      });
    if (where === 'top') tbody.prepend(...rows);
    else tbody.append(...rows);
    return rows.length;
  };
  add(first.items, 'bottom');
  let cursor = first.nextCursor;
  const more = h(
    'button',
    { type: 'button', class: 'secondary', hidden: cursor === null },
    'Load more events',
  );
  more.addEventListener('click', async () => {
    if (cursor === null) return;
    more.disabled = true;
    const page = await api<Page<AdmissionEvent>>(`/admissions${qs({ ...query, limit: 50, cursor })}`);
    const n = add(page.items, 'bottom');
    cursor = page.nextCursor;
    more.hidden = cursor === null;
    more.disabled = false;
    ctx.announce(`${n} more events loaded`);
  });
  const describe = () => {
    state.textContent =
      seen.size === 0 ? 'No admission events match these filters.' : `${seen.size} events shown.`;
  };
  describe();

  let timer: ReturnType<typeof setInterval> | undefined;
  const poll = async () => {
    try {
      const page = await api<Page<AdmissionEvent>>(`/admissions${qs({ ...query, limit: 50 })}`);
      if (!ctx.current()) return;
      const n = add(page.items, 'top');
      if (n > 0) {
        describe();
        ctx.announce(`${n} new admission ${n === 1 ? 'event' : 'events'}`);
      }
    } catch {
      // A missed refresh is retried on the next tick.
    }
  };
  const setLive = () => {
    clearInterval(timer);
    timer = live.checked ? setInterval(poll, LIVE_MS) : undefined;
  };
  live.addEventListener('change', () => {
    setLive();
    ctx.announce(live.checked ? 'Live refresh on' : 'Live refresh off');
  });
  setLive();

  put(
    ctx.root,
    heading('Admission events'),
    form,
    h('div', { class: 'actions' }, liveField),
    state,
    tableEl,
    more,
  );
  return () => clearInterval(timer);
};

function imageSection(image: ImageResult, index: number): HTMLElement {
  const title = `Image ${index + 1}: ${image.reference}`;
  return h(
    'section',
    { class: 'image', 'aria-label': title },
    h('h2', null, image.reference),
    h(
      'dl',
      { class: 'props' },
      h('dt', null, 'Container'),
      h('dd', null, `${image.container} (${image.containerType})`),
      h('dt', null, 'Written as'),
      h('dd', null, h('code', null, image.image)),
      h('dt', null, 'Digest'),
      h(
        'dd',
        null,
        image.digest
          ? h('a', { href: `#/images/${encodeURIComponent(image.digest)}` }, h('code', null, image.digest))
          : 'not resolved',
      ),
      h('dt', null, 'Scan'),
      h('dd', null, badge(image.scanState), image.scannedAt ? [' scanned ', time(image.scannedAt)] : null),
      h('dt', null, 'Vulnerabilities'),
      h('dd', null, counts(image.counts)),
      h('dt', null, 'Action'),
      h(
        'dd',
        null,
        badge(image.action),
        image.gated ? null : ' (unchanged by this update: recorded, not gated)',
      ),
    ),
    image.triggeredRules.length === 0
      ? h('p', null, 'No rule triggered on this image.')
      : table(
          `Rules triggered on ${image.reference}`,
          ['Rule', 'Action', 'Why', 'Vulnerabilities that triggered it'],
          image.triggeredRules.map((r) => [
            h('a', { href: `#/rules?focus=${encodeURIComponent(r.ruleName)}` }, r.ruleName),
            [badge(r.action), r.enforceFrom ? ` (Deny from ${r.enforceFrom})` : null],
            r.reason === 'Unscanned'
              ? `no usable scan (${r.scanState ?? 'unknown'})`
              : `${r.vulnerabilityCount} vulnerabilities`,
            r.vulnerabilities.length === 0
              ? '—'
              : h(
                  'ul',
                  { class: 'cves' },
                  r.vulnerabilities.map((v) =>
                    h(
                      'li',
                      null,
                      h('code', null, v.id),
                      ` ${v.severity}`,
                      v.package ? ` in ${v.package}` : '',
                    ),
                  ),
                  r.vulnerabilityCount > r.vulnerabilities.length
                    ? h('li', null, `and ${r.vulnerabilityCount - r.vulnerabilities.length} more`)
                    : null,
                ),
          ]),
        ),
    image.exemptions.length === 0
      ? null
      : table(
          `Exemptions applied to ${image.reference}`,
          ['Rule', 'Exemption', 'Expires', 'Vulnerabilities removed'],
          image.exemptions.map((e) => [
            e.ruleName,
            `${e.type} ${e.value}`,
            e.expiresOn ?? 'never',
            e.cves && e.cves.length > 0 ? e.cves.join(', ') : '—',
          ]),
        ),
    image.notes.length === 0
      ? null
      : h(
          'ul',
          { class: 'notes' },
          image.notes.map((n) => h('li', null, n)),
        ),
  );
}

/** One event: what was decided, why, per image, and the message the user saw. */
export const eventDetailView: View = async (ctx) => {
  const page = await api<Page<AdmissionEvent>>(`/admissions${qs({ uid: ctx.id, limit: 1 })}`);
  if (!ctx.current()) return undefined;
  const back = h('p', null, h('a', { href: '#/events' }, '← Back to admission events'));
  const e = page.items[0];
  if (e === undefined) {
    put(
      ctx.root,
      back,
      heading('Event not found'),
      notice(`No admission event has uid ${ctx.id}; it may be past retention.`, 'error'),
    );
    return undefined;
  }
  put(
    ctx.root,
    back,
    heading(`${e.kind} ${e.name}: ${e.decision}`),
    h(
      'dl',
      { class: 'props' },
      h('dt', null, 'Decision'),
      h('dd', null, badge(e.decision)),
      h('dt', null, 'Time'),
      h('dd', null, time(e.time)),
      h('dt', null, 'Cluster / namespace'),
      h('dd', null, `${e.cluster} / ${e.namespace}`),
      h('dt', null, 'Operation'),
      h('dd', null, `${e.operation}${e.dryRun ? ' (dry run)' : ''} by ${e.user || 'unknown'}`),
      h('dt', null, 'Request uid'),
      h('dd', null, h('code', null, e.uid)),
      h('dt', null, 'Rule set'),
      h('dd', null, h('code', null, e.rulesetVersion), ` · evaluated in ${e.latencyMs} ms`),
    ),
    h('h2', null, 'What the user saw'),
    e.message
      ? h('pre', { id: 'event-message' }, e.message)
      : h('p', null, 'No message: the request was allowed without warnings.'),
    e.warnings.length > 0 ? [h('h3', null, 'kubectl warnings'), h('pre', null, e.warnings.join('\n'))] : null,
    e.images.map(imageSection),
  );
  return undefined;
};
