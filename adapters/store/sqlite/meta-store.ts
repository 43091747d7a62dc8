/** Portcullis' own key/value state (seeding markers, job checkpoints) in SQLite. */
import { z } from 'zod';
import type { MetaStore } from '../../../core/ports.js';
import { type Db, guard, parseRow } from './database.js';

const ValueRow = z.object({ value: z.string() });

/** The `MetaStore` port over the `meta` table. */
export class SqliteMetaStore implements MetaStore {
  private readonly stmts;

  constructor(db: Db) {
    this.stmts = {
      get: db.prepare('SELECT value FROM meta WHERE key = ?'),
      insertIfAbsent: db.prepare('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)'),
      set: db.prepare(
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      ),
    };
  }

  /** The value of `key`, or null. */
  async get(key: string): Promise<string | null> {
    const row = this.stmts.get.get(key);
    return row === undefined ? null : parseRow(ValueRow, row, 'meta').value;
  }

  /** Sets `key` only when absent; true when this call set it. */
  async setIfAbsent(key: string, value: string): Promise<boolean> {
    return guard(() => this.stmts.insertIfAbsent.run(key, value)).changes === 1;
  }

  /** Sets `key`, replacing any value. */
  async set(key: string, value: string): Promise<void> {
    guard(() => this.stmts.set.run(key, value));
  }
}
