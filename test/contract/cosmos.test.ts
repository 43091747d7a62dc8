/**
 * The store contract on Cosmos DB, against the local server of TOOLING.md started in a
 * separate process (a fresh database per test, deleted after it), plus what is Cosmos DB's
 * own: container definitions, TTL attributes, unique keys under races, configuration.
 * Large items, bulk upserts and throttling are in cosmos-bulk.test.ts.
 */
import { randomBytes } from 'node:crypto';
import type { CosmosClient } from '@azure/cosmos';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  COSMOS_CONTAINERS,
  createCosmosClient,
  eventPk,
  openCosmosStore,
  openCosmosStoreFromEnv,
  parseCosmosEnv,
} from '../../adapters/store/cosmos/index.js';
import { ConflictError, ValidationError } from '../../core/errors.js';
import type { Store } from '../../core/ports.js';
import { type CosmosServer, startCosmosServer } from '../support/cosmos-server.js';
import { baseTime, makeCluster, makeEvent, makeRule, sha256, unique } from './factories.js';
import { storeContract } from './store-contract.js';

let server: CosmosServer;
let admin: CosmosClient;

beforeAll(async () => {
  server = await startCosmosServer();
  admin = createCosmosClient({ endpoint: server.endpoint, key: server.env.COSMOS_KEY });
});

afterAll(async () => {
  admin?.dispose();
  await server?.stop();
});

const client = () => createCosmosClient({ endpoint: server.endpoint, key: server.env.COSMOS_KEY });

let database: string | undefined;
storeContract(
  'cosmos',
  async () => {
    database = `contract-${unique()}`;
    return openCosmosStore({ client: client(), database, ensureSchema: true });
  },
  async () => {
    if (database !== undefined) await admin.database(database).delete();
    database = undefined;
  },
);

describe('cosmos store specifics', () => {
  const opened: Store[] = [];
  const databases: string[] = [];
  const open = async (options: Partial<Parameters<typeof openCosmosStore>[0]> = {}) => {
    const id = options.database ?? `specific-${unique()}`;
    if (!databases.includes(id)) databases.push(id);
    const store = await openCosmosStore({ client: client(), database: id, ensureSchema: true, ...options });
    opened.push(store);
    return { store, db: admin.database(id) };
  };

  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
    for (const id of databases.splice(0)) await admin.database(id).delete();
  });

  it('creates every container as COSMOS_CONTAINERS declares it (what iac/azure must match)', async () => {
    const { db } = await open({ prefix: 'pfx-' });
    for (const spec of COSMOS_CONTAINERS) {
      const { resource } = await db.container(`pfx-${spec.name}`).read();
      expect(resource?.partitionKey?.paths).toEqual([spec.partitionKeyPath]);
      expect(resource?.uniqueKeyPolicy?.uniqueKeys.map((k) => k.paths)).toEqual(spec.uniqueKeys);
      expect(resource?.indexingPolicy?.compositeIndexes ?? []).toEqual(spec.indexingPolicy.compositeIndexes);
      expect(resource?.defaultTtl).toEqual(spec.defaultTtl);
    }
    const events = COSMOS_CONTAINERS.find((c) => c.name === 'admissions');
    expect(events?.defaultTtl).toBe(90 * 86_400);
    // The payload containers are not indexed at all; only listed paths are anywhere.
    for (const spec of COSMOS_CONTAINERS) {
      expect(spec.indexingPolicy.excludedPaths).toContainEqual({ path: '/*' });
    }
  });

  it('sets a TTL on every event, counted from its time (the local server does not enforce TTL, so expiry itself is not observed)', async () => {
    const now = Date.now();
    const { store, db } = await open({ retentionDays: 30, clock: { now: () => new Date(now) } });
    const recent = makeEvent({ time: new Date(baseTime(now)).toISOString() });
    const old = makeEvent({ time: new Date(now - 31 * 86_400_000).toISOString(), cluster: 'dev' });
    await store.admissions.record(recent);
    await store.admissions.record(old);
    const raw = async (e: typeof recent) =>
      (
        await db
          .container('admissions')
          .item(e.id, eventPk(e.cluster, Date.parse(e.time)))
          .read()
      ).resource;
    const expected = (Date.parse(recent.time) + 30 * 86_400_000 - now) / 1000;
    expect((await raw(recent))?.ttl).toBeGreaterThanOrEqual(Math.floor(expected));
    expect((await raw(recent))?.ttl).toBeLessThanOrEqual(Math.ceil(expected));
    // Already past retention when recorded: it goes at the next TTL sweep.
    expect((await raw(old))?.ttl).toBe(1);
    const { resource } = await db.container('admissions').read();
    expect(resource?.defaultTtl).toBe(30 * 86_400);
  });

  it('partitions events by cluster and UTC day', async () => {
    const { store, db } = await open();
    const event = makeEvent({ cluster: 'prod-eu', time: '2026-03-04T23:59:59.999+00:00' });
    await store.admissions.record(event);
    const { resource } = await db.container('admissions').item(event.id, 'prod-eu|2026-03-04').read();
    expect(resource?.event).toEqual(event);
  });

  it('keeps rule names unique under racing creates that differ only in case', async () => {
    const { store } = await open();
    const names = ['Racing', 'racing', 'RACING', 'rAcInG', 'racinG', 'Racing', 'RACINg', 'racING'];
    const results = await Promise.allSettled(names.map((name) => store.rules.create(makeRule({ name }))));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) {
      if (r.status === 'rejected') {
        expect(r.reason).toBeInstanceOf(ConflictError);
        expect((r.reason as ConflictError).cause).toMatchObject({ code: 409 });
      }
    }
    expect(await store.rules.list()).toHaveLength(1);
  });

  it('ignores a token document its cluster no longer carries (a rotation cut short)', async () => {
    const { store, db } = await open();
    const cluster = makeCluster({ tokenHash: sha256('current') });
    await store.clusters.create(cluster);
    // What a rotation that failed after writing its new token document leaves behind.
    const stray = sha256('stray');
    await db.container('clusters').items.create({ id: stray, pk: `token|${stray}`, clusterId: cluster.id });
    expect(await store.clusters.findByTokenHash(stray)).toBeNull();
    expect(await store.clusters.findByTokenHash(sha256('current'))).toEqual(cluster);
  });

  it('opens from the environment the test server describes', async () => {
    const id = `env-${unique()}`;
    databases.push(id);
    const store = await openCosmosStoreFromEnv(
      { ...server.env, PORTCULLIS_COSMOS_DATABASE: id },
      { retentionDays: 7 },
    );
    opened.push(store);
    await store.meta.set('k', 'v');
    expect(await store.meta.get('k')).toBe('v');
    const { resource } = await admin.database(id).container('admissions').read();
    expect(resource?.defaultTtl).toBe(7 * 86_400);
  });

  it('names the variable that is missing or wrong', () => {
    expect(() => parseCosmosEnv({})).toThrow(/COSMOS_ENDPOINT/);
    expect(() => parseCosmosEnv({ COSMOS_ENDPOINT: 'not a url', COSMOS_KEY: 'k' })).toThrow(
      /COSMOS_ENDPOINT/,
    );
    expect(() => parseCosmosEnv({ COSMOS_ENDPOINT: 'https://a.documents.azure.com:443/' })).toThrow(
      /COSMOS_KEY/,
    );
    expect(() =>
      parseCosmosEnv({
        COSMOS_ENDPOINT: 'https://a.documents.azure.com:443/',
        COSMOS_KEY: 'k',
        PORTCULLIS_COSMOS_ENSURE_SCHEMA: 'yes',
      }),
    ).toThrow(/PORTCULLIS_COSMOS_ENSURE_SCHEMA/);
    const config = parseCosmosEnv({ COSMOS_ENDPOINT: 'https://a.documents.azure.com:443/', COSMOS_KEY: 'k' });
    expect(config).toMatchObject({ database: 'portcullis', prefix: '', ensureSchema: false });
  });

  it('gzips a rule too large for an item as JSON, and refuses one that cannot fit even so', async () => {
    const { store, db } = await open();
    const exemptions = Array.from({ length: 1000 }, (_, i) => ({
      id: `ex-${i}`,
      type: 'CVE' as const,
      match: 'Equals' as const,
      value: `CVE-2024-${10000 + i}`,
      reason: `accepted risk: no upstream fix, mitigated by network policy (ticket SEC-${i}). `.repeat(20),
      createdBy: 'alice',
      createdAt: '2026-01-05T10:00:00.000Z',
    }));
    const big = makeRule({ version: 'v1', exemptions });
    await store.rules.create(big);
    const { resource } = await db.container('rules').item(big.id, 'rule').read();
    expect(resource?.rule).toBeUndefined();
    expect(typeof resource?.ruleGz).toBe('string');
    expect(await store.rules.get(big.id)).toEqual(big);
    expect(await store.rules.getByName(big.name.toUpperCase())).toEqual(big);
    const next = { ...big, description: 'still big', version: 'v2' };
    await store.rules.update(next, 'v1');
    expect(await store.rules.list()).toEqual([next]);

    const noise = exemptions.map((e) => ({ ...e, reason: randomBytes(1500).toString('base64') }));
    await expect(store.rules.create(makeRule({ exemptions: noise }))).rejects.toBeInstanceOf(ValidationError);
  });

  it('stores ids and keys that Cosmos DB forbids in document ids', async () => {
    const { store } = await open();
    for (const key of ['a/b', 'what?', '#hash', 'back\\slash', 'x'.repeat(300)]) {
      expect(await store.meta.setIfAbsent(key, key)).toBe(true);
      expect(await store.meta.get(key)).toBe(key);
    }
    const rule = makeRule({ id: 'team/rule#1?' });
    await store.rules.create(rule);
    expect(await store.rules.get('team/rule#1?')).toEqual(rule);
  });
});
