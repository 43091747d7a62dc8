/**
 * Registered clusters in SQLite. The token hash is a column of its own (indexed, looked up
 * on every webhook call) and is kept out of the JSON document.
 */
import { z } from 'zod';
import { type ClusterRecord, ClusterSchema } from '../../../core/domain.js';
import { NotFoundError } from '../../../core/errors.js';
import type { ClusterRegistry } from '../../../core/ports.js';
import { type Db, guard, jsonColumn, parseRow, translateError } from './database.js';

const ClusterRow = z.object({ token_hash: z.string(), doc: jsonColumn(ClusterSchema) });

function toRecord(row: unknown): ClusterRecord {
  const { token_hash, doc } = parseRow(ClusterRow, row, 'clusters');
  return { ...doc, tokenHash: token_hash };
}

/** The `ClusterRegistry` port over the `clusters` table. */
export class SqliteClusterRegistry implements ClusterRegistry {
  private readonly stmts;

  constructor(db: Db) {
    this.stmts = {
      insert: db.prepare('INSERT INTO clusters (id, name, token_hash, doc) VALUES (?, ?, ?, ?)'),
      list: db.prepare('SELECT token_hash, doc FROM clusters ORDER BY lower(name)'),
      get: db.prepare('SELECT token_hash, doc FROM clusters WHERE id = ?'),
      getByName: db.prepare('SELECT token_hash, doc FROM clusters WHERE lower(name) = lower(?)'),
      byToken: db.prepare('SELECT token_hash, doc FROM clusters WHERE token_hash = ? LIMIT 1'),
      setToken: db.prepare(
        `UPDATE clusters SET token_hash = ?, doc = json_set(doc, '$.tokenRotatedAt', ?) WHERE id = ?`,
      ),
      delete: db.prepare('DELETE FROM clusters WHERE id = ?'),
    };
  }

  /** Registers a cluster; ConflictError when its id or name is taken. */
  async create(cluster: ClusterRecord): Promise<void> {
    const { tokenHash, ...doc } = cluster;
    try {
      this.stmts.insert.run(cluster.id, cluster.name, tokenHash, JSON.stringify(doc));
    } catch (e) {
      translateError(e, `a cluster named "${cluster.name}"`);
    }
  }

  /** Every cluster, ordered by name. */
  async list(): Promise<ClusterRecord[]> {
    return this.stmts.list.all().map(toRecord);
  }

  /** The cluster with this id, or null. */
  async get(id: string): Promise<ClusterRecord | null> {
    const row = this.stmts.get.get(id);
    return row === undefined ? null : toRecord(row);
  }

  /** The cluster with this name (case-insensitive), or null. */
  async getByName(name: string): Promise<ClusterRecord | null> {
    const row = this.stmts.getByName.get(name);
    return row === undefined ? null : toRecord(row);
  }

  /** The cluster whose webhook token hashes to `tokenHash`, or null. */
  async findByTokenHash(tokenHash: string): Promise<ClusterRecord | null> {
    const row = this.stmts.byToken.get(tokenHash);
    return row === undefined ? null : toRecord(row);
  }

  /** Rotates the token hash; the old token stops working at once. NotFoundError when gone. */
  async setTokenHash(id: string, tokenHash: string, rotatedAt: string): Promise<void> {
    if (guard(() => this.stmts.setToken.run(tokenHash, rotatedAt, id)).changes === 0) {
      throw new NotFoundError(`cluster ${id} not found`);
    }
  }

  /** Deregisters a cluster; NotFoundError when it is gone. */
  async delete(id: string): Promise<void> {
    if (guard(() => this.stmts.delete.run(id)).changes === 0)
      throw new NotFoundError(`cluster ${id} not found`);
  }
}
