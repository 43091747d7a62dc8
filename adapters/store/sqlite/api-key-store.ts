/**
 * API keys in SQLite, looked up by the key's hash on every authenticated request. The last
 * use is a column of its own so that `touch` does not rewrite the document.
 */
import { z } from 'zod';
import { type ApiKeyRecord, ApiKeySchema } from '../../../core/domain.js';
import { NotFoundError } from '../../../core/errors.js';
import type { ApiKeyStore } from '../../../core/ports.js';
import { type Db, guard, jsonColumn, parseRow, translateError } from './database.js';

const ApiKeyRow = z.object({
  key_hash: z.string(),
  last_used_at: z.string().nullable(),
  doc: jsonColumn(ApiKeySchema.omit({ lastUsedAt: true })),
});

function toRecord(row: unknown): ApiKeyRecord {
  const { key_hash, last_used_at, doc } = parseRow(ApiKeyRow, row, 'api_keys');
  return last_used_at === null
    ? { ...doc, keyHash: key_hash }
    : { ...doc, keyHash: key_hash, lastUsedAt: last_used_at };
}

/** The `ApiKeyStore` port over the `api_keys` table. */
export class SqliteApiKeyStore implements ApiKeyStore {
  private readonly stmts;

  constructor(db: Db) {
    this.stmts = {
      insert: db.prepare(
        'INSERT INTO api_keys (id, key_hash, created_at, last_used_at, doc) VALUES (?, ?, ?, ?, ?)',
      ),
      list: db.prepare('SELECT key_hash, last_used_at, doc FROM api_keys ORDER BY created_at, id'),
      byHash: db.prepare('SELECT key_hash, last_used_at, doc FROM api_keys WHERE key_hash = ?'),
      delete: db.prepare('DELETE FROM api_keys WHERE id = ?'),
      touch: db.prepare('UPDATE api_keys SET last_used_at = ? WHERE id = ?'),
    };
  }

  /** Stores a new key; ConflictError when its id or hash exists already. */
  async create(key: ApiKeyRecord): Promise<void> {
    const { keyHash, lastUsedAt, ...doc } = key;
    try {
      this.stmts.insert.run(key.id, keyHash, key.createdAt, lastUsedAt ?? null, JSON.stringify(doc));
    } catch (e) {
      translateError(e, `API key ${key.id}`);
    }
  }

  /** Every key, oldest first. */
  async list(): Promise<ApiKeyRecord[]> {
    return this.stmts.list.all().map(toRecord);
  }

  /** The key whose SHA-256 is `keyHash`, or null. */
  async findByHash(keyHash: string): Promise<ApiKeyRecord | null> {
    const row = this.stmts.byHash.get(keyHash);
    return row === undefined ? null : toRecord(row);
  }

  /** Revokes a key; NotFoundError when it is gone. */
  async delete(id: string): Promise<void> {
    if (guard(() => this.stmts.delete.run(id)).changes === 0)
      throw new NotFoundError(`API key ${id} not found`);
  }

  /** Records a use of the key; a key deleted meanwhile is ignored (the request already passed). */
  async touch(id: string, usedAt: string): Promise<void> {
    guard(() => this.stmts.touch.run(usedAt, id));
  }
}
