/**
 * The dashboard end to end in real Chromium (Debian's package, driven by playwright-core)
 * against the emulator running as a process over HTTPS: events of every decision made through
 * the webhook, then what a security engineer does in the browser — sign in, filter, open an
 * event, change a rule as admin and be refused as reader, watch exposure change when new
 * findings arrive. Screenshots go to test-output/screenshots/.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page, type Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admissionReview, type EmulatorProcess, fixture, ROOT, startEmulatorProcess } from './emulator.js';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = join(ROOT, 'test-output', 'screenshots');
const DEBIAN_DIGEST = `sha256:${'d'.repeat(64)}`;
const ALPINE_DIGEST = `sha256:${'a'.repeat(64)}`;
const ALPINE = 'ghcr.io/aquasecurity/trivy-test-images:alpine-310';

let emu: EmulatorProcess;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let token: string;
let readerKey: string;
let uid = 0;

async function review(object: unknown, namespace: string) {
  const body = admissionReview(object, { uid: `dash-${++uid}`, namespace });
  const res = await emu.http('POST', `/admission/${token}`, { body, key: null });
  expect(res.status).toBe(200);
  return res.json.response as { uid: string; allowed: boolean };
}

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `dashboard-${name}.png`), fullPage: true });
}

/** Waits until the view has finished loading (the shell drops aria-busy). */
async function settled(): Promise<void> {
  await page.waitForFunction(() => document.getElementById('view')?.getAttribute('aria-busy') !== 'true');
}

async function signIn(key: string): Promise<void> {
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  // Signing in shows the view the URL names (the events at first).
  await page.locator('#view h1').waitFor();
  await settled();
}

const rules = [
  {
    name: 'deny-high',
    action: 'Deny',
    scope: { resources: [{ type: 'Namespace', match: 'StartsWith', value: 'team-' }] },
    conditions: { severities: ['High', 'Critical'] },
  },
  {
    name: 'deny-apt-cve',
    action: 'Deny',
    scope: { resources: [{ type: 'Namespace', match: 'Equals', value: 'cve-only' }] },
    conditions: { cves: ['CVE-2011-3374'] },
    exemptions: [
      {
        type: 'Namespace',
        value: 'cve-only-sandbox',
        reason: 'ends soon',
        expiresOn: new Date(Date.now() + 3 * 86_400_000).toISOString().slice(0, 10),
      },
      { type: 'Namespace', value: 'cve-only-legacy', reason: 'long migration', expiresOn: '2099-01-01' },
    ],
  },
];

beforeAll(async () => {
  expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`).toBe(true);
  // The emulator serves dist/web: build it from the current web/ sources (only it: other
  // tests may be running the other bundles in dist/).
  execFileSync(process.execPath, ['scripts/build-web.mjs'], { cwd: ROOT, stdio: 'pipe' });
  mkdirSync(SHOTS, { recursive: true });
  emu = await startEmulatorProcess();
  const cluster = await emu.http('POST', '/api/v1/clusters', { body: { name: 'e2e' } });
  token = cluster.json.token;
  const debian = readFileSync(join(ROOT, 'test/fixtures/scans/trivy-legacy-debian-10.8.json'));
  await emu.http(
    'POST',
    `/api/v1/findings:import?format=trivy&image=${encodeURIComponent(`debian:10.8@${DEBIAN_DIGEST}`)}`,
    { raw: debian },
  );
  const alpine = readFileSync(join(ROOT, 'test/fixtures/scans/trivy-v2-alpine-3.10.2.golden.json'));
  await emu.http(
    'POST',
    `/api/v1/findings:import?format=trivy&image=${encodeURIComponent(`${ALPINE}@${ALPINE_DIGEST}`)}`,
    {
      raw: alpine,
    },
  );
  for (const rule of rules)
    expect((await emu.http('POST', '/api/v1/rules', { body: rule })).status).toBe(201);
  const reader = await emu.http('POST', '/api/v1/apikeys', {
    body: { name: 'auditor', role: 'SecurityReader' },
  });
  readerKey = reader.json.key;

  // Every decision, through the webhook.
  expect((await review(fixture('kubernetes/e2e/deployment-debian.json'), 'team-a')).allowed).toBe(false);
  expect((await review(fixture('kubernetes/e2e/cronjob-debian.json'), 'team-a')).allowed).toBe(false);
  expect((await review(fixture('kubernetes/e2e/deployment-debian.json'), 'team-b')).allowed).toBe(false);
  expect((await review(fixture('kubernetes/e2e/pod-debian.json'), 'cve-only')).allowed).toBe(false);
  expect((await review(fixture('kubernetes/e2e/deployment-debian.json'), 'default')).allowed).toBe(true); // audited
  expect((await review(fixture('kubernetes/e2e/deployment-alpine.json'), 'team-a')).allowed).toBe(true);
  expect((await review(fixture('kubernetes/e2e/deployment-unscanned.json'), 'team-a')).allowed).toBe(true);
  const decisions = (await emu.http('GET', '/api/v1/admissions?limit=50')).json.items.map(
    (e: { decision: string }) => e.decision,
  );
  expect(new Set(decisions)).toEqual(new Set(['Allowed', 'Audited', 'Denied']));

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  // The emulator's certificate comes from its own CA, which this browser profile does not know.
  context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.setDefaultTimeout(10_000);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  if (emu !== undefined) expect(await emu.stop()).toBe(0);
});

describe('the dashboard in Chromium', () => {
  it('loads its first view from one small page and one script, and signs in with an API key', async () => {
    const requests: Promise<{ url: string; bytes: number }>[] = [];
    const record = (request: Request) => {
      requests.push(
        request
          .sizes()
          .then((s) => ({ url: request.url(), bytes: s.responseHeadersSize + s.responseBodySize })),
      );
    };
    page.on('requestfinished', record);
    await page.goto(`${emu.url}/`);
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    await page.waitForLoadState('networkidle');
    page.off('requestfinished', record);
    const firstView = await Promise.all(requests);
    await shot('01-sign-in');
    // The page and its one script, in whichever order they finish (the script can complete
    // while the page's last bytes are still on the way).
    const assets = firstView.map((r) => new URL(r.url).pathname).sort();
    expect(assets).toEqual(['/', expect.stringMatching(/^\/assets\/main-[A-Z0-9]{8}\.js$/)]);
    const transferred = firstView.reduce((n, r) => n + r.bytes, 0);
    expect(transferred).toBeGreaterThan(0);
    expect(transferred).toBeLessThan(40_000);
    const built = readdirSync(join(ROOT, 'dist/web/assets'));
    expect(statSync(join(ROOT, 'dist/web/assets', built[0]!)).size).toBeLessThan(60_000);

    // Keyboard first: the key field has focus, and only the skip link comes before it.
    const focused = () =>
      page.evaluate(() => document.activeElement?.id || document.activeElement?.textContent);
    expect(await focused()).toBe('apikey');
    await page.keyboard.press('Shift+Tab');
    expect(await focused()).toBe('Skip to content');
    await page.keyboard.press('Tab');
    expect(await focused()).toBe('apikey');
    await page.getByLabel('API key').fill('pck_not-a-real-key-000000');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('That key was not accepted').waitFor();
    await signIn(emu.adminKey);
    await page.getByRole('heading', { level: 1, name: 'Admission events' }).waitFor();
    expect(await page.locator('#events-table tbody tr').count()).toBe(7);
    // Every form control has a label a screen reader announces.
    const unlabelled = await page.evaluate(() =>
      [...document.querySelectorAll('input, select, button')]
        .filter((el) => (el as HTMLElement).offsetParent !== null)
        .filter((el) => {
          const c = el as HTMLInputElement;
          return (
            (c.labels?.length ?? 0) === 0 &&
            !c.getAttribute('aria-label') &&
            (c.textContent ?? '').trim() === ''
          );
        })
        .map((el) => el.outerHTML),
    );
    expect(unlabelled).toEqual([]);
    await shot('02-events');
  });

  it('filters to the denied events of one namespace and opens one: its rule, CVEs and message', async () => {
    await page.getByLabel('Namespace').fill('team-a');
    await page.getByLabel('Decision').selectOption('Denied');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.waitForURL(/decision=Denied/);
    await settled();
    const rows = page.locator('#events-table tbody tr');
    expect(await rows.count()).toBe(2);
    for (const text of await rows.allInnerTexts()) {
      expect(text).toContain('team-a');
      expect(text).toContain('Denied');
    }
    await shot('03-denied-team-a');

    const expected = (
      await emu.http('GET', '/api/v1/admissions?namespace=team-a&decision=Denied')
    ).json.items.find((e: { kind: string }) => e.kind === 'Deployment');
    const cves: string[] = expected.images[0].triggeredRules
      .find((r: { ruleName: string }) => r.ruleName === 'deny-high')
      .vulnerabilities.map((v: { id: string }) => v.id);
    expect(cves.length).toBeGreaterThan(0);
    await page.getByRole('link', { name: 'Deployment api' }).click();
    await page.getByRole('heading', { level: 1, name: 'Deployment api: Denied' }).waitFor();
    // Focus follows navigation to the new view's heading.
    expect(await page.evaluate(() => document.activeElement?.tagName)).toBe('H1');
    const ruleTable = page.getByRole('table', {
      name: /Rules triggered on docker\.io\/library\/debian:10\.8/,
    });
    await ruleTable.waitFor();
    expect(await ruleTable.textContent()).toContain('deny-high');
    for (const cve of cves) expect(await ruleTable.textContent()).toContain(cve);
    expect(await page.locator('#event-message').textContent()).toContain('"deny-high"');
    expect(await page.getByText(DEBIAN_DIGEST).count()).toBeGreaterThan(0);
    await shot('04-event-detail');
  });

  it('lets an admin disable a rule, and shows a reader the API refusing', async () => {
    await page.getByRole('link', { name: 'Rules' }).click();
    await page.getByRole('heading', { level: 1, name: 'Rules' }).waitFor();
    await settled();
    await page.getByRole('button', { name: 'Disable rule deny-apt-cve' }).click();
    await page.getByText('Rule deny-apt-cve is now disabled.').waitFor();
    expect((await emu.http('GET', '/api/v1/rules/deny-apt-cve')).json.enabled).toBe(false);
    await shot('05-rule-disabled');

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    await signIn(readerKey);
    await page.getByRole('link', { name: 'Rules' }).click();
    await settled();
    await page.getByRole('button', { name: 'Enable rule deny-apt-cve' }).click();
    const refusal = page.getByRole('alert').filter({ hasText: 'Refused' });
    await refusal.waitFor();
    expect(await refusal.textContent()).toContain('auditor is a SecurityReader; this needs SecurityAdmin');
    expect((await emu.http('GET', '/api/v1/rules/deny-apt-cve')).json.enabled).toBe(false);
    await shot('06-reader-refused');
  });

  it('highlights exemptions that end within 7 days, in words as well as colour', async () => {
    await page.getByRole('link', { name: 'Exemptions' }).click();
    await page.getByRole('heading', { level: 1, name: 'Exemptions' }).waitFor();
    await settled();
    const soon = page.locator('#exemptions-table tbody tr.soon');
    expect(await soon.count()).toBe(1);
    expect(await soon.textContent()).toContain('cve-only-sandbox');
    expect(await soon.textContent()).toContain('Expires soon');
    expect(await soon.textContent()).toContain('in 3 days');
    await shot('07-exemptions');
  });

  it('draws the summary and lists images with their findings', async () => {
    await page.getByRole('link', { name: 'Summary' }).click();
    await page.getByRole('heading', { level: 1, name: 'Summary' }).waitFor();
    await settled();
    expect(await page.locator('svg.chart g rect').count()).toBeGreaterThan(0);
    expect(await page.getByRole('list', { name: 'Most denied images' }).textContent()).toContain(
      'docker.io/library/debian:10.8',
    );
    await shot('08-summary');
    await page.getByRole('link', { name: 'Images' }).click();
    await settled();
    await page.getByRole('link', { name: 'docker.io/library/debian' }).click();
    await page.getByRole('heading', { level: 1, name: 'docker.io/library/debian' }).waitFor();
    expect(await page.locator('#findings-table tbody tr').count()).toBeGreaterThan(50);
    await shot('09-image');
  });

  it('shows the exposure list change when new findings are imported', async () => {
    await page.getByRole('link', { name: 'Exposure' }).click();
    await page.getByRole('heading', { level: 1, name: 'Exposure: would be denied now' }).waitFor();
    await settled();
    const table = page.locator('#exposure-table tbody tr');
    const before = await table.allInnerTexts();
    // The audited Deployment in "default" would still be audited; the clean one is not listed.
    expect(before.some((r) => r.includes('Deployment api') && r.includes('default'))).toBe(true);
    expect(before.some((r) => r.includes('Deployment clean'))).toBe(false);
    await shot('10-exposure-before');

    // The image admitted clean turns out to carry a Critical vulnerability.
    const imported = await emu.http('POST', '/api/v1/findings:import?format=native', {
      body: {
        images: [
          {
            registry: 'ghcr.io',
            repository: 'aquasecurity/trivy-test-images',
            digest: ALPINE_DIGEST,
            tags: ['alpine-310'],
            status: 'Scanned',
            scannedAt: new Date().toISOString(),
            vulnerabilities: [{ id: 'CVE-2099-0001', severity: 'Critical', package: 'musl' }],
          },
        ],
      },
    });
    expect(imported.status).toBe(200);
    await page.getByRole('button', { name: 'Re-evaluate now' }).click();
    await page.getByRole('link', { name: 'Deployment clean' }).waitFor();
    await settled();
    const row = page.locator('#exposure-table tbody tr').filter({ hasText: 'Deployment clean' });
    const text = await row.textContent();
    expect(text).toContain('Denied');
    expect(text).toContain('stricter now');
    expect(text).toContain('deny-high');
    expect(text).toContain('CVE-2099-0001');
    await shot('11-exposure-after');
  });
  it('shows new events as they are recorded when live refresh is on, and announces them', async () => {
    await page.getByRole('link', { name: 'Events' }).click();
    await page.getByRole('heading', { level: 1, name: 'Admission events' }).waitFor();
    await settled();
    const rows = page.locator('#events-table tbody tr');
    const before = await rows.count();
    await page.getByLabel('Live refresh (every 5 s)').check();
    expect((await review(fixture('kubernetes/e2e/pod-debian.json'), 'team-live')).allowed).toBe(false);
    await page.locator('#events-table tbody tr', { hasText: 'team-live' }).waitFor({ timeout: 15_000 });
    expect(await rows.count()).toBe(before + 1);
    // The newest row comes first, and screen readers hear about it.
    expect(await rows.first().textContent()).toContain('team-live');
    await page.waitForFunction(
      () => document.getElementById('status')?.textContent === '1 new admission event',
    );
    await page.getByLabel('Live refresh (every 5 s)').uncheck();
  });
});
