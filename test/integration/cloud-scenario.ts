/**
 * The admission scenario every runtime must pass through its own entry points (Lambda function
 * URL events, Azure HttpRequest, functions-framework): register a cluster, import a Trivy
 * report, write rules, then Deny / Audit / unscanned / exemption / dryRun through the webhook.
 *
 * A runtime supplies `call`, which sends one HTTP request through its entry point.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { admissionReview, fixture, ROOT } from '../e2e/emulator.js';

export interface CallResult {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: scenario steps read arbitrary JSON answers
  json: any;
  headers: Record<string, string>;
}

/**
 * Sends a request through the runtime under test. `target` says which function serves it:
 * `admin` for /api/v1 and /healthz, `webhook` for /admission/{token}.
 */
export type Call = (
  target: 'admin' | 'webhook',
  method: string,
  path: string,
  options?: { body?: string; apiKey?: string },
) => Promise<CallResult>;

const DEBIAN_DIGEST = `sha256:${'d'.repeat(64)}`;

/** Runs the scenario; `apiKey` must be a SecurityAdmin key the runtime accepts. */
export async function runAdmissionScenario(call: Call, apiKey: string): Promise<void> {
  const admin = (method: string, path: string, body?: unknown) =>
    call('admin', method, path, { apiKey, body: body === undefined ? undefined : JSON.stringify(body) });

  expect((await call('admin', 'GET', '/healthz')).status).toBe(200);
  expect((await call('admin', 'GET', '/api/v1/rules')).status).toBe(401);

  const cluster = await admin('POST', '/api/v1/clusters', {
    name: `c-${Date.now()}`,
    provider: 'aws',
    account: '1',
  });
  expect(cluster.status).toBe(201);
  const token: string = cluster.json.token;
  expect(cluster.json.webhookUrl).toMatch(new RegExp(`/admission/${token}$`));
  expect(cluster.json.webhookConfiguration).toContain('sideEffects: NoneOnDryRun');

  const report = readFileSync(join(ROOT, 'test/fixtures/scans/trivy-legacy-debian-10.8.json'), 'utf8');
  const image = encodeURIComponent(`debian:10.8@${DEBIAN_DIGEST}`);
  const imported = await call('admin', 'POST', `/api/v1/findings:import?format=trivy&image=${image}`, {
    apiKey,
    body: report,
  });
  expect(imported.json).toEqual({ images: 1, vulnerabilities: 93 });

  const rules = [
    {
      name: 'scenario-deny-high',
      action: 'Deny',
      scope: { resources: [{ type: 'Namespace', match: 'StartsWith', value: 'team-' }] },
      conditions: { severities: ['High'] },
      exemptions: [{ type: 'Namespace', match: 'Equals', value: 'team-exempt', reason: 'migration' }],
    },
    {
      name: 'scenario-deny-unscanned',
      action: 'Deny',
      scope: { resources: [{ type: 'Namespace', match: 'Equals', value: 'strict' }] },
      conditions: { severities: ['Critical'] },
      applyToUnscannedImages: true,
    },
  ];
  for (const rule of rules) {
    const created = await admin('POST', '/api/v1/rules', rule);
    // A store reused across runs may have it already; the scenario needs it as written.
    if (created.status === 409)
      expect((await admin('PUT', `/api/v1/rules/${rule.name}`, rule)).status).toBe(200);
    else expect(created.status).toBe(201);
  }

  let n = 0;
  const review = async (file: string, namespace: string, dryRun = false) => {
    const uid = `scenario-${Date.now()}-${++n}`;
    const body = JSON.stringify(admissionReview(fixture(file), { uid, namespace, dryRun }));
    const res = await call('webhook', 'POST', `/admission/${token}`, { body });
    expect(res.status).toBe(200);
    expect(res.json.response.uid).toBe(uid);
    return { uid, response: res.json.response };
  };
  const eventOf = async (uid: string) => (await admin('GET', `/api/v1/admissions?uid=${uid}`)).json.items[0];

  const denied = await review('kubernetes/e2e/deployment-debian.json', 'team-a');
  expect(denied.response).toMatchObject({ allowed: false, status: { code: 403 } });
  expect(denied.response.status.message).toContain('"scenario-deny-high"');
  expect((await eventOf(denied.uid)).decision).toBe('Denied');

  const audited = await review('kubernetes/e2e/deployment-debian.json', 'default');
  expect(audited.response.allowed).toBe(true);
  expect(audited.response.warnings.join('\n')).toContain('default-audit-high-critical');

  const exempt = await review('kubernetes/e2e/deployment-debian.json', 'team-exempt');
  expect(exempt.response.allowed).toBe(true);
  expect((await eventOf(exempt.uid)).images[0].exemptions[0].type).toBe('Namespace');

  const unscanned = await review('kubernetes/e2e/deployment-unscanned.json', 'team-a');
  expect(unscanned.response.allowed).toBe(true);
  const strict = await review('kubernetes/e2e/deployment-unscanned.json', 'strict');
  expect(strict.response.allowed).toBe(false);
  expect(strict.response.status.message).toContain('(NotFound)');

  const dry = await review('kubernetes/e2e/deployment-debian.json', 'team-a', true);
  expect(dry.response.allowed).toBe(false);
  expect(await eventOf(dry.uid)).toBeUndefined();

  const unknown = await call('webhook', 'POST', `/admission/pct_${'x'.repeat(43)}`, { body: '{}' });
  expect(unknown.status).toBe(401);
  const malformed = await call('webhook', 'POST', `/admission/${token}`, { body: '{"apiVersion":' });
  expect(malformed.status).toBe(400);
  expect(malformed.json.error.code).toBe('invalid_argument');
}

/** A registry to add through the admin API, and what syncing it must deliver. */
export interface RegistrySyncCase {
  registry: { name: string; kind: 'ecr' | 'acr' | 'gar'; settings: Record<string, unknown> };
  /** Images a first sync of the registry delivers. */
  images: number;
  /** An image the registry's stand-in reports, and its findings. */
  digest: string;
  source: string;
  vulnerabilities: number;
}

/**
 * On-demand sync through the admin function: add the registry, `POST :sync` (the cloud
 * functions answer with the finished run), then the image's scan is served from the store.
 */
export async function runOnDemandSync(call: Call, apiKey: string, c: RegistrySyncCase): Promise<void> {
  const admin = (method: string, path: string, body?: unknown) =>
    call('admin', method, path, { apiKey, body: body === undefined ? undefined : JSON.stringify(body) });
  const created = await admin('POST', '/api/v1/registries', c.registry);
  expect(created.status, JSON.stringify(created.json)).toBe(201);
  const run = await admin('POST', `/api/v1/registries/${c.registry.name}:sync`);
  expect(run.status, JSON.stringify(run.json)).toBe(200);
  expect(run.json).toMatchObject({ status: 'succeeded', trigger: 'manual', errors: [], images: c.images });
  const image = await admin('GET', `/api/v1/images/${c.digest}`);
  expect(image.status).toBe(200);
  expect(image.json.source).toBe(c.source);
  expect(image.json.vulnerabilities).toHaveLength(c.vulnerabilities);
  const runs = await admin('GET', `/api/v1/registries/${c.registry.name}/runs`);
  expect(runs.json.items.map((r: { id: string }) => r.id)).toEqual([run.json.id]);
}

/**
 * Adds a second registry over the same stand-in, not synced yet, for the findings-sync job to
 * find: the job syncs every enabled registry, and only this one has anything new. Returns its name.
 */
export async function addUnsyncedRegistry(call: Call, apiKey: string, c: RegistrySyncCase): Promise<string> {
  const name = `${c.registry.name}-scheduled`;
  const created = await call('admin', 'POST', '/api/v1/registries', {
    apiKey,
    body: JSON.stringify({ ...c.registry, name }),
  });
  expect(created.status, JSON.stringify(created.json)).toBe(201);
  return name;
}

/**
 * After the findings-sync job ran: the registry `addUnsyncedRegistry` added has one run, a
 * scheduled one that stored what a first sync delivers.
 */
export async function expectScheduledRun(
  call: Call,
  apiKey: string,
  name: string,
  c: RegistrySyncCase,
): Promise<void> {
  const runs = await call('admin', 'GET', `/api/v1/registries/${name}/runs`, { apiKey });
  expect(runs.json.items, JSON.stringify(runs.json)).toHaveLength(1);
  expect(runs.json.items[0]).toMatchObject({
    trigger: 'schedule',
    status: 'succeeded',
    errors: [],
    images: c.images,
  });
}

/** One HTTP answer as a runtime returned it: header names in lower case, the body as text. */
export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** What a runtime answered for the dashboard: `GET /`, its script, and `GET /` again with the ETag. */
export interface DashboardAnswers {
  index: RawAnswer;
  script: RawAnswer;
  notModified: RawAnswer;
}

/** The hashed script the built dashboard at `webDir` loads (dist/web/manifest.json). */
export function dashboardScript(webDir: string): string {
  return (JSON.parse(readFileSync(join(webDir, 'manifest.json'), 'utf8')) as { script: string }).script;
}

/**
 * The dashboard as a cloud's admin function serves it from its package (`webDir`, the copy the
 * package carries): the page revalidated by ETag, the content-hashed script cached for a year,
 * each with its content type, and 304 for a page the browser has.
 */
export function expectDashboardServed(answers: DashboardAnswers, webDir: string): void {
  const { index, script, notModified } = answers;
  expect(index.status, index.body.slice(0, 300)).toBe(200);
  expect(index.headers['content-type']).toBe('text/html; charset=utf-8');
  expect(index.headers['cache-control']).toBe('no-cache');
  expect(index.headers.etag).toMatch(/^"[\w-]{22}"$/);
  expect(index.headers['content-security-policy']).toContain("script-src 'self'");
  expect(index.body).toBe(readFileSync(join(webDir, 'index.html'), 'utf8'));
  const name = dashboardScript(webDir);
  expect(index.body).toContain(`src="/assets/${name}"`);
  expect(script.status).toBe(200);
  expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8');
  expect(script.headers['cache-control']).toBe('public, max-age=31536000, immutable');
  expect(script.headers.etag).toMatch(/^"[\w-]{22}"$/);
  expect(script.body).toBe(readFileSync(join(webDir, 'assets', name), 'utf8'));
  expect(notModified.status).toBe(304);
  expect(notModified.body).toBe('');
}
