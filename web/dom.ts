/** A few DOM helpers: elements from data, tables with captions, badges that never rely on colour alone. */

export type Child = Node | string | number | null | undefined | false | Child[];
type AttrValue = string | number | boolean | null | undefined | ((event: Event) => void);
export type Attrs = Record<string, AttrValue>;

function append(parent: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(parent, c);
    else parent.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
}

function setAttrs(el: Element, attrs: Attrs | null | undefined): void {
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.slice(2).toLowerCase(), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

/** Appends children (nested arrays, strings, nothing) to a parent. */
export function put(parent: Node, ...children: Child[]): void {
  append(parent, children);
}

/** An HTML element: `h('a', { href: '#/rules' }, 'Rules')`; `on*` attributes add listeners. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Attrs | null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

/** An SVG element. */
export function s(tag: string, attrs?: Attrs | null, ...children: Child[]): SVGElement {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

/** A data table with a caption and column headers, scrollable by keyboard when wide. */
export function table(caption: string, headers: string[], rows: Child[][], id?: string): HTMLElement {
  const t = h(
    'table',
    { id },
    h('caption', null, caption),
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        headers.map((x) => h('th', { scope: 'col' }, x)),
      ),
    ),
    h(
      'tbody',
      null,
      rows.map((r) =>
        h(
          'tr',
          null,
          r.map((cell) => h('td', null, cell)),
        ),
      ),
    ),
  );
  return h('div', { class: 'table-wrap', role: 'region', 'aria-label': caption, tabindex: 0 }, t);
}

const DECISION_MARK: Record<string, string> = {
  Denied: '✕',
  Audited: '!',
  Allowed: '✓',
  Deny: '✕',
  Audit: '!',
  Allow: '✓',
};

/** A decision or action as a badge: a mark and the word, with colour as a third cue only. */
export function badge(value: string, kind = value.toLowerCase()): HTMLElement {
  const mark = DECISION_MARK[value];
  return h(
    'span',
    { class: `badge b-${kind}` },
    mark ? h('span', { 'aria-hidden': 'true' }, `${mark} `) : null,
    value,
  );
}

/** `2026-11-26 15:46:28 UTC` in a <time> element. */
export function time(iso: string | undefined): Child {
  if (iso === undefined || iso === '') return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return h('time', { datetime: d.toISOString() }, `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`);
}

export interface Counts {
  Critical: number;
  High: number;
  Medium: number;
  Low: number;
  Negligible?: number;
}

/** "2 Critical, 9 High, 6 Medium, 44 Low" (zero counts left out). */
export function counts(c: Counts | undefined): string {
  if (c === undefined) return '—';
  const parts = (['Critical', 'High', 'Medium', 'Low'] as const)
    .filter((k) => c[k] > 0)
    .map((k) => `${c[k]} ${k}`);
  return parts.length === 0 ? 'none' : parts.join(', ');
}

/** A short digest: `sha256:abcdef123456`, the whole one in a title. */
export function digest(d: string | undefined): Child {
  if (d === undefined || d === '') return '—';
  return h('code', { title: d }, d.length > 19 ? `${d.slice(0, 19)}…` : d);
}

/** A message in an element that screen readers announce (`alert` for failures). */
export function notice(text: string, kind: 'error' | 'info' | 'ok' = 'info'): HTMLElement {
  return h('p', { class: `notice n-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
}

/** A labelled form control. */
export function field(label: string, control: HTMLElement, hint?: string): HTMLElement {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  const hintId = hint ? `${id}-hint` : undefined;
  if (hintId) control.setAttribute('aria-describedby', hintId);
  return h(
    'div',
    { class: 'field' },
    h('label', { for: id }, label),
    control,
    hint ? h('small', { id: hintId }, hint) : null,
  );
}

/** A select with options `[value, label]`. */
export function select(name: string, options: [string, string][], value: string | null): HTMLSelectElement {
  return h(
    'select',
    { name },
    options.map(([v, l]) => h('option', { value: v, selected: v === (value ?? '') }, l)),
  );
}

/** `<datetime-local>` value (local time) from an ISO time, and back. */
export function toLocalInput(iso: string | null): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const local = new Date(d.getTime() - d.getTimezoneOffset() * 60_000);
  return local.toISOString().slice(0, 16);
}

export function fromLocalInput(value: string): string | undefined {
  if (value === '') return undefined;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}
