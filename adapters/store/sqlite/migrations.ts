/**
 * The schema of the embedded store as an ordered list of migrations. Each runs once, in the
 * transaction that records it in `schema_migrations`; append new ones, never edit old ones.
 */
import { z } from 'zod';
import { type Db, parseRow, writeTx } from './database.js';

/** One schema step. `version` values are consecutive from 1. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/**
 * Lower-cased `*_key` columns carry the case-insensitive comparisons (registry, repository,
 * digest, rule name) so that every lookup is an index seek. Times that are compared or
 * bucketed are stored as epoch milliseconds, because ISO strings with offsets do not sort.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
      CREATE TABLE rules (
        id      TEXT PRIMARY KEY,
        name    TEXT NOT NULL,
        version TEXT NOT NULL,
        doc     TEXT NOT NULL
      );
      CREATE UNIQUE INDEX rules_name_key ON rules (lower(name));

      CREATE TABLE scans (
        digest_key      TEXT NOT NULL,
        source          TEXT NOT NULL,
        registry_key    TEXT NOT NULL,
        repository_key  TEXT NOT NULL,
        registry        TEXT NOT NULL,
        repository      TEXT NOT NULL,
        digest          TEXT NOT NULL,
        tags            TEXT NOT NULL,
        status          TEXT NOT NULL,
        status_reason   TEXT,
        scanned_at      TEXT NOT NULL,
        scanned_ms      INTEGER NOT NULL,
        counts          TEXT NOT NULL,
        vulnerabilities TEXT NOT NULL,
        PRIMARY KEY (digest_key, source)
      );
      -- Walks images in listing order; the correlated "is there a newer scan" probe uses the PK.
      CREATE INDEX scans_image ON scans (registry_key, repository_key, digest_key, scanned_ms);

      CREATE TABLE image_tags (
        registry_key   TEXT NOT NULL,
        repository_key TEXT NOT NULL,
        tag            TEXT NOT NULL,
        digest         TEXT NOT NULL,
        scanned_ms     INTEGER NOT NULL,
        PRIMARY KEY (registry_key, repository_key, tag)
      ) WITHOUT ROWID;

      CREATE TABLE clusters (
        id         TEXT PRIMARY KEY,
        name       TEXT NOT NULL,
        token_hash TEXT NOT NULL,
        doc        TEXT NOT NULL
      );
      CREATE UNIQUE INDEX clusters_name_key ON clusters (lower(name));
      CREATE INDEX clusters_token_hash ON clusters (token_hash);

      CREATE TABLE admission_events (
        id        TEXT PRIMARY KEY,
        time_ms   INTEGER NOT NULL,
        uid       TEXT NOT NULL,
        cluster   TEXT NOT NULL,
        namespace TEXT NOT NULL,
        decision  TEXT NOT NULL,
        doc       TEXT NOT NULL
      );
      -- Every filter, each followed by the (time, id) order that pages walk backwards.
      CREATE INDEX admission_events_time ON admission_events (time_ms, id);
      CREATE INDEX admission_events_uid ON admission_events (uid, time_ms, id);
      CREATE INDEX admission_events_cluster ON admission_events (cluster, time_ms, id);
      CREATE INDEX admission_events_cluster_ns ON admission_events (cluster, namespace, time_ms, id);
      CREATE INDEX admission_events_namespace ON admission_events (namespace, time_ms, id);
      CREATE INDEX admission_events_decision ON admission_events (decision, time_ms, id);

      CREATE TABLE admission_event_images (
        event_id  TEXT NOT NULL REFERENCES admission_events (id) ON DELETE CASCADE,
        reference TEXT NOT NULL,
        digest    TEXT NOT NULL,
        PRIMARY KEY (event_id, reference, digest)
      ) WITHOUT ROWID;
      CREATE INDEX admission_event_images_digest ON admission_event_images (digest, event_id);

      -- One row per triggered rule's id and one per its name, both lower-cased, so that "rule
      -- name or id" is a single key and a rule filter walks (key, time, id) in page order.
      CREATE TABLE admission_event_rules (
        event_id TEXT NOT NULL REFERENCES admission_events (id) ON DELETE CASCADE,
        rule_key TEXT NOT NULL,
        time_ms  INTEGER NOT NULL,
        PRIMARY KEY (event_id, rule_key)
      ) WITHOUT ROWID;
      CREATE INDEX admission_event_rules_key ON admission_event_rules (rule_key, time_ms, event_id);

      CREATE TABLE api_keys (
        id           TEXT PRIMARY KEY,
        key_hash     TEXT NOT NULL UNIQUE,
        created_at   TEXT NOT NULL,
        last_used_at TEXT,
        doc          TEXT NOT NULL
      );

      CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 2,
    name: 'registry connectors and sync runs',
    sql: `
      -- The lease (owner, expiry) and the checkpoint are columns of their own, beside the
      -- document, so that taking the lease is one conditional UPDATE.
      CREATE TABLE registries (
        id             TEXT PRIMARY KEY,
        name           TEXT NOT NULL,
        checkpoint     TEXT,
        lease_owner    TEXT,
        lease_until_ms INTEGER,
        doc            TEXT NOT NULL
      );
      CREATE UNIQUE INDEX registries_name_key ON registries (lower(name));

      CREATE TABLE sync_runs (
        id          TEXT PRIMARY KEY,
        registry_id TEXT NOT NULL,
        started_ms  INTEGER NOT NULL,
        doc         TEXT NOT NULL
      );
      -- Newest-first listings, of one registry and of all, walk these backwards.
      CREATE INDEX sync_runs_registry ON sync_runs (registry_id, started_ms, id);
      CREATE INDEX sync_runs_started ON sync_runs (started_ms, id);
    `,
  },
  {
    version: 3,
    name: 'admission events stored gzipped',
    sql: `
      -- New events keep their JSON gzipped here and '' in doc; older rows keep doc as it was.
      -- (A BLOB must not go into the TEXT column: libsql aborts reading one back.)
      ALTER TABLE admission_events ADD COLUMN doc_gz BLOB;
    `,
  },
  {
    version: 4,
    name: 'tags observed in registry listings',
    sql: `
      -- When a registry listing last changed a tag (observations are ordered by it), and whether
      -- that listing took the tag off its digest (kept, so that an older listing cannot put it back).
      ALTER TABLE image_tags ADD COLUMN observed_ms INTEGER;
      ALTER TABLE image_tags ADD COLUMN removed INTEGER NOT NULL DEFAULT 0;
      -- When a registry listing last set a scan's tags.
      ALTER TABLE scans ADD COLUMN tags_observed_ms INTEGER;
    `,
  },
];

const VersionRow = z.object({ version: z.number().int().nullable() });

/**
 * Brings the database up to the newest migration, all pending steps in one transaction so a
 * failed upgrade leaves the previous schema intact. Refuses a database written by a newer build.
 */
export function migrate(db: Db, migrations: readonly Migration[] = MIGRATIONS, now = new Date()): void {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL
  )`);
  writeTx(db, () => {
    const row = db.prepare('SELECT max(version) AS version FROM schema_migrations').get();
    const current = parseRow(VersionRow, row, 'schema_migrations').version ?? 0;
    const newest = migrations.at(-1)?.version ?? 0;
    if (current > newest) {
      throw new Error(
        `the database schema is at version ${current}, newer than this build knows (${newest}); upgrade Portcullis`,
      );
    }
    const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
    for (const m of migrations) {
      if (m.version <= current) continue;
      db.exec(m.sql);
      record.run(m.version, m.name, now.toISOString());
    }
  });
}
