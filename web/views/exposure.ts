/** Exposure: workloads admitted earlier that today's rules and findings would deny or audit. */
import type { ExposureReport } from '../../core/services/exposure.js';
import { api, qs } from '../api.js';
import { badge, field, h, notice, put, select, table, time } from '../dom.js';
import { formQuery, heading, type View } from '../view.js';

const CVES_SHOWN = 5;

export const exposureView: View = async (ctx) => {
  const p = ctx.params;
  const q = {
    cluster: p.get('cluster') ?? undefined,
    namespace: p.get('namespace') ?? undefined,
    decision: p.get('decision') ?? undefined,
  };
  const report = await api<ExposureReport>(`/exposure${qs(q)}`);
  if (!ctx.current()) return undefined;
  const form = h(
    'form',
    { class: 'filters', 'aria-label': 'Filter exposure' },
    field('Cluster', h('input', { name: 'cluster', value: q.cluster ?? '' })),
    field('Namespace', h('input', { name: 'namespace', value: q.namespace ?? '' })),
    field(
      'Would now be',
      select(
        'decision',
        [
          ['', 'Denied or audited'],
          ['Denied', 'Denied'],
          ['Audited', 'Audited'],
        ],
        q.decision ?? null,
      ),
    ),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'submit' }, 'Apply filters'),
      h('a', { href: '#/exposure' }, 'Clear filters'),
    ),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    ctx.go(`#/exposure${formQuery(form)}`);
  });
  const refresh = h('button', { type: 'button', class: 'secondary' }, 'Re-evaluate now');
  refresh.addEventListener('click', () => {
    // Same route: draw it again (a hashchange would not fire).
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  });
  const denied = report.items.filter((i) => i.decision === 'Denied').length;
  const audited = report.items.length - denied;
  put(
    ctx.root,
    heading('Exposure: would be denied now'),
    h(
      'p',
      null,
      'Workloads admitted since ',
      time(report.window.from),
      ' re-evaluated with today’s rules and the newest scan of the image digests they were admitted with. ',
      'Kubernetes does not re-check running workloads: these were allowed then and would not be now.',
    ),
    form,
    h(
      'ul',
      { class: 'cards', 'aria-label': 'Exposure totals' },
      h('li', null, h('strong', null, String(denied)), 'would be denied'),
      h('li', null, h('strong', null, String(audited)), 'would be audited'),
      h('li', null, h('strong', null, String(report.workloads)), 'admitted workloads checked'),
    ),
    h(
      'div',
      { class: 'actions' },
      refresh,
      h(
        'span',
        { class: 'muted' },
        'Evaluated ',
        time(report.evaluatedAt),
        ` with rule set ${report.rulesetVersion}.`,
      ),
    ),
    report.notes.length > 0
      ? h(
          'ul',
          { class: 'notes' },
          report.notes.map((n) => h('li', null, n)),
        )
      : null,
    report.items.length === 0
      ? notice('No admitted workload would be denied or audited now.', 'ok')
      : table(
          `${report.items.length} workloads that would be ${q.decision?.toLowerCase() ?? 'denied or audited'} now`,
          [
            'Now',
            'Admitted as',
            'Workload',
            'Cluster / namespace',
            'Admitted',
            'Rules',
            'Vulnerabilities',
            'Images',
          ],
          report.items.map((w) => [
            badge(w.decision),
            [
              badge(w.admittedDecision),
              w.stricterThanAdmitted ? h('div', { class: 'muted' }, 'stricter now') : null,
            ],
            h('a', { href: `#/events/${encodeURIComponent(w.uid)}` }, `${w.kind} ${w.name}`),
            `${w.cluster} / ${w.namespace}`,
            time(w.admittedAt),
            w.rules.join(', '),
            w.cves.length === 0
              ? '—'
              : [
                  w.cves.slice(0, CVES_SHOWN).map((c, i) => [i > 0 ? ', ' : '', h('code', null, c)]),
                  w.cves.length > CVES_SHOWN ? ` and ${w.cves.length - CVES_SHOWN} more` : '',
                ],
            w.images.map((i) =>
              h(
                'div',
                null,
                i.digest
                  ? h('a', { href: `#/images/${encodeURIComponent(i.digest)}` }, i.reference)
                  : i.reference,
                i.digestSource === 'resolvedNow'
                  ? h('span', { class: 'muted' }, ' (digest resolved now)')
                  : null,
              ),
            ),
          ]),
          'exposure-table',
        ),
  );
  return undefined;
};
