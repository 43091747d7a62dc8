/**
 * The store contract on the embedded SQLite store (a temp file, and ':memory:'), plus what is
 * SQLite's own: migrations, pragmas, durability across reopen, retention, bulk speed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'libsql';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MIGRATIONS, openSqliteStore } from '../../adapters/store/sqlite/index.js';
import { ConflictError, VersionConflictError } from '../../core/errors.js';
import type { Store } from '../../core/ports.js';
import { at, baseTime, digestOf, makeEvent, makeRule, makeScan } from './factories.js';
import { storeContract } from './store-contract.js';

let dir: string | undefined;
storeContract(
  'sqlite (temp file)',
  async () => {
    dir = mkdtempSync(join(tmpdir(), 'portcullis-sqlite-'));
    return openSqliteStore({ path: join(dir, 'db', 'portcullis.db') });
  },
  async () => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  },
);

storeContract('sqlite (:memory:)', async () => openSqliteStore({ path: ':memory:' }));

describe('sqlite store specifics', () => {
  let tmp: string;
  const open: Store[] = [];
  const openAt = (options: Partial<Parameters<typeof openSqliteStore>[0]> = {}) => {
    const store = openSqliteStore({ path: join(tmp, 'portcullis.db'), ...options });
    open.push(store);
    return store;
  };

  beforeEach(() => {
    tmp = mkdtempSync(join(tmpdir(), 'portcullis-sqlite-'));
  });
  afterEach(async () => {
    for (const store of open.splice(0)) await store.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  function inspect<T>(fn: (db: InstanceType<typeof Database>) => T): T {
    const db = new Database(join(tmp, 'portcullis.db'));
    try {
      return fn(db);
    } finally {
      db.close();
    }
  }

  it('applies each migration once, in WAL mode, and keeps data across a reopen', async () => {
    const first = openAt();
    const rule = makeRule();
    await first.rules.create(rule);
    await first.close();
    const second = openAt();
    expect(await second.rules.get(rule.id)).toEqual(rule);
    const { versions, mode } = inspect((db) => ({
      versions: db.prepare('SELECT version FROM schema_migrations ORDER BY version').raw().all(),
      mode: db.prepare('PRAGMA journal_mode').raw().all(),
    }));
    expect(versions).toEqual(MIGRATIONS.map((m) => [m.version]));
    expect(mode).toEqual([['wal']]);
  });

  it('stores events gzipped, and still reads events written as JSON text by older versions', async () => {
    const store = openAt();
    const base = baseTime();
    const compressed = makeEvent({ id: 'evt-new', time: at(base, 1) });
    const older = makeEvent({ id: 'evt-old', time: at(base, 0) });
    await store.admissions.record(compressed);
    await store.admissions.record(older);
    // What a database written before migration 3 holds: the JSON in doc, no doc_gz.
    const stored = inspect((db) => {
      db.prepare("UPDATE admission_events SET doc = ?, doc_gz = NULL WHERE id = 'evt-old'").run(
        JSON.stringify(older),
      );
      return db
        .prepare("SELECT doc, length(doc_gz) AS gz FROM admission_events WHERE id = 'evt-new'")
        .get() as { doc: string; gz: number };
    });
    expect(stored.doc).toBe('');
    expect(stored.gz).toBeGreaterThan(0);
    expect(stored.gz).toBeLessThan(JSON.stringify(compressed).length);
    const page = await store.admissions.query({ limit: 10 });
    expect(page.items).toEqual([compressed, older]);
  });

  it('refuses a database written by a newer schema', async () => {
    await openAt().close();
    inspect((db) =>
      db
        .prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)')
        .run(999, 'future', 'x'),
    );
    expect(() => openAt()).toThrow(/newer than this build/);
  });

  it('keeps the SQLite error as the cause of a ConflictError', async () => {
    const store = openAt();
    await store.rules.create(makeRule({ name: 'dup' }));
    const error = await store.rules.create(makeRule({ name: 'DUP' })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as ConflictError).cause).toMatchObject({ code: 'SQLITE_CONSTRAINT_UNIQUE' });
  });

  it('shares one file between connections, compare-and-set included', async () => {
    const a = openAt();
    const b = openAt();
    const rule = makeRule({ version: 'v1' });
    await a.rules.create(rule);
    await b.rules.update({ ...rule, version: 'v2' }, 'v1');
    await expect(a.rules.update({ ...rule, version: 'v3' }, 'v1')).rejects.toBeInstanceOf(
      VersionConflictError,
    );
    expect((await a.rules.get(rule.id))?.version).toBe('v2');
  });

  it('waits for another process’s write lock instead of failing (busy_timeout)', async () => {
    const store = openAt();
    // A worker thread holds a write transaction for 300 ms; the store's write must wait it out.
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const Database = require('libsql');
       const db = new Database(workerData);
       db.exec('BEGIN IMMEDIATE');
       db.prepare("INSERT INTO meta (key, value) VALUES ('from-worker', 'yes')").run();
       parentPort.postMessage('locked');
       Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
       db.exec('COMMIT');
       db.close();`,
      { eval: true, workerData: join(tmp, 'portcullis.db') },
    );
    try {
      await new Promise((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      const started = performance.now();
      await store.meta.set('from-main', 'yes');
      expect(performance.now() - started).toBeGreaterThan(100);
      expect(await store.meta.get('from-worker')).toBe('yes');
      expect(await store.meta.get('from-main')).toBe('yes');
    } finally {
      await worker.terminate();
    }
  });

  it('deletes events past the retention period at open', async () => {
    const base = baseTime();
    const store = openAt({ retentionDays: 90 });
    await store.admissions.record(makeEvent({ id: 'evt-old', time: at(base, -24 * 89) }));
    await store.admissions.record(makeEvent({ id: 'evt-new', time: at(base, 0) }));
    await store.close();
    // Ten days later the old event is past 90 days.
    const later = openAt({ retentionDays: 90, clock: { now: () => new Date(Date.now() + 10 * 86_400_000) } });
    const page = await later.admissions.query({ limit: 10 });
    expect(page.items.map((e) => e.id)).toEqual(['evt-new']);
    const sideRows = inspect(
      (db) =>
        db.prepare("SELECT count(*) FROM admission_event_images WHERE event_id = 'evt-old'").raw().all()[0],
    );
    expect(sideRows).toEqual([0]);
  });

  it('upserts 10,000 scans of 50 vulnerabilities each in one call, twice (idempotent)', async () => {
    const store = openAt();
    const scans = Array.from({ length: 10_000 }, (_, i) =>
      makeScan({
        repository: `bulk/repo-${i % 100}`,
        digest: digestOf(`perf-${i}`),
        tags: [`b${i}`, 'latest'],
        vulnCount: 50,
        scannedAt: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
      }),
    );
    // Its speed is measured by `npm run bench -- stores`, not asserted here.
    await store.scans.upsertScans(scans);
    expect(await store.scans.getScan(scans[9_999]!.digest)).toEqual(scans[9_999]);
    expect(await store.scans.resolveTag(scans[0]!.registry, 'bulk/repo-99', 'latest')).toBe(
      scans[9_999]!.digest,
    );
    await store.scans.upsertScans(scans);
    const page = await store.scans.listImages({
      limit: 1000,
      registry: scans[0]!.registry,
      repository: 'bulk/repo-7',
    });
    expect(page.items).toHaveLength(100);
    expect(page.nextCursor).toBeNull();
  }, 60_000);
});
