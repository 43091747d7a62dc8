/**
 * The embedded SQLite store: every port of `Store` over one database file, for the local
 * emulator and small installations.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { type Clock, type Store, systemClock } from '../../../core/ports.js';
import { SqliteAdmissionLog } from './admission-log.js';
import { SqliteApiKeyStore } from './api-key-store.js';
import { SqliteClusterRegistry } from './cluster-registry.js';
import { openDatabase } from './database.js';
import { SqliteMetaStore } from './meta-store.js';
import { migrate } from './migrations.js';
import { SqliteRegistryStore } from './registry-store.js';
import { SqliteRuleStore } from './rule-store.js';
import { SqliteScanStore } from './scan-store.js';

export { SqliteAdmissionLog, type SqliteAdmissionLogOptions } from './admission-log.js';
export { SqliteApiKeyStore } from './api-key-store.js';
export { SqliteClusterRegistry } from './cluster-registry.js';
export { SqliteMetaStore } from './meta-store.js';
export { MIGRATIONS, type Migration } from './migrations.js';
export { SqliteRegistryStore } from './registry-store.js';
export { SqliteRuleStore } from './rule-store.js';
export { SqliteScanStore } from './scan-store.js';

/** Where and how to open the store. */
export interface SqliteStoreOptions {
  /** A database file (its directory is created) or `:memory:`. */
  path: string;
  /** Time source for retention; the system clock by default. */
  clock?: Clock;
  /** Days admission events are kept (DESIGN.md §2); 90 by default. */
  retentionDays?: number;
}

/** The default retention of admission events, in days. */
export const DEFAULT_RETENTION_DAYS = 90;

/**
 * Opens (creating and migrating as needed) a SQLite store.
 *
 * @example
 * const store = openSqliteStore({ path: join(dataDir, 'portcullis.db') });
 * await store.rules.list();
 * await store.close();
 */
export function openSqliteStore(options: SqliteStoreOptions): Store {
  const retentionDays = options.retentionDays ?? DEFAULT_RETENTION_DAYS;
  if (!(retentionDays > 0)) throw new RangeError(`retentionDays must be positive, got ${retentionDays}`);
  const clock = options.clock ?? systemClock;
  if (options.path !== ':memory:' && !options.path.startsWith('file:')) {
    mkdirSync(dirname(options.path), { recursive: true });
  }
  const db = openDatabase(options.path);
  try {
    migrate(db, undefined, clock.now());
  } catch (e) {
    db.close();
    throw e;
  }
  const inMemory = options.path === ':memory:' || options.path.includes('mode=memory');
  const admissions = new SqliteAdmissionLog(db, {
    clock,
    retentionDays,
    ...(inMemory ? {} : { writerPath: options.path }),
  });
  admissions.applyRetention();
  return {
    rules: new SqliteRuleStore(db),
    scans: new SqliteScanStore(db),
    clusters: new SqliteClusterRegistry(db),
    admissions,
    apiKeys: new SqliteApiKeyStore(db),
    meta: new SqliteMetaStore(db),
    registries: new SqliteRegistryStore(db),
    async close() {
      if (!db.open) return;
      await admissions.close();
      try {
        // Lets SQLite refresh planner statistics for the indexes this session used.
        db.exec('PRAGMA optimize');
      } catch {
        // Best effort: another connection holding the write lock must not keep us open.
      } finally {
        db.close();
      }
    },
  };
}
