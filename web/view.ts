/** What a view gets from the shell: where to draw, the route, and ways to move and announce. */
import { h } from './dom.js';

export interface ViewContext {
  /** The main region, emptied for the view. */
  root: HTMLElement;
  /** The path segment after the view name: an event uid, an image digest. */
  id?: string;
  /** The route's query: filters, kept in the URL so a view can be linked and reloaded. */
  params: URLSearchParams;
  /** Moves to another route (`#/events?decision=Denied`). */
  go(hash: string): void;
  /** Says something to screen readers without moving focus. */
  announce(text: string): void;
  /** False once the user has moved on: late answers are dropped. */
  current(): boolean;
}

/** A view draws itself into `ctx.root`; it may return a function that stops its timers. */
export type View = (ctx: ViewContext) => Promise<(() => void) | undefined>;

/** The view's heading, focusable so that focus can move to it on navigation. */
export function heading(text: string): HTMLElement {
  return h('h1', { tabindex: -1 }, text);
}

/** Reads a filter form into a route query, leaving out empty fields. */
export function formQuery(
  form: HTMLFormElement,
  convert: Record<string, (v: string) => string | undefined> = {},
): string {
  const q = new URLSearchParams();
  for (const [k, v] of new FormData(form).entries()) {
    if (typeof v !== 'string') continue;
    const value = convert[k] ? convert[k](v) : v.trim();
    if (value !== undefined && value !== '') q.set(k, value);
  }
  const s = q.toString();
  return s === '' ? '' : `?${s}`;
}
