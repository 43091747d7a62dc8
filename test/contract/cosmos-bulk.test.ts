/**
 * Cosmos DB specifics of scans against the local server: documents stay under the 2 MB item
 * limit however large a scan is, bulk upserts of thousands are idempotent and write nothing
 * when nothing changed, throttled requests are retried (and, when throttling never ends,
 * reported as UnavailableError), and the webhook's look-ups are point reads.
 */
import { randomBytes } from 'node:crypto';
import type { CosmosClient } from '@azure/cosmos';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CHUNK_CHARS, createCosmosClient, openCosmosStore } from '../../adapters/store/cosmos/index.js';
import { countSeverities, type ImageScan, SEVERITIES, type Vulnerability } from '../../core/domain.js';
import { UnavailableError } from '../../core/errors.js';
import type { Store } from '../../core/ports.js';
import { type CosmosServer, startCosmosServer } from '../support/cosmos-server.js';
import { type CosmosProxy, startCosmosProxy } from './cosmos-proxy.js';
import { digestOf, makeApiKey, makeCluster, makeScan, sha256, unique } from './factories.js';

/** Cosmos DB's limit on one item. */
const MAX_ITEM_BYTES = 2 * 1024 * 1024;

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

/** Findings with long, random titles: they gzip poorly, as real advisories' text does. */
function bigVulnerabilityList(n: number): Vulnerability[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `CVE-2025-${String(100000 + i)}`,
    severity: SEVERITIES[i % SEVERITIES.length]!,
    cvss: (i % 100) / 10,
    package: `lib${randomBytes(4).toString('hex')}`,
    version: `${i % 9}.${i % 7}.${i % 5}`,
    fixedVersion: `${i % 9}.${i % 7}.${(i % 5) + 1}`,
    fixAvailable: true,
    title: randomBytes(60).toString('base64'),
  }));
}

function withVulnerabilities(scan: ImageScan, vulnerabilities: Vulnerability[]): ImageScan {
  return { ...scan, vulnerabilities, counts: countSeverities(vulnerabilities) };
}

describe('cosmos scans: item size, bulk, throttling, point reads', () => {
  const opened: Store[] = [];
  const databases: string[] = [];
  const proxies: CosmosProxy[] = [];
  const open = async (endpoint = server.endpoint, database = `bulk-${unique()}`) => {
    if (!databases.includes(database)) databases.push(database);
    const store = await openCosmosStore({
      client: createCosmosClient({ endpoint, key: server.env.COSMOS_KEY }),
      database,
      ensureSchema: true,
    });
    opened.push(store);
    return { store, db: admin.database(database), database };
  };
  const proxy = async () => {
    const p = await startCosmosProxy(server.endpoint);
    proxies.push(p);
    return p;
  };

  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
    for (const p of proxies.splice(0)) await p.close();
    for (const id of databases.splice(0)) await admin.database(id).delete();
  });

  it('stores an image with 20,000 vulnerabilities in items under the 2 MB limit, and drops replaced chunks', async () => {
    const { store, db } = await open();
    const scan = withVulnerabilities(makeScan({ tags: ['huge'] }), bigVulnerabilityList(20_000));
    await store.scans.upsertScans([scan]);
    expect(await store.scans.getScan(scan.digest)).toEqual(scan);

    const items = async () =>
      (
        await db
          .container('scans')
          .items.query({
            query: 'SELECT * FROM c WHERE c.pk = @pk',
            parameters: [{ name: '@pk', value: scan.digest }],
          })
          .fetchAll()
      ).resources;
    const first = await items();
    for (const item of first) expect(Buffer.byteLength(JSON.stringify(item))).toBeLessThan(MAX_ITEM_BYTES);
    const chunks = first.filter((i) => String(i.id).startsWith('chunk|'));
    expect(chunks.length).toBeGreaterThanOrEqual(2);
    expect(chunks.every((c) => c.data.length <= CHUNK_CHARS)).toBe(true);

    // A smaller re-scan replaces the chunks; none of the old ones are left behind.
    const smaller = withVulnerabilities(
      { ...scan, scannedAt: '2026-01-06T00:00:00.000Z' },
      bigVulnerabilityList(12_000),
    );
    await store.scans.upsertScans([smaller]);
    expect(await store.scans.getScan(scan.digest)).toEqual(smaller);
    // Exactly one version is left: the one the image document names, with its chunks.
    const second = await items();
    const { resource: image } = await db.container('images').item('image', scan.digest).read();
    const current = image?.sources.ecr;
    expect(second.filter((i) => String(i.id).startsWith('scan|')).map((i) => i.id)).toEqual([
      `scan|ecr|${current.blob}`,
    ]);
    const left = second.filter((i) => String(i.id).startsWith('chunk|'));
    expect(left).toHaveLength(current.chunks);
    expect(left.every((c) => String(c.id).includes(`|${current.blob}|`))).toBe(true);
  }, 60_000);

  it('upserts 5,000 scans in one call, and a re-sync of the same scans writes nothing', async () => {
    const { store, db } = await open();
    const scans = Array.from({ length: 5000 }, (_, i) =>
      makeScan({
        repository: `fleet/svc-${i % 50}`,
        digest: digestOf(`fleet-${i}`),
        tags: [`v${i}`, 'latest'],
        vulnCount: 10,
        scannedAt: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
      }),
    );
    await store.scans.upsertScans(scans);
    for (const i of [0, 2500, 4999]) expect(await store.scans.getScan(scans[i]!.digest)).toEqual(scans[i]);
    // 'latest' follows the newest scan of each repository.
    expect(await store.scans.resolveTag(scans[0]!.registry, 'fleet/svc-49', 'latest')).toBe(
      scans[4999]!.digest,
    );
    const page = await store.scans.listImages({
      limit: 1000,
      registry: scans[0]!.registry,
      repository: 'fleet/svc-7',
    });
    expect(page.items).toHaveLength(100);

    const etags = async () => {
      const out: (string | undefined)[] = [];
      for (const i of [0, 1234, 4999]) {
        const s = scans[i]!;
        const image = await db.container('images').item('image', s.digest).read();
        out.push(image.etag);
        out.push(
          (await db.container('scans').item(`scan|ecr|${image.resource?.sources.ecr.blob}`, s.digest).read())
            .etag,
        );
        out.push((await db.container('tags').item(`v${i}`, `${s.registry}/${s.repository}`).read()).etag);
      }
      return out;
    };
    const before = await etags();
    await store.scans.upsertScans(scans);
    expect(await etags()).toEqual(before);
  }, 180_000);

  it('keeps every source and exactly one version of each when writers race on one digest', async () => {
    const { store, db } = await open();
    const digest = digestOf('contended');
    const sources = ['ecr', 'inspector2', 'acr', 'gar', 'trivy', 'grype', 'native'] as const;
    const bySource = sources.map((source, i) =>
      makeScan({ digest, source, scannedAt: new Date(Date.UTC(2026, 0, 1, i)).toISOString(), vulnCount: i }),
    );
    // Five writers of the same (digest, source) with different content, racing the others.
    const rewrites = [1, 2, 3, 4, 5].map((n) => ({ ...bySource[0]!, statusReason: `rewrite ${n}` }));
    await Promise.all([...bySource, ...rewrites].map((scan) => store.scans.upsertScans([scan])));

    expect(await store.scans.getScan(digest)).toEqual(bySource[6]);
    const { resource: image } = await db.container('images').item('image', digest).read();
    expect(Object.keys(image?.sources).sort()).toEqual([...sources].sort());
    const { resources: versions } = await db
      .container('scans')
      .items.query({
        query: 'SELECT c.id FROM c WHERE c.pk = @pk',
        parameters: [{ name: '@pk', value: digest }],
      })
      .fetchAll();
    expect(versions.map((v) => v.id).sort()).toEqual(
      sources.map((source) => `scan|${source}|${image?.sources[source].blob}`).sort(),
    );
  });

  it('answers the webhook’s look-ups with point reads only', async () => {
    const { database } = await open();
    const { store: direct } = await open(server.endpoint, database);
    const scan = makeScan({ tags: ['1.0'] });
    const cluster = makeCluster({ tokenHash: sha256('tok') });
    const key = makeApiKey({ secret: 'pk_secret' });
    await direct.scans.upsertScans([scan]);
    await direct.clusters.create(cluster);
    await direct.apiKeys.create(key);

    const p = await proxy();
    const { store } = await open(p.endpoint, database);
    await store.meta.get('warm-up'); // the SDK's first request reads account metadata
    p.requests.length = 0;
    expect(await store.scans.getScan(scan.digest)).toEqual(scan);
    expect(await store.scans.resolveTag(scan.registry, scan.repository, '1.0')).toBe(scan.digest);
    expect(await store.clusters.findByTokenHash(sha256('tok'))).toEqual(cluster);
    expect(await store.apiKeys.findByHash(sha256('pk_secret'))).toEqual(key);
    expect(await store.scans.getScan(digestOf('unknown'))).toBeNull();
    const docs = p.requests.filter((r) => r.path.includes('/docs/'));
    expect(p.requests.filter((r) => r.kind === 'query')).toEqual([]);
    expect(docs.every((r) => r.method === 'GET')).toBe(true);
    // getScan 2 + resolveTag 1 + findByTokenHash 2 + findByHash 2 + unknown digest 1.
    expect(docs).toHaveLength(8);
  });

  it('retries throttled bulk and point requests until every scan is stored', async () => {
    const p = await proxy();
    let n = 0;
    p.throttle = (r) => r.method !== 'GET' && n++ % 3 === 0;
    const { store } = await open(p.endpoint);
    const many = Array.from({ length: 300 }, (_, i) =>
      makeScan({ digest: digestOf(`t-${i}`), tags: [`t${i}`] }),
    );
    const few = Array.from({ length: 20 }, (_, i) =>
      makeScan({ digest: digestOf(`f-${i}`), tags: [`f${i}`] }),
    );
    await store.scans.upsertScans(many);
    await store.scans.upsertScans(few);
    expect(p.requests.some((r) => r.throttled && r.kind === 'batch')).toBe(true);
    expect(p.requests.some((r) => r.throttled && r.kind !== 'batch')).toBe(true);
    p.throttle = () => false;
    for (const s of [many[0]!, many[299]!, few[0]!, few[19]!])
      expect(await store.scans.getScan(s.digest)).toEqual(s);
  }, 60_000);

  it('gives up with UnavailableError when throttling never ends', async () => {
    const p = await proxy();
    const { store } = await open(p.endpoint);
    p.throttle = (r) => r.path.includes('/docs');
    const read = await store.rules.get('any').catch((e: unknown) => e);
    expect(read).toBeInstanceOf(UnavailableError);
    expect((read as UnavailableError).cause).toMatchObject({ code: 429 });
    await expect(store.scans.upsertScans([makeScan()])).rejects.toBeInstanceOf(UnavailableError);
    await expect(store.rules.list()).rejects.toBeInstanceOf(UnavailableError);
  }, 60_000);
});
