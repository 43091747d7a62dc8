/**
 * The registry routes through the shared Hono application over the real SQLite store, with a
 * scripted connector (a test double of the `RegistryConnector` port): statuses, roles, bad
 * input, 202 with a background run against 200 with `wait=true`, 409 while a run holds the
 * lease, 503 without connectors, and stopping runs at shutdown.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../adapters/store/sqlite/index.js';
import type { SyncRun } from '../../core/domain.js';
import type { Store } from '../../core/ports.js';
import { createServices, type Services } from '../../core/services/index.js';
import type { ConnectorFactory, SyncBatch } from '../../core/sync.js';
import { createApp } from '../../functions/app.js';
import { scan } from './evaluate-helpers.js';

const ADMIN = `pck_${'a'.repeat(43)}`;
const READER = `pck_${'r'.repeat(43)}`;
const digest = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;

/** Each run waits for `release()` after its first batch when `hold` is set. */
let hold: Promise<void> | undefined;
const connectors: ConnectorFactory = () => ({
  async *sync(): AsyncGenerator<SyncBatch, { checkpoint: string }, void> {
    yield { scans: [scan('registry.example.com/shop/web:1.0', digest(1), [])], checkpoint: 'one' };
    if (hold !== undefined) await hold;
    return { checkpoint: 'end' };
  },
});

const stores: Store[] = [];
afterAll(async () => {
  for (const s of stores) await s.close();
});

async function setup(options: { connectors?: ConnectorFactory; background?: boolean } = {}) {
  const store = openSqliteStore({ path: ':memory:' });
  stores.push(store);
  const services = createServices(store, options.connectors ? { connectors: options.connectors } : {});
  await services.apiKeys.ensure(ADMIN, 'admin', 'SecurityAdmin');
  await services.apiKeys.ensure(READER, 'reader', 'SecurityReader');
  const app = createApp({ services, syncInBackground: options.background === true });
  const call = async (method: string, path: string, o: { key?: string; body?: unknown } = {}) => {
    const res = await app.request(`https://portcullis.test/api/v1${path}`, {
      method,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${o.key ?? ADMIN}` },
      body: o.body === undefined ? undefined : JSON.stringify(o.body),
    });
    const text = await res.text();
    return {
      status: res.status,
      location: res.headers.get('location'),
      // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON answers
      json: (text ? JSON.parse(text) : undefined) as any,
    };
  };
  return { services, call };
}

const ecr = { name: 'prod-ecr', kind: 'ecr', settings: { region: 'eu-west-1' } };

describe('registry routes', () => {
  let services: Services;
  let call: Awaited<ReturnType<typeof setup>>['call'];
  beforeAll(async () => {
    ({ services, call } = await setup({ connectors, background: true }));
  });

  it('adds, reads, disables and removes a registry, by id or name', async () => {
    const created = await call('POST', '/registries', { body: { ...ecr, name: 'temp' } });
    expect(created.status).toBe(201);
    expect(created.location).toBe(`/api/v1/registries/${created.json.id}`);
    expect(created.json).toMatchObject({
      name: 'temp',
      kind: 'ecr',
      enabled: true,
      createdBy: 'apikey:admin',
    });
    expect(created.json.settings).toEqual({ region: 'eu-west-1', scanning: 'basic' });
    expect((await call('GET', '/registries/temp')).json.id).toBe(created.json.id);
    expect((await call('GET', `/registries/${created.json.id}`)).json.name).toBe('temp');
    expect((await call('POST', '/registries/temp:disable')).json.enabled).toBe(false);
    expect(
      (await call('GET', '/registries', { key: READER })).json.items.map((r: { name: string }) => r.name),
    ).toContain('temp');
    expect((await call('DELETE', '/registries/temp')).status).toBe(204);
    expect((await call('GET', '/registries/temp')).status).toBe(404);
  });

  it('answers bad input with 4xx and a message that helps', async () => {
    const unknown = await call('POST', '/registries', { body: { ...ecr, colour: 'blue' } });
    expect(unknown.status).toBe(400);
    expect(unknown.json.error.message).toMatch(/Unrecognized key: "colour"/);
    const kind = await call('POST', '/registries', { body: { name: 'x', kind: 'quay', settings: {} } });
    expect(kind.status).toBe(400);
    expect(kind.json.error.message).toMatch(
      /kind: Invalid discriminator value. Expected 'ecr' \| 'acr' \| 'gar'/,
    );
    const acr = await call('POST', '/registries', { body: { name: 'x', kind: 'acr', settings: {} } });
    expect(acr.json.error.details).toContainEqual({
      path: 'settings.subscriptions',
      message: expect.any(String),
    });
    expect((await call('POST', '/registries', { body: ecr, key: READER })).status).toBe(403);
    expect((await call('POST', '/registries/prod-ecr:frobnicate')).status).toBe(404);
    expect((await call('POST', '/registries/nope:sync')).status).toBe(404);
    expect((await call('GET', '/syncruns/nope')).status).toBe(404);
    expect((await call('GET', '/syncruns?limit=0')).status).toBe(400);
  });

  it('starts a run in the background (202), refuses another while it holds the lease (409), then records it', async () => {
    expect((await call('POST', '/registries', { body: ecr })).status).toBe(201);
    let release!: () => void;
    hold = new Promise<void>((r) => {
      release = r;
    });
    const started = await call('POST', '/registries/prod-ecr:sync');
    expect(started.status).toBe(202);
    expect(started.json).toMatchObject({
      status: 'running',
      trigger: 'manual',
      registryName: 'prod-ecr',
      images: 0,
    });
    expect(started.location).toBe(`/api/v1/syncruns/${started.json.id}`);
    const again = await call('POST', '/registries/prod-ecr:sync?wait=true');
    expect(again.status).toBe(409);
    expect(again.json.error.message).toMatch(/being synced already/);
    expect((await call('POST', '/registries/prod-ecr:sync', { key: READER })).status).toBe(403);

    release();
    hold = undefined;
    let run: SyncRun = started.json;
    for (let i = 0; i < 100 && run.status === 'running'; i++) {
      await new Promise((r) => setTimeout(r, 10));
      run = (await call('GET', `/syncruns/${started.json.id}`, { key: READER })).json;
    }
    expect(run).toMatchObject({ status: 'succeeded', images: 1, checkpointAfter: 'end' });

    const waited = await call('POST', '/registries/prod-ecr:sync?wait=true');
    expect(waited.status).toBe(200);
    expect(waited.json).toMatchObject({ status: 'succeeded', checkpointBefore: 'end' });
    const runs = await call('GET', '/registries/prod-ecr/runs?limit=1', { key: READER });
    expect(runs.json.items.map((r: SyncRun) => r.id)).toEqual([waited.json.id]);
    expect((await call('GET', '/syncruns')).json.items).toHaveLength(2);
    expect((await call('POST', '/registries/prod-ecr:sync?wait=maybe')).status).toBe(400);
    expect(services.sync).toBeDefined();
  });

  it('lists the routes in the OpenAPI document', async () => {
    const doc = (await call('GET', '/openapi.json')).json;
    for (const path of ['/api/v1/registries', '/api/v1/registries/{ref}:sync', '/api/v1/syncruns/{id}']) {
      expect(doc.paths[path], path).toBeDefined();
    }
  });
});

describe('where runs cannot go on in the background', () => {
  it('finishes the run before answering (200)', async () => {
    const { call } = await setup({ connectors });
    await call('POST', '/registries', { body: ecr });
    const run = await call('POST', '/registries/prod-ecr:sync');
    expect(run.status).toBe(200);
    expect(run.json).toMatchObject({ status: 'succeeded', images: 1 });
  });

  it('answers 503 with a clear message where no connectors are configured', async () => {
    const { call } = await setup();
    expect((await call('POST', '/registries', { body: ecr })).status).toBe(201);
    const run = await call('POST', '/registries/prod-ecr:sync');
    expect(run.status).toBe(503);
    expect(run.json.error.message).toBe(
      'registry sync is not available in this runtime: no connectors are configured',
    );
  });
});

describe('shutdown', () => {
  it('stops a run going on, records it as failed and releases its lease', async () => {
    let entered!: () => void;
    const inside = new Promise<void>((r) => {
      entered = r;
    });
    const stuck: ConnectorFactory = () => ({
      async *sync(context) {
        yield { scans: [], checkpoint: 'first' };
        entered();
        // A connector that watches its signal: stops as soon as it is aborted.
        await new Promise((_, reject) =>
          context.signal.addEventListener('abort', () => reject(context.signal.reason)),
        );
        return { checkpoint: 'never' };
      },
    });
    const { services, call } = await setup({ connectors: stuck, background: true });
    await call('POST', '/registries', { body: ecr });
    const started = await call('POST', '/registries/prod-ecr:sync');
    await inside;
    await services.sync.stop();
    const run = (await call('GET', `/syncruns/${started.json.id}`)).json;
    expect(run).toMatchObject({
      status: 'failed',
      checkpointAfter: 'first',
      errors: ['stopped: Portcullis is shutting down'],
    });
    // The lease is free: the next sync starts at once.
    expect((await call('POST', '/registries/prod-ecr:sync')).status).toBe(202);
    await services.sync.stop();
  });
});
