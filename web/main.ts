/**
 * The Admission Monitoring dashboard: sign-in with an API key, then one view at a time chosen
 * by the URL hash (`#/events?decision=Denied`), so every view can be linked, reloaded and
 * reached with the browser's back button.
 */
import { ApiError, api, apiKey, setApiKey } from './api.js';
import { notice } from './dom.js';
import type { View, ViewContext } from './view.js';
import { eventDetailView, eventsView } from './views/events.js';
import { exposureView } from './views/exposure.js';
import { imageDetailView, imagesView } from './views/images.js';
import { exemptionsView, rulesView } from './views/rules.js';
import { summaryView } from './views/summary.js';

const VIEWS: Record<string, { list: View; detail?: View; title: string }> = {
  events: { list: eventsView, detail: eventDetailView, title: 'Admission events' },
  summary: { list: summaryView, title: 'Summary' },
  rules: { list: rulesView, title: 'Rules' },
  exemptions: { list: exemptionsView, title: 'Exemptions' },
  images: { list: imagesView, detail: imageDetailView, title: 'Images' },
  exposure: { list: exposureView, title: 'Exposure' },
};

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const signin = $<HTMLElement>('signin');
const nav = $<HTMLElement>('nav');
const signout = $<HTMLButtonElement>('signout');
const status = $<HTMLElement>('status');
const view = $<HTMLElement>('view');

let stop: (() => void) | undefined;
let generation = 0;

function announce(text: string): void {
  // Cleared first so that the same words said twice are announced twice.
  status.textContent = '';
  setTimeout(() => {
    status.textContent = text;
  }, 50);
}

function parseHash(): { name: string; id?: string; params: URLSearchParams } {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path = '', query = ''] = raw.split('?', 2) as [string?, string?];
  const [name = '', ...rest] = path.split('/');
  const id = rest.length > 0 ? decodeURIComponent(rest.join('/')) : undefined;
  return { name: name in VIEWS ? name : 'events', id, params: new URLSearchParams(query) };
}

function showSignIn(message?: string): void {
  stop?.();
  stop = undefined;
  generation++;
  signin.hidden = false;
  view.hidden = true;
  view.replaceChildren();
  nav.hidden = true;
  signout.hidden = true;
  document.title = 'Sign in · Portcullis';
  const error = $<HTMLElement>('signin-error');
  error.textContent = message ?? '';
  $<HTMLInputElement>('apikey').focus();
}

async function render(): Promise<void> {
  if (apiKey() === null) return showSignIn();
  stop?.();
  stop = undefined;
  const mine = ++generation;
  const { name, id, params } = parseHash();
  const entry = VIEWS[name]!;
  signin.hidden = true;
  nav.hidden = false;
  signout.hidden = false;
  view.hidden = false;
  for (const a of nav.querySelectorAll('a')) {
    if (a.getAttribute('href') === `#/${name}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.title = `${entry.title} · Portcullis`;
  view.replaceChildren();
  view.setAttribute('aria-busy', 'true');
  const ctx: ViewContext = {
    root: view,
    id,
    params,
    go: (hash) => {
      location.hash = hash;
    },
    announce,
    current: () => mine === generation,
  };
  try {
    const cleanup = await (id !== undefined && entry.detail ? entry.detail : entry.list)(ctx);
    if (mine !== generation) cleanup?.();
    else stop = cleanup;
  } catch (error) {
    if (mine !== generation) return;
    if (error instanceof ApiError && error.status === 401) {
      setApiKey(null);
      return showSignIn(`Signed out: ${error.message}`);
    }
    view.append(notice(`Could not load this view: ${(error as Error).message}`, 'error'));
  } finally {
    if (mine === generation) view.removeAttribute('aria-busy');
  }
  if (mine === generation) {
    // Focus follows navigation to the new heading, as a page load would put it at the top.
    (view.querySelector('h1') as HTMLElement | null)?.focus({ preventScroll: false });
  }
}

$<HTMLFormElement>('signin-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const input = $<HTMLInputElement>('apikey');
  const key = input.value.trim();
  const error = $<HTMLElement>('signin-error');
  if (key === '') {
    error.textContent = 'Enter an API key.';
    return;
  }
  error.textContent = 'Checking the key…';
  try {
    await api('/clusters', { key });
  } catch (e) {
    error.textContent =
      e instanceof ApiError && e.status === 401
        ? `That key was not accepted: ${e.message}.`
        : `Could not sign in: ${(e as Error).message}`;
    input.select();
    return;
  }
  input.value = '';
  setApiKey(key);
  if (!location.hash.startsWith('#/')) location.hash = '#/events';
  else void render();
});

signout.addEventListener('click', () => {
  setApiKey(null);
  showSignIn('Signed out.');
});

window.addEventListener('hashchange', () => void render());
void render();
