/** Rules (with enable/disable for SecurityAdmin) and exemptions across rules with their expiry. */
import type { Rule } from '../../core/domain.js';
import type { ExemptionList } from '../../core/services/exemptions.js';
import { ApiError, api, qs } from '../api.js';
import { badge, field, h, notice, put, table } from '../dom.js';
import { formQuery, heading, type View } from '../view.js';

/** Exemptions ending within this many days are highlighted. */
const SOON_DAYS = 7;

function scopeText(r: Rule): string {
  const parts: string[] = [];
  if (r.scope.cloud) {
    const accounts = r.scope.cloud.accounts.length > 0 ? ` ${r.scope.cloud.accounts.join(', ')}` : '';
    parts.push(`${r.scope.cloud.provider}${accounts}`);
  }
  for (const x of r.scope.resources) parts.push(`${x.type} ${x.match} ${x.value}`);
  return parts.length === 0 ? 'every cluster' : parts.join('; ');
}

function conditionsText(r: Rule): string {
  const c = r.conditions;
  const parts: string[] = [];
  if (c.severities.length > 0) parts.push(c.severities.join(', '));
  if (c.cves.length > 0)
    parts.push(
      c.cves.length > 3
        ? `${c.cves.slice(0, 3).join(', ')} and ${c.cves.length - 3} more`
        : c.cves.join(', '),
    );
  if (c.minCvss !== undefined) parts.push(`CVSS ≥ ${c.minCvss}`);
  if (c.fixAvailableOnly) parts.push('with a fix only');
  if (r.applyToUnscannedImages) parts.push('unscanned images');
  return parts.join('; ') || '—';
}

/** The rules table; each row has its enable/disable button, answered by the API's own words. */
export const rulesView: View = async (ctx) => {
  const { items } = await api<{ items: Rule[] }>('/rules');
  if (!ctx.current()) return undefined;
  const result = h('div', { id: 'rules-result' });
  const rows = items.map((r) => {
    const state = h('span', null, badge(r.enabled ? 'Enabled' : 'Disabled'));
    const button = h(
      'button',
      {
        type: 'button',
        class: 'secondary',
        'aria-label': `${r.enabled ? 'Disable' : 'Enable'} rule ${r.name}`,
      },
      r.enabled ? 'Disable' : 'Enable',
    );
    let enabled = r.enabled;
    button.addEventListener('click', async () => {
      const verb = enabled ? 'disable' : 'enable';
      button.disabled = true;
      try {
        const updated = await api<Rule>(`/rules/${encodeURIComponent(r.id)}:${verb}`, { method: 'POST' });
        enabled = updated.enabled;
        state.replaceChildren(badge(enabled ? 'Enabled' : 'Disabled'));
        button.textContent = enabled ? 'Disable' : 'Enable';
        button.setAttribute('aria-label', `${enabled ? 'Disable' : 'Enable'} rule ${r.name}`);
        result.replaceChildren(notice(`Rule ${r.name} is now ${enabled ? 'enabled' : 'disabled'}.`, 'ok'));
      } catch (error) {
        const why = error instanceof ApiError && error.status === 403 ? 'Refused' : 'Failed';
        result.replaceChildren(
          notice(`${why}: could not ${verb} rule ${r.name}: ${(error as Error).message}`, 'error'),
        );
      } finally {
        button.disabled = false;
      }
    });
    const focus = ctx.params.get('focus');
    const name = h('strong', null, r.name);
    return {
      focus: focus !== null && focus.toLowerCase() === r.name.toLowerCase(),
      cells: [
        [name, r.description ? h('div', { class: 'muted' }, r.description) : null],
        [badge(r.action), r.enforceFrom ? ` (Deny from ${r.enforceFrom})` : null],
        state,
        scopeText(r),
        conditionsText(r),
        r.exemptions.length === 0
          ? '0'
          : h('a', { href: `#/exemptions?rule=${encodeURIComponent(r.name)}` }, String(r.exemptions.length)),
        button,
      ],
    };
  });
  const tableEl = table(
    `${items.length} rules`,
    ['Rule', 'Action', 'State', 'Scope', 'Triggers on', 'Exemptions', 'Change'],
    rows.map((r) => r.cells),
    'rules-table',
  );
  rows.forEach((r, i) => {
    if (r.focus) tableEl.querySelectorAll('tbody tr')[i]?.classList.add('soon');
  });
  put(
    ctx.root,
    heading('Rules'),
    h(
      'p',
      null,
      'Enabling and disabling a rule needs a SecurityAdmin key; a SecurityReader key is refused by the API.',
    ),
    result,
    tableEl,
  );
  return undefined;
};

function expiryText(e: ExemptionList['items'][number]): string {
  if (e.expiresOn === undefined) return e.expired ? 'Expired' : 'Never';
  if (e.expired) return `Expired (${e.expiresOn})`;
  const d = e.expiresInDays ?? 0;
  return `${e.expiresOn} (${d === 0 ? 'ends today' : `in ${d} ${d === 1 ? 'day' : 'days'}`})`;
}

/** Every exemption across rules, soonest expiry first, those ending within a week highlighted. */
export const exemptionsView: View = async (ctx) => {
  const within = ctx.params.get('expiringWithinDays') ?? undefined;
  const rule = ctx.params.get('rule') ?? undefined;
  const list = await api<ExemptionList>(`/exemptions${qs({ expiringWithinDays: within, rule })}`);
  if (!ctx.current()) return undefined;
  const form = h(
    'form',
    { class: 'filters', 'aria-label': 'Filter exemptions' },
    field('Rule', h('input', { name: 'rule', value: rule ?? '' })),
    field(
      'Expiring within (days)',
      h('input', { name: 'expiringWithinDays', type: 'number', min: 0, max: 3650, value: within ?? '' }),
      'Leave empty for every exemption',
    ),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'submit' }, 'Apply filters'),
      h('a', { href: '#/exemptions' }, 'Clear filters'),
    ),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    ctx.go(`#/exemptions${formQuery(form)}`);
  });
  const soon = list.items.filter(
    (e) => !e.expired && e.expiresInDays !== undefined && e.expiresInDays <= SOON_DAYS,
  );
  const tableEl = table(
    `${list.items.length} exemptions as of ${list.asOf}`,
    ['Rule', 'Type', 'Value', 'Reason', 'Ticket', 'Expires', 'Status', 'Created by'],
    list.items.map((e) => {
      const isSoon = soon.includes(e);
      return [
        [e.ruleName, e.ruleEnabled ? null : h('span', { class: 'muted' }, ' (rule disabled)')],
        e.type,
        [e.match === 'Equals' ? null : `${e.match} `, h('code', null, e.value)],
        e.reason,
        e.ticket ?? '—',
        expiryText(e),
        e.expired ? badge('Expired') : isSoon ? badge('Expires soon', 'soon') : badge('Active', 'enabled'),
        e.createdBy,
      ];
    }),
    'exemptions-table',
  );
  const rows = tableEl.querySelectorAll('tbody tr');
  list.items.forEach((e, i) => {
    if (soon.includes(e)) rows[i]?.classList.add('soon');
  });
  put(
    ctx.root,
    heading('Exemptions'),
    form,
    soon.length > 0
      ? notice(
          `${soon.length} ${soon.length === 1 ? 'exemption ends' : 'exemptions end'} within ${SOON_DAYS} days: marked “Expires soon”.`,
        )
      : h('p', null, `No exemption ends within ${SOON_DAYS} days.`),
    tableEl,
  );
  return undefined;
};
