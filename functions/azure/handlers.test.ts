/**
 * The Azure handlers' pieces on their own: the two converters, the invocation logger, the
 * admin function's settings, the store's credential choice, and the handler factories over an
 * in-memory SQLite store. The whole scenario over Cosmos DB is test/integration/azure-functions.test.ts.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import azure from '@azure/functions';
import { DefaultAzureCredential } from '@azure/identity';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openSqliteStore } from '../../adapters/store/sqlite/index.js';
import { createServices } from '../../core/services/index.js';
import { parseApiConfig } from './config.js';
import {
  createApiHandler,
  createHttpHandler,
  createTimerHandler,
  createWebhookHandler,
  JOB_SCHEDULES,
  toFetchRequest,
  toHttpResponseInit,
} from './handlers.js';
import { contextLogger, invocationLogger, withInvocation } from './logging.js';
import { defaultCredential, openAzureStore } from './store.js';

const { HttpRequest, HttpResponse, InvocationContext } = azure;

type Logged = { level: string; line: string };

/** A real InvocationContext whose log lines are kept. */
function context(functionName = 'api', invocationId = `inv-${Math.random()}`) {
  const logged: Logged[] = [];
  const ctx = new InvocationContext({
    invocationId,
    functionName,
    logHandler: (level, ...args) => logged.push({ level, line: args.map(String).join(' ') }),
  });
  return { ctx, logged, messages: () => logged.map((l) => JSON.parse(l.line).message as string) };
}

describe('toFetchRequest', () => {
  it('keeps the method, the URL with its query string, every header and the body bytes', async () => {
    const bytes = gzipSync(Buffer.from('{"kind":"AdmissionReview"}'));
    const request = new HttpRequest({
      method: 'POST',
      url: 'https://func-x.azurewebsites.net/api/v1/findings:import?format=trivy&image=debian%3A10.8',
      headers: { 'content-type': 'application/json', authorization: 'Bearer pck_x', 'x-ms-client': 'a, b' },
      body: { bytes },
    });
    const converted = await toFetchRequest(request);
    expect(converted.method).toBe('POST');
    expect(converted.url).toBe(
      'https://func-x.azurewebsites.net/api/v1/findings:import?format=trivy&image=debian%3A10.8',
    );
    expect(new URL(converted.url).searchParams.get('image')).toBe('debian:10.8');
    expect(converted.headers.get('authorization')).toBe('Bearer pck_x');
    expect(converted.headers.get('content-type')).toBe('application/json');
    expect(converted.headers.get('x-ms-client')).toBe('a, b');
    // Binary bodies pass through unchanged (no string decoding on the way).
    expect(gunzipSync(Buffer.from(await converted.arrayBuffer())).toString()).toBe(
      '{"kind":"AdmissionReview"}',
    );
  });

  it('upper-cases methods fetch leaves alone (patch) and reads a string body', async () => {
    const request = new HttpRequest({
      method: 'patch',
      url: 'https://h/api/v1/rules/r1',
      body: { string: '{"enabled":false}' },
    });
    const converted = await toFetchRequest(request);
    expect(converted.method).toBe('PATCH');
    expect(await converted.text()).toBe('{"enabled":false}');
  });

  it('gives GET, HEAD and empty POST bodies no body at all', async () => {
    for (const method of ['GET', 'HEAD']) {
      const converted = await toFetchRequest(new HttpRequest({ method, url: 'https://h/healthz' }));
      expect(converted.method).toBe(method);
      expect(converted.body).toBeNull();
    }
    const empty = await toFetchRequest(new HttpRequest({ method: 'POST', url: 'https://h/admission/t' }));
    expect(empty.body).toBeNull();
    expect(await empty.text()).toBe('');
  });
});

describe('toHttpResponseInit', () => {
  it('keeps the status, every header and the body bytes, as the library reads them back', async () => {
    const response = new Response(JSON.stringify({ id: 'r1' }), {
      status: 201,
      headers: { 'content-type': 'application/json', etag: '"v1"', location: '/api/v1/rules/r1' },
    });
    const init = await toHttpResponseInit(response);
    expect(init.status).toBe(201);
    const back = new HttpResponse(init);
    expect(back.status).toBe(201);
    expect(back.headers.get('etag')).toBe('"v1"');
    expect(back.headers.get('location')).toBe('/api/v1/rules/r1');
    expect(back.headers.get('content-type')).toBe('application/json');
    expect(await back.json()).toEqual({ id: 'r1' });
  });

  it('passes binary bodies and repeated headers through', async () => {
    const bytes = new Uint8Array([0, 255, 1, 254, 10, 13]);
    const headers = new Headers();
    headers.append('set-cookie', 'a=1; Path=/');
    headers.append('set-cookie', 'b=2; Path=/');
    const init = await toHttpResponseInit(new Response(bytes, { status: 200, headers }));
    expect(init.headers).toEqual([
      ['set-cookie', 'a=1; Path=/'],
      ['set-cookie', 'b=2; Path=/'],
    ]);
    expect(new Uint8Array(await new HttpResponse(init).arrayBuffer())).toEqual(bytes);
  });

  it('has no body for an empty response (204, empty 200)', async () => {
    const noContent = await toHttpResponseInit(new Response(null, { status: 204 }));
    expect(noContent).toEqual({ status: 204, headers: [] });
    expect(new HttpResponse(noContent).status).toBe(204);
    const empty = await toHttpResponseInit(
      new Response(new Uint8Array(0), { status: 200, headers: { 'x-a': '1' } }),
    );
    expect(empty).toEqual({ status: 200, headers: [['x-a', '1']] });
  });
});

describe('invocation logging', () => {
  afterEach(() => vi.restoreAllMocks());

  it('writes JSON lines through the invocation each call runs in', async () => {
    const a = context('webhook');
    const b = context('api');
    await Promise.all([
      withInvocation(a.ctx, async () => {
        await new Promise((r) => setTimeout(r, 5));
        invocationLogger.warn('slow store', { ms: 900 });
      }),
      withInvocation(b.ctx, async () => invocationLogger.info('rule created', { id: 'r1' })),
    ]);
    expect(a.logged).toEqual([
      { level: 'warning', line: '{"level":"warn","message":"slow store","ms":900}' },
    ]);
    expect(b.logged).toEqual([
      { level: 'information', line: '{"level":"info","message":"rule created","id":"r1"}' },
    ]);
    contextLogger(a.ctx).error('boom');
    expect(a.logged[1]).toEqual({ level: 'error', line: '{"level":"error","message":"boom"}' });
  });

  it('falls back to the console outside an invocation', () => {
    const info = vi.spyOn(console, 'info').mockImplementation(() => {});
    invocationLogger.info('cold start', { ms: 1 });
    expect(info).toHaveBeenCalledWith('{"level":"info","message":"cold start","ms":1}');
  });
});

describe('parseApiConfig', () => {
  const base = { PORTCULLIS_WEBHOOK_BASE_URL: 'https://func-p.azurewebsites.net/' };

  it('reads the webhook base URL (without a trailing slash) and the admin key', () => {
    expect(parseApiConfig({ ...base, PORTCULLIS_ADMIN_KEY: 'pck_0123456789abcdef' })).toEqual({
      webhookBaseUrl: 'https://func-p.azurewebsites.net',
      adminKey: 'pck_0123456789abcdef',
      adminKeyUnresolved: false,
    });
    expect(parseApiConfig({ ...base, PORTCULLIS_ADMIN_KEY: '' })).toEqual({
      webhookBaseUrl: 'https://func-p.azurewebsites.net',
      adminKeyUnresolved: false,
    });
  });

  it('names the variable when the base URL is missing, not https, or has a query', () => {
    expect(() => parseApiConfig({})).toThrow(/PORTCULLIS_WEBHOOK_BASE_URL/);
    expect(() => parseApiConfig({ PORTCULLIS_WEBHOOK_BASE_URL: 'http://func-p.azurewebsites.net' })).toThrow(
      /PORTCULLIS_WEBHOOK_BASE_URL: must be the https/,
    );
    expect(() => parseApiConfig({ PORTCULLIS_WEBHOOK_BASE_URL: 'https://h/?a=1' })).toThrow(/query/);
    expect(() => parseApiConfig({ ...base, PORTCULLIS_ADMIN_KEY: 'short' })).toThrow(
      /PORTCULLIS_ADMIN_KEY: must be at least 16/,
    );
  });

  it('never takes an unresolved Key Vault reference for a key', () => {
    const config = parseApiConfig({
      ...base,
      PORTCULLIS_ADMIN_KEY: '@Microsoft.KeyVault(VaultName=kv-p;SecretName=portcullis-admin-key)',
    });
    expect(config.adminKey).toBeUndefined();
    expect(config.adminKeyUnresolved).toBe(true);
  });
});

describe('openAzureStore', () => {
  const env = { COSMOS_ENDPOINT: 'https://acct.documents.azure.com:443/' };

  it('uses the managed identity when there is no COSMOS_KEY, and the key otherwise', async () => {
    const credential = vi.fn(async () => ({ getToken: async () => null }));
    const keyless = await openAzureStore({ ...env, PORTCULLIS_STORE: 'cosmos' }, 90, credential);
    expect(credential).toHaveBeenCalledTimes(1);
    await keyless.close();
    const keyed = await openAzureStore({ ...env, COSMOS_KEY: 'a2V5' }, 90, credential);
    expect(credential).toHaveBeenCalledTimes(1);
    await keyed.close();
  });

  it('defaults to DefaultAzureCredential and refuses another store', async () => {
    expect(await defaultCredential()).toBeInstanceOf(DefaultAzureCredential);
    await expect(openAzureStore({ ...env, PORTCULLIS_STORE: 'dynamodb' }, 90)).rejects.toThrow(
      /PORTCULLIS_STORE: .*set it to "cosmos"/,
    );
    await expect(openAzureStore({}, 90, async () => ({ getToken: async () => null }))).rejects.toThrow(
      /COSMOS_ENDPOINT/,
    );
  });
});

describe('handler factories', () => {
  const request = (method: string, path: string, body?: string, key?: string) =>
    new HttpRequest({
      method,
      url: `https://func-p.azurewebsites.net${path}`,
      headers: key ? { authorization: `Bearer ${key}` } : {},
      ...(body === undefined ? {} : { body: { string: body } }),
    });

  it('answers 503 with the invocation id while the app cannot start, and retries on the next call', async () => {
    let attempts = 0;
    const handler = createHttpHandler(async () => {
      attempts += 1;
      if (attempts === 1) throw new Error('COSMOS_ENDPOINT: invalid');
      return { fetch: () => new Response('ok') };
    });
    const first = context('api', 'inv-1');
    const failed = await handler(request('GET', '/healthz'), first.ctx);
    expect(failed.status).toBe(503);
    expect(failed.jsonBody.error).toEqual({
      code: 'unavailable',
      message: 'Portcullis could not start; see the function logs for invocation inv-1',
    });
    expect(first.messages()).toEqual(['function could not start']);
    expect(first.logged[0]!.line).toContain('COSMOS_ENDPOINT: invalid');
    const second = await handler(request('GET', '/healthz'), context().ctx);
    expect(second.status).toBe(200);
  });

  it('serves only the webhook and /healthz from the webhook handler, with 4xx for bad input', async () => {
    const services = createServices(openSqliteStore({ path: ':memory:' }));
    const handler = createWebhookHandler({ services: async () => services });
    const unknown = await handler(request('POST', `/admission/pct_${'x'.repeat(43)}`, '{}'), context().ctx);
    expect(unknown.status).toBe(401);
    expect((await handler(request('GET', '/healthz'), context().ctx)).status).toBe(200);
    expect((await handler(request('GET', '/api/v1/rules'), context().ctx)).status).toBe(404);
    await services.store.close();
  });

  it('seeds the default rule and installs the admin key once; an unresolved secret is reported, not installed', async () => {
    const store = openSqliteStore({ path: ':memory:' });
    const services = createServices(store, { logger: invocationLogger });
    const key = `pck_${'b'.repeat(43)}`;
    const handler = createApiHandler({
      services: async () => services,
      env: { PORTCULLIS_WEBHOOK_BASE_URL: 'https://func-p.azurewebsites.net', PORTCULLIS_ADMIN_KEY: key },
    });
    const first = context();
    const rules = await handler(request('GET', '/api/v1/rules', undefined, key), first.ctx);
    expect(rules.status).toBe(200);
    expect(first.messages()).toEqual(
      expect.arrayContaining(['seeded the default rule', 'installed the bootstrap admin key']),
    );
    const text = await new HttpResponse(rules).text();
    expect(JSON.parse(text).items.map((r: { name: string }) => r.name)).toEqual([
      'default-audit-high-critical',
    ]);
    const second = context();
    await handler(request('GET', '/healthz'), second.ctx);
    expect(second.messages()).not.toContain('seeded the default rule');

    const fresh = createServices(openSqliteStore({ path: ':memory:' }), { logger: invocationLogger });
    const unresolved = createApiHandler({
      services: async () => fresh,
      env: {
        PORTCULLIS_WEBHOOK_BASE_URL: 'https://func-p.azurewebsites.net',
        PORTCULLIS_ADMIN_KEY: '@Microsoft.KeyVault(VaultName=kv;SecretName=portcullis-admin-key)',
      },
    });
    const third = context();
    expect((await unresolved(request('GET', '/healthz'), third.ctx)).status).toBe(200);
    expect(third.logged.find((l) => l.level === 'error')?.line).toContain('could not resolve');
    expect(await fresh.apiKeys.list()).toEqual([]);
    await store.close();
    await fresh.store.close();
  });

  it('runs a job from a timer, warns when past due, and fails the run when the job fails', async () => {
    const services = createServices(openSqliteStore({ path: ':memory:' }), { logger: invocationLogger });
    const timer = {
      isPastDue: true,
      schedule: { adjustForDST: false },
      scheduleStatus: {
        last: '2025-01-01T00:05:00Z',
        next: '2025-01-01T01:05:00Z',
        lastUpdated: '2025-01-01T00:05:00Z',
      },
    };
    const run = context('expire-exemptions');
    await createTimerHandler('expire-exemptions', async () => services)(timer, run.ctx);
    expect(run.messages()).toEqual(['timer is past due', 'job finished']);
    const broken = createTimerHandler('monitoring-upkeep', async () => {
      throw new Error('store down');
    });
    await expect(broken({ ...timer, isPastDue: false }, context().ctx)).rejects.toThrow('store down');
    await services.store.close();
  });

  it('has a six-field NCRONTAB schedule for every job', () => {
    for (const schedule of Object.values(JOB_SCHEDULES)) expect(schedule.split(' ')).toHaveLength(6);
  });
});
