/**
 * The monitoring routes through the shared Hono application: exposure after new findings,
 * exemptions with their expiry, the top denials, roles, bad input and the OpenAPI document.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../adapters/store/sqlite/index.js';
import { createServices } from '../../core/services/index.js';
import { createApp } from '../../functions/app.js';
import { D1, deployment, scan, vuln } from '../unit/evaluate-helpers.js';

const store = openSqliteStore({ path: ':memory:' });
afterAll(() => store.close());

const ADMIN = `pck_${'a'.repeat(43)}`;
const READER = `pck_${'r'.repeat(43)}`;
const services = createServices(store, { cacheTtlMs: 0 });
const app = createApp({ services });
let token: string;

async function call(method: string, path: string, options: { key?: string | null; body?: unknown } = {}) {
  const key = options.key === undefined ? ADMIN : options.key;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (key !== null) headers.authorization = `Bearer ${key}`;
  const res = await app.request(`https://portcullis.test${path}`, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await res.text();
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON answers
  return { status: res.status, json: (text ? JSON.parse(text) : undefined) as any };
}

function review(uid: string, object: ReturnType<typeof deployment>, namespace: string) {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
      operation: 'CREATE',
      namespace,
      name: object.metadata.name,
      object,
    },
  };
}

const nativeReport = (vulnerabilities: ReturnType<typeof vuln>[], scannedAt: string) => ({
  images: [{ ...scan('ghcr.io/acme/api:1.0', D1, vulnerabilities), scannedAt }],
});

beforeAll(async () => {
  await services.apiKeys.ensure(ADMIN, 'admin', 'SecurityAdmin');
  await services.apiKeys.ensure(READER, 'reader', 'SecurityReader');
  const cluster = await call('POST', '/api/v1/clusters', { body: { name: 'prod' } });
  token = cluster.json.token;
  expect(
    (
      await call('POST', '/api/v1/findings:import?format=native', {
        body: nativeReport([vuln('CVE-2024-1000', 'Low')], '2026-01-01T00:00:00Z'),
      })
    ).status,
  ).toBe(200);
  const rule = {
    name: 'deny-critical',
    action: 'Deny',
    conditions: { severities: ['Critical'] },
    exemptions: [
      { type: 'Namespace', value: 'sandbox', reason: 'not production', expiresOn: tomorrow() },
      { type: 'Namespace', value: 'legacy', reason: 'migration', expiresOn: '2099-01-01' },
    ],
  };
  expect((await call('POST', '/api/v1/rules', { body: rule })).status).toBe(201);
  for (const [uid, ns] of [
    ['u1', 'payments'],
    ['u2', 'web'],
  ] as const) {
    const res = await call('POST', `/admission/${token}`, {
      key: null,
      body: review(uid, deployment(`api-${ns}`, ns, ['ghcr.io/acme/api:1.0']), ns),
    });
    expect(res.json.response.allowed).toBe(true);
  }
});

function tomorrow(): string {
  return new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
}

describe('GET /api/v1/exposure', () => {
  it('is empty while the admitted images are clean, and lists them once a Critical finding arrives', async () => {
    expect((await call('GET', '/api/v1/exposure')).json).toMatchObject({ items: [], workloads: 2 });
    await call('POST', '/api/v1/findings:import?format=native', {
      body: nativeReport(
        [vuln('CVE-2024-1000', 'Low'), vuln('CVE-2024-2000', 'Critical')],
        '2026-02-01T00:00:00Z',
      ),
    });
    const res = await call('GET', '/api/v1/exposure', { key: READER });
    expect(res.status).toBe(200);
    expect(res.json.items.map((i: { name: string }) => i.name).sort()).toEqual(['api-payments', 'api-web']);
    expect(res.json.items[0]).toMatchObject({
      cluster: 'prod',
      decision: 'Denied',
      admittedDecision: 'Allowed',
      stricterThanAdmitted: true,
      rules: ['deny-critical'],
      cves: ['CVE-2024-2000'],
    });
    const web = await call('GET', '/api/v1/exposure?cluster=prod&namespace=web&decision=Denied');
    expect(web.json.items.map((i: { name: string }) => i.name)).toEqual(['api-web']);
  });

  it('answers 400 on a bad filter and 401 without a key', async () => {
    const bad = await call('GET', '/api/v1/exposure?decision=Allowed');
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe('invalid_argument');
    expect((await call('GET', '/api/v1/exposure?color=red')).status).toBe(400);
    expect((await call('GET', '/api/v1/exposure', { key: null })).status).toBe(401);
  });
});

describe('GET /api/v1/exemptions', () => {
  it('lists every exemption with its rule and expiry; expiringWithinDays narrows', async () => {
    const all = await call('GET', '/api/v1/exemptions', { key: READER });
    expect(all.status).toBe(200);
    expect(all.json.items.map((e: { value: string; ruleName: string }) => [e.value, e.ruleName])).toEqual([
      ['sandbox', 'deny-critical'],
      ['legacy', 'deny-critical'],
    ]);
    expect(all.json.items[0]).toMatchObject({ expired: false, expiresInDays: 1, reason: 'not production' });
    const soon = await call('GET', '/api/v1/exemptions?expiringWithinDays=7');
    expect(soon.json.items.map((e: { value: string }) => e.value)).toEqual(['sandbox']);
    expect(soon.json.expiringWithinDays).toBe(7);
    expect((await call('GET', '/api/v1/exemptions?expiringWithinDays=week')).status).toBe(400);
  });
});

describe('GET /api/v1/admissions/top', () => {
  it('tallies the denied images, rules and CVEs', async () => {
    const res = await call('POST', `/admission/${token}`, {
      key: null,
      body: review('u3', deployment('api-new', 'payments', ['ghcr.io/acme/api:1.0']), 'payments'),
    });
    expect(res.json.response.allowed).toBe(false);
    const top = await call('GET', '/api/v1/admissions/top?limit=5', { key: READER });
    expect(top.status).toBe(200);
    expect(top.json).toMatchObject({
      scannedEvents: 1,
      images: [{ name: 'ghcr.io/acme/api:1.0', count: 1 }],
      rules: [{ name: 'deny-critical', count: 1 }],
      cves: [{ name: 'CVE-2024-2000', count: 1 }],
    });
    expect((await call('GET', '/api/v1/admissions/top?limit=0')).status).toBe(400);
  });
});

describe('the OpenAPI document', () => {
  it('describes the monitoring routes with their filters', async () => {
    const doc = (await call('GET', '/api/v1/openapi.json', { key: null })).json;
    const exposure = doc.paths['/api/v1/exposure'].get;
    expect(exposure.parameters.map((p: { name: string }) => p.name)).toEqual([
      'cluster',
      'namespace',
      'decision',
    ]);
    expect(exposure.responses['200'].content['application/json'].schema.properties.items).toBeDefined();
    expect(doc.paths['/api/v1/exemptions'].get.parameters.map((p: { name: string }) => p.name)).toContain(
      'expiringWithinDays',
    );
    expect(doc.paths['/api/v1/admissions/top'].get).toBeDefined();
  });
});
