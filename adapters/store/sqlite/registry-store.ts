/**
 * Registry connectors and their sync runs in SQLite. The checkpoint and the sync lease are
 * columns of the registry's row, so taking the lease is one conditional UPDATE that SQLite
 * serialises; runs live in `sync_runs`, indexed for newest-first listings.
 */
import { z } from 'zod';
import { RegistrySchema, type SyncRun, SyncRunSchema } from '../../../core/domain.js';
import { NotFoundError } from '../../../core/errors.js';
import type { RegistryStore } from '../../../core/ports.js';
import type { RegistryConfig } from '../../../core/sync.js';
import { type Db, guard, jsonColumn, pageSize, parseRow, toMillis, writeTx } from './database.js';

const RegistryRow = z.object({ doc: jsonColumn(RegistrySchema) });
const CheckpointRow = z.object({ checkpoint: z.string().nullable() });
const RunRow = z.object({ doc: jsonColumn(SyncRunSchema) });

/** The `RegistryStore` port over the `registries` and `sync_runs` tables. */
export class SqliteRegistryStore implements RegistryStore {
  private readonly stmts;

  constructor(private readonly db: Db) {
    this.stmts = {
      insert: db.prepare('INSERT INTO registries (id, name, doc) VALUES (?, ?, ?)'),
      list: db.prepare('SELECT doc FROM registries ORDER BY lower(name)'),
      get: db.prepare('SELECT doc FROM registries WHERE id = ?'),
      getByName: db.prepare('SELECT doc FROM registries WHERE lower(name) = lower(?)'),
      delete: db.prepare('DELETE FROM registries WHERE id = ?'),
      deleteRuns: db.prepare('DELETE FROM sync_runs WHERE registry_id = ?'),
      setEnabled: db.prepare(`UPDATE registries SET doc = json_set(doc, '$.enabled', json(?)) WHERE id = ?`),
      getCheckpoint: db.prepare('SELECT checkpoint FROM registries WHERE id = ?'),
      setCheckpoint: db.prepare('UPDATE registries SET checkpoint = ? WHERE id = ?'),
      lock: db.prepare(
        `UPDATE registries SET lease_owner = ?, lease_until_ms = ?
         WHERE id = ? AND (lease_owner IS NULL OR lease_owner = ? OR lease_until_ms <= ?)`,
      ),
      exists: db.prepare('SELECT 1 FROM registries WHERE id = ?'),
      unlock: db.prepare(
        'UPDATE registries SET lease_owner = NULL, lease_until_ms = NULL WHERE id = ? AND lease_owner = ?',
      ),
      upsertRun: db.prepare(
        `INSERT INTO sync_runs (id, registry_id, started_ms, doc) VALUES (?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET registry_id = excluded.registry_id,
           started_ms = excluded.started_ms, doc = excluded.doc`,
      ),
      getRun: db.prepare('SELECT doc FROM sync_runs WHERE id = ?'),
      runsOf: db.prepare(
        'SELECT doc FROM sync_runs WHERE registry_id = ? ORDER BY started_ms DESC, id DESC LIMIT ?',
      ),
      allRuns: db.prepare('SELECT doc FROM sync_runs ORDER BY started_ms DESC, id DESC LIMIT ?'),
      purgeRuns: db.prepare('DELETE FROM sync_runs WHERE registry_id = ? AND started_ms < ?'),
    };
  }

  /** Stores a new registry; ConflictError when its id or name (case-insensitive) is taken. */
  async create(registry: RegistryConfig): Promise<void> {
    guard(
      () => this.stmts.insert.run(registry.id, registry.name, JSON.stringify(registry)),
      `a registry named "${registry.name}"`,
    );
  }

  /** The registry with this id, or null. */
  async get(id: string): Promise<RegistryConfig | null> {
    return this.toRegistry(this.stmts.get.get(id));
  }

  /** The registry with this name (case-insensitive), or null. */
  async getByName(name: string): Promise<RegistryConfig | null> {
    return this.toRegistry(this.stmts.getByName.get(name));
  }

  /** Every registry, ordered by name. */
  async list(): Promise<RegistryConfig[]> {
    return this.stmts.list.all().map((row) => parseRow(RegistryRow, row, 'registries').doc);
  }

  /** Deletes the registry and its runs in one transaction; NotFoundError when it is gone. */
  async delete(id: string): Promise<void> {
    const changes = guard(() =>
      writeTx(this.db, () => {
        this.stmts.deleteRuns.run(id);
        return this.stmts.delete.run(id).changes;
      }),
    );
    if (changes === 0) throw new NotFoundError(`registry ${id} not found`);
  }

  /** Turns the scheduled sync of a registry on or off; NotFoundError when it is gone. */
  async setEnabled(id: string, enabled: boolean): Promise<void> {
    if (guard(() => this.stmts.setEnabled.run(JSON.stringify(enabled), id)).changes === 0) {
      throw new NotFoundError(`registry ${id} not found`);
    }
  }

  /** The saved checkpoint, or null (also when the registry is gone). */
  async getCheckpoint(id: string): Promise<string | null> {
    const row = this.stmts.getCheckpoint.get(id);
    return row === undefined ? null : parseRow(CheckpointRow, row, 'registries').checkpoint;
  }

  /** Saves the checkpoint; NotFoundError when the registry is gone. */
  async setCheckpoint(id: string, checkpoint: string): Promise<void> {
    if (guard(() => this.stmts.setCheckpoint.run(checkpoint, id)).changes === 0) {
      throw new NotFoundError(`registry ${id} not found`);
    }
  }

  /** Takes or extends the lease in one conditional UPDATE; see `RegistryStore.tryLock`. */
  async tryLock(id: string, owner: string, until: string, now: string): Promise<boolean> {
    const untilMs = toMillis(until, 'until');
    const nowMs = toMillis(now, 'now');
    if (guard(() => this.stmts.lock.run(owner, untilMs, id, owner, nowMs)).changes === 1) return true;
    if (this.stmts.exists.get(id) === undefined) throw new NotFoundError(`registry ${id} not found`);
    return false;
  }

  /** Releases the lease if `owner` holds it. */
  async unlock(id: string, owner: string): Promise<void> {
    guard(() => this.stmts.unlock.run(id, owner));
  }

  /** Inserts or replaces the run by id. */
  async recordRun(run: SyncRun): Promise<void> {
    const startedMs = toMillis(run.startedAt, 'startedAt');
    guard(() => this.stmts.upsertRun.run(run.id, run.registryId, startedMs, JSON.stringify(run)));
  }

  /** The run with this id, or null. */
  async getRun(id: string): Promise<SyncRun | null> {
    const row = this.stmts.getRun.get(id);
    return row === undefined ? null : parseRow(RunRow, row, 'sync_runs').doc;
  }

  /** Runs of one registry or of all, newest first. */
  async listRuns(registryId: string | undefined, limit: number): Promise<SyncRun[]> {
    const n = pageSize(limit);
    const rows = registryId === undefined ? this.stmts.allRuns.all(n) : this.stmts.runsOf.all(registryId, n);
    return rows.map((row) => parseRow(RunRow, row, 'sync_runs').doc);
  }

  /** Deletes the registry's runs started before `before`; returns how many. */
  async purgeRuns(registryId: string, before: string): Promise<number> {
    const beforeMs = toMillis(before, 'before');
    return guard(() => this.stmts.purgeRuns.run(registryId, beforeMs)).changes;
  }

  private toRegistry(row: unknown): RegistryConfig | null {
    return row === undefined ? null : parseRow(RegistryRow, row, 'registries').doc;
  }
}
