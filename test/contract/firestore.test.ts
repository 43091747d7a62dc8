/**
 * The store contract on Firestore, against Google's Firestore emulator (started here, on a
 * free port), plus what is Firestore's own: item-size handling, TTL fields, prefixes, bulk
 * upserts and racing upserts of one image.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Firestore } from '@google-cloud/firestore';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createEmulatorClient,
  openFirestoreStore,
  openFirestoreStoreFromEnv,
} from '../../adapters/store/firestore/index.js';
import type { Vulnerability } from '../../core/domain.js';
import type { Store } from '../../core/ports.js';
import { type FirestoreServer, resetFirestore, startFirestoreServer } from '../support/firestore-server.js';
import { at, baseTime, digestOf, makeEvent, makeRule, makeScan, makeVulnerabilities } from './factories.js';
import { storeContract } from './store-contract.js';

let server: FirestoreServer;

beforeAll(async () => {
  server = await startFirestoreServer();
  // The emulator's first request (a cold JVM) can take longer than the store's 5 s deadline on
  // a loaded machine; one unhurried read here keeps that out of the first test.
  const warm = await openFirestoreStore({ client: client(), timeoutMs: 120_000, ensureSchema: true });
  await warm.close();
}, 180_000);
afterAll(async () => {
  await server?.stop();
});

function client(): Firestore {
  return createEmulatorClient(server.endpoint, server.env.GOOGLE_CLOUD_PROJECT!);
}

/** A store under a prefix of its own, so tests never see each other's documents. */
function openIsolated(options: { retentionDays?: number; prefix?: string } = {}): Promise<Store> {
  return openFirestoreStore({
    client: client(),
    prefix: options.prefix ?? `runs/${randomUUID()}`,
    retentionDays: options.retentionDays,
    ensureSchema: true,
    bulkThrottling: false,
  });
}

storeContract(
  'firestore (emulator)',
  () => openIsolated(),
  () => resetFirestore(server.endpoint),
);

describe('firestore store specifics', () => {
  const open: Store[] = [];
  const track = async (store: Promise<Store>) => {
    const s = await store;
    open.push(s);
    return s;
  };
  afterEach(async () => {
    for (const store of open.splice(0)) await store.close();
  });

  it('stores an image of 20,000 vulnerabilities, split into chunk documents past 1 MiB', async () => {
    const store = await track(openIsolated());
    // Random titles do not compress, so the gzipped list (~2.5 MB) must be split.
    const vulnerabilities: Vulnerability[] = makeVulnerabilities(20_000).map((v) => ({
      ...v,
      title: randomBytes(48).toString('base64'),
    }));
    const big = makeScan({ vulnerabilities, tags: ['huge'] });
    await store.scans.upsertScans([big]);
    expect(await store.scans.getScan(big.digest)).toEqual(big);

    // Replaced by a list that fits inline: the new one is read, the old chunks are deleted.
    const small = { ...big, vulnerabilities: vulnerabilities.slice(0, 10), scannedAt: at(baseTime(), 1) };
    await store.scans.upsertScans([small]);
    expect(await store.scans.getScan(big.digest)).toEqual(small);
  }, 120_000);

  it('stores an image of 20,000 ordinary vulnerabilities inline, compressed', async () => {
    const store = await track(openIsolated());
    const scan = makeScan({ vulnCount: 20_000 });
    await store.scans.upsertScans([scan]);
    expect(await store.scans.getScan(scan.digest.toUpperCase())).toEqual(scan);
  }, 60_000);

  it('sets expiresAt (the TTL field) on every event — the emulator does not enforce TTL, so deletion is not checked', async () => {
    const prefix = `runs/${randomUUID()}`;
    const store = await track(openIsolated({ prefix, retentionDays: 30 }));
    const event = makeEvent({ time: '2026-01-05T10:00:00.000Z' });
    await store.admissions.record(event);
    const db = client();
    try {
      const snap = await db.doc(`${prefix}/events/${event.id}`).get();
      const expiresAt = snap.get('expiresAt') as { toMillis(): number };
      expect(expiresAt.toMillis()).toBe(Date.parse('2026-01-05T10:00:00.000Z') + 30 * 86_400_000);
    } finally {
      await db.terminate();
    }
  });

  it('keeps stores under different prefixes apart', async () => {
    const a = await track(openIsolated({ prefix: 'tenants/a' }));
    const b = await track(openIsolated({ prefix: 'tenants/b' }));
    await a.rules.create(makeRule({ name: 'shared-name' }));
    await b.rules.create(makeRule({ name: 'shared-name' }));
    expect(await a.rules.list()).toHaveLength(1);
    expect(await b.rules.list()).toHaveLength(1);
    await expect(openIsolated({ prefix: 'not/a/document/path/x' }).then(() => 'opened')).rejects.toThrow(
      /document path/,
    );
  });

  it('opens from the environment variables of the emulator', async () => {
    const store = await track(
      openFirestoreStoreFromEnv({ ...server.env, PORTCULLIS_FIRESTORE_PREFIX: `runs/${randomUUID()}` }),
    );
    expect(await store.meta.setIfAbsent('from-env', 'yes')).toBe(true);
    expect(await store.meta.get('from-env')).toBe('yes');
    await expect(openFirestoreStoreFromEnv({ FIRESTORE_EMULATOR_HOST: server.endpoint })).rejects.toThrow(
      /GOOGLE_CLOUD_PROJECT/,
    );
  });

  it('merges racing upserts of one image from different sources without losing either', async () => {
    const store = await track(openIsolated());
    const digest = digestOf('racing-image');
    const sources = ['ecr', 'trivy', 'grype', 'native', 'acr', 'gar', 'inspector2'] as const;
    const scans = sources.map((source, i) =>
      makeScan({
        digest,
        source,
        tags: ['latest'],
        scannedAt: new Date(Date.UTC(2026, 0, 1, i)).toISOString(),
      }),
    );
    await Promise.all(scans.map((scan) => store.scans.upsertScans([scan])));
    const newest = scans.at(-1)!;
    expect(await store.scans.getScan(digest)).toEqual(newest);
    const { items } = await store.scans.listImages({ limit: 10 });
    expect(items.map((s) => s.source)).toEqual(['inspector2']);
    expect(await store.scans.resolveTag(newest.registry, newest.repository, 'latest')).toBe(digest);

    // Replacing the newest source's scan with an older one hands "newest" to the runner-up.
    await store.scans.upsertScans([{ ...newest, scannedAt: '2025-01-01T00:00:00.000Z' }]);
    const listed = await store.scans.listImages({ limit: 10 });
    expect(listed.items.map((s) => s.source)).toEqual(['gar']);
    expect(await store.scans.getScan(digest)).toEqual(scans[5]);
  });

  it('decides the newest scan from the scans themselves when an upsert stopped before committing the image', async () => {
    const prefix = `runs/${randomUUID()}`;
    const store = await track(openIsolated({ prefix }));
    const digest = digestOf('stopped-halfway');
    const grype = makeScan({ digest, source: 'grype', scannedAt: '2026-01-02T00:00:00.000Z', vulnCount: 2 });
    const trivy = makeScan({ digest, source: 'trivy', scannedAt: '2026-01-03T00:00:00.000Z', vulnCount: 5 });
    await store.scans.upsertScans([grype, trivy]);
    expect(await store.scans.getScan(digest)).toEqual(trivy);

    // A re-import of trivy's scan dated before grype's writes the scan document first and then
    // the image document; stopped in between, the image still names trivy as the newest.
    const olderTrivy = { ...trivy, scannedAt: '2026-01-01T00:00:00.000Z' };
    const db = client();
    try {
      const ref = db.doc(`${prefix}/scans/${digest}__trivy`);
      const stored = (await ref.get()).data()!;
      await ref.set({
        ...stored,
        scannedMs: Date.parse(olderTrivy.scannedAt),
        hash: 'a version the image does not record',
        summary: { ...stored.summary, scannedAt: olderTrivy.scannedAt },
      });
      expect((await db.doc(`${prefix}/images/${digest}`).get()).get('newest')).toBe('trivy');
    } finally {
      await db.terminate();
    }
    expect(await store.scans.getScan(digest)).toEqual(grype);

    // The retried import completes: the same answer, and the listing agrees.
    await store.scans.upsertScans([olderTrivy]);
    expect(await store.scans.getScan(digest)).toEqual(grype);
    expect((await store.scans.listImages({ limit: 10 })).items.map((s) => s.source)).toEqual(['grype']);
  });

  it('upserts 5,000 scans in one call, then skips them all when nothing changed', async () => {
    const store = await track(openIsolated());
    const scans = Array.from({ length: 5000 }, (_, i) =>
      makeScan({
        repository: `bulk/repo-${i % 50}`,
        digest: digestOf(`fs-bulk-${i}`),
        tags: [`b${i}`, 'latest'],
        vulnCount: 30,
        scannedAt: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
      }),
    );
    await store.scans.upsertScans(scans);
    await store.scans.upsertScans(scans);
    expect(await store.scans.getScan(scans[4999]!.digest)).toEqual(scans[4999]);
    expect(await store.scans.resolveTag(scans[0]!.registry, 'bulk/repo-49', 'latest')).toBe(
      scans[4999]!.digest,
    );
    const page = await store.scans.listImages({ limit: 1000, repository: 'bulk/repo-7' });
    expect(page.items).toHaveLength(100);
  }, 180_000);

  it('purges events across every shard and day without a TTL', async () => {
    const store = await track(openIsolated());
    const base = baseTime();
    const events = Array.from({ length: 60 }, (_, i) => makeEvent({ time: at(base, -i) }));
    await Promise.all(events.map((e) => store.admissions.record(e)));
    expect(await store.admissions.purgeBefore(at(base, -29.5))).toBe(30);
    const left = await store.admissions.query({ limit: 100 });
    expect(left.items).toHaveLength(30);
  });
});
