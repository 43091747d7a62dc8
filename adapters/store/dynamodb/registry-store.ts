/**
 * Registry connectors and their sync runs in DynamoDB's records table, without a GSI:
 * - `REGISTRY` / `<id>`: the config (`doc`, `enabled`), and beside it the `syncCheckpoint` and the
 *   sync lease (`leaseOwner`, `leaseUntilMs`), so taking the lease is one conditional update;
 * - `REGISTRYNAME` / `<lower-cased name>`: the name lock, written in the same transaction;
 * - `SYNCRUNS#<registry id>` / `<startedAt> SEP <run id>`: a registry's runs, so a query in
 *   reverse key order lists them newest first;
 * - `SYNCRUN#<run id>` / `SYNCRUN`: a pointer from a run's id to its key, for `getRun`.
 */
import { z } from 'zod';
import { type SyncRun, SyncRunSchema } from '../../../core/domain.js';
import { ConflictError, NotFoundError } from '../../../core/errors.js';
import type { RegistryStore } from '../../../core/ports.js';
import { REGISTRY_KINDS, type RegistryConfig } from '../../../core/sync.js';
import { mapLimit } from '../common/concurrency.js';
import { pageSize, toMillis } from '../common/records.js';
import { compareKeys, parseItem, SEP, unpackDoc } from './codec.js';
import type { BatchWrite, Ddb, Expression, Key } from './ddb.js';

const REGISTRY = 'REGISTRY';
const REGISTRY_NAME = 'REGISTRYNAME';
const RUN = 'SYNCRUN';

const DocFields = z.object({
  id: z.string(),
  name: z.string(),
  kind: z.enum(REGISTRY_KINDS),
  settings: z.record(z.string(), z.unknown()),
  createdAt: z.string(),
  createdBy: z.string(),
});
const RegistryItem = z.object({ nameKey: z.string(), enabled: z.boolean(), doc: z.string() });
type RegistryItem = z.infer<typeof RegistryItem>;
const LockItem = z.object({ registryId: z.string() });
const CheckpointItem = z.object({ syncCheckpoint: z.string().optional() });
const PointerItem = z.object({ registryId: z.string(), runSk: z.string() });
const RunKeyItem = z.object({ pk: z.string(), sk: z.string(), runId: z.string() });

const registryKey = (id: string): Key => ({ pk: REGISTRY, sk: id });
const lockKey = (nameKey: string): Key => ({ pk: REGISTRY_NAME, sk: nameKey });
const runsPk = (registryId: string) => `${RUN}S#${registryId}`;
const pointerKey = (runId: string): Key => ({ pk: `${RUN}#${runId}`, sk: RUN });
/** ISO times re-rendered from their instant, so that equal instants have equal, sortable keys. */
const timeKey = (iso: string, field: string) => new Date(toMillis(iso, field)).toISOString();
const runSk = (run: SyncRun) => `${timeKey(run.startedAt, 'startedAt')}${SEP}${run.id}`;

/** Attempts at a delete that keeps meeting a concurrent writer. */
const ATTEMPTS = 5;

/** The `RegistryStore` port over the records table. */
export class DynamoDbRegistryStore implements RegistryStore {
  constructor(
    private readonly ddb: Ddb,
    private readonly table: string,
  ) {}

  /** Puts the registry and its name lock in one transaction; ConflictError when either exists. */
  async create(registry: RegistryConfig): Promise<void> {
    const { enabled, ...doc } = registry;
    const nameKey = registry.name.toLowerCase();
    const failure = await this.ddb.transact([
      {
        Put: {
          TableName: this.table,
          Item: { ...registryKey(registry.id), nameKey, enabled, doc: JSON.stringify(doc) },
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
      {
        Put: {
          TableName: this.table,
          Item: { ...lockKey(nameKey), registryId: registry.id },
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
    ]);
    if (failure === null) return;
    const what = failure.failed.includes(1)
      ? `a registry named "${registry.name}"`
      : `a registry with id ${registry.id}`;
    throw new ConflictError(`${what} already exists`, { cause: failure.cause });
  }

  /** The registry with this id, or null. */
  async get(id: string): Promise<RegistryConfig | null> {
    const item = await this.read(id);
    return item === null ? null : this.toConfig(item);
  }

  /** The registry with this name (case-insensitive), through its name lock. */
  async getByName(name: string): Promise<RegistryConfig | null> {
    const lock = await this.ddb.get(this.table, lockKey(name.toLowerCase()), ['registryId']);
    if (lock === undefined) return null;
    return this.get(parseItem(LockItem, lock, this.table).registryId);
  }

  /** Every registry, ordered by name: one query of the `REGISTRY` partition. */
  async list(): Promise<RegistryConfig[]> {
    const items = await this.ddb.queryAll({
      TableName: this.table,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': REGISTRY },
      ProjectionExpression: '#n, #e, #d',
      ExpressionAttributeNames: { '#n': 'nameKey', '#e': 'enabled', '#d': 'doc' },
      ConsistentRead: true,
    });
    return items
      .map((item) => parseItem(RegistryItem, item, this.table))
      .sort((a, b) => compareKeys(a.nameKey, b.nameKey))
      .map((item) => this.toConfig(item));
  }

  /** Deletes the registry and its name lock together, then its runs; NotFoundError when gone. */
  async delete(id: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.read(id);
      if (current === null) throw new NotFoundError(`registry ${id} not found`);
      const failure = await this.ddb.transact([
        {
          Delete: {
            TableName: this.table,
            Key: registryKey(id),
            ConditionExpression: 'attribute_exists(pk)',
          },
        },
        {
          Delete: {
            TableName: this.table,
            Key: lockKey(current.nameKey),
            ConditionExpression: 'attribute_not_exists(pk) OR registryId = :id',
            ExpressionAttributeValues: { ':id': id },
          },
        },
      ]);
      if (failure === null) break;
      if (attempt >= ATTEMPTS)
        throw new ConflictError(`registry ${id} keeps changing`, { cause: failure.cause });
    }
    await this.deleteRuns(id);
  }

  /** Sets the `enabled` attribute; NotFoundError when the registry is gone. */
  async setEnabled(id: string, enabled: boolean): Promise<void> {
    await this.updateExisting(id, {
      expression: 'SET #e = :e',
      names: { '#e': 'enabled' },
      values: { ':e': enabled },
    });
  }

  /** The saved checkpoint, or null. */
  async getCheckpoint(id: string): Promise<string | null> {
    const item = await this.ddb.get(this.table, registryKey(id), ['syncCheckpoint']);
    return item === undefined ? null : (parseItem(CheckpointItem, item, this.table).syncCheckpoint ?? null);
  }

  /** Saves the checkpoint; NotFoundError when the registry is gone. */
  async setCheckpoint(id: string, checkpoint: string): Promise<void> {
    await this.updateExisting(id, {
      expression: 'SET #c = :c',
      names: { '#c': 'syncCheckpoint' },
      values: { ':c': checkpoint },
    });
  }

  /**
   * Takes or extends the lease with one conditional update; when the condition fails, a read
   * tells a lease held by another owner (false) from a registry that is gone (NotFoundError).
   */
  async tryLock(id: string, owner: string, until: string, now: string): Promise<boolean> {
    const failure = await this.ddb.update(
      this.table,
      registryKey(id),
      {
        expression: 'SET leaseOwner = :owner, leaseUntilMs = :until',
        values: { ':owner': owner, ':until': toMillis(until, 'until') },
      },
      {
        expression:
          'attribute_exists(pk) AND (attribute_not_exists(leaseOwner) OR leaseOwner = :owner OR leaseUntilMs <= :now)',
        values: { ':now': toMillis(now, 'now') },
      },
    );
    if (failure === null) return true;
    if ((await this.ddb.get(this.table, registryKey(id), ['pk'])) === undefined) {
      throw new NotFoundError(`registry ${id} not found`);
    }
    return false;
  }

  /** Releases the lease if `owner` holds it (a conditional update that may find it is not). */
  async unlock(id: string, owner: string): Promise<void> {
    await this.ddb.update(
      this.table,
      registryKey(id),
      { expression: 'REMOVE leaseOwner, leaseUntilMs' },
      { expression: 'leaseOwner = :owner', values: { ':owner': owner } },
    );
  }

  /** Puts the run and its pointer (both idempotent, so a retry or a progress update is safe). */
  async recordRun(run: SyncRun): Promise<void> {
    const sk = runSk(run);
    await this.ddb.batchWrite(this.table, [
      { put: { pk: runsPk(run.registryId), sk, runId: run.id, doc: JSON.stringify(run) } },
      { put: { ...pointerKey(run.id), registryId: run.registryId, runSk: sk } },
    ]);
  }

  /** The run with this id (its pointer, then the run), or null. */
  async getRun(id: string): Promise<SyncRun | null> {
    const pointer = await this.ddb.get(this.table, pointerKey(id), ['registryId', 'runSk']);
    if (pointer === undefined) return null;
    const { registryId, runSk: sk } = parseItem(PointerItem, pointer, this.table);
    const item = await this.ddb.get(this.table, { pk: runsPk(registryId), sk }, ['doc']);
    return item === undefined ? null : unpackDoc(parseDocItem(item), SyncRunSchema, this.table);
  }

  /**
   * A registry's runs are one query in reverse key order; the runs of all registries merge the
   * first `limit` of each registry's.
   */
  async listRuns(registryId: string | undefined, limit: number): Promise<SyncRun[]> {
    const n = pageSize(limit);
    if (registryId !== undefined) return (await this.newestRuns(registryId, n)).map((r) => r.run);
    const registries = await this.ddb.queryAll({
      TableName: this.table,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': REGISTRY },
      ProjectionExpression: 'sk',
      ConsistentRead: true,
    });
    const ids = registries.map((item) => parseItem(z.object({ sk: z.string() }), item, this.table).sk);
    const perRegistry = await mapLimit(ids, 8, (id) => this.newestRuns(id, n));
    return perRegistry
      .flat()
      .sort((a, b) => compareKeys(b.sk, a.sk))
      .slice(0, n)
      .map((r) => r.run);
  }

  /** Deletes the registry's runs started before `before`: a key-range query, then batch deletes. */
  async purgeRuns(registryId: string, before: string): Promise<number> {
    return this.deleteRunKeys({
      KeyConditionExpression: 'pk = :pk AND sk < :before',
      ExpressionAttributeValues: { ':pk': runsPk(registryId), ':before': timeKey(before, 'before') },
    });
  }

  private async deleteRuns(registryId: string): Promise<number> {
    return this.deleteRunKeys({
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': runsPk(registryId) },
    });
  }

  private async deleteRunKeys(query: {
    KeyConditionExpression: string;
    ExpressionAttributeValues: Record<string, unknown>;
  }): Promise<number> {
    let deleted = 0;
    let writes: BatchWrite[] = [];
    const flush = async () => {
      await this.ddb.batchWrite(this.table, writes);
      writes = [];
    };
    for await (const item of this.ddb.query({
      TableName: this.table,
      ...query,
      ProjectionExpression: 'pk, sk, runId',
      ConsistentRead: true,
    })) {
      const key = parseItem(RunKeyItem, item, this.table);
      writes.push({ delete: { pk: key.pk, sk: key.sk } }, { delete: pointerKey(key.runId) });
      deleted++;
      if (writes.length >= 500) await flush();
    }
    if (writes.length > 0) await flush();
    return deleted;
  }

  private async newestRuns(registryId: string, n: number): Promise<{ sk: string; run: SyncRun }[]> {
    const out: { sk: string; run: SyncRun }[] = [];
    for await (const item of this.ddb.query({
      TableName: this.table,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': runsPk(registryId) },
      ProjectionExpression: 'sk, doc',
      ScanIndexForward: false,
      ConsistentRead: true,
      Limit: n,
    })) {
      const { sk } = parseItem(z.object({ sk: z.string() }), item, this.table);
      out.push({ sk, run: unpackDoc(parseDocItem(item), SyncRunSchema, this.table) });
      if (out.length >= n) break;
    }
    return out;
  }

  /** An update of an existing registry; NotFoundError when it is gone. */
  private async updateExisting(id: string, update: Expression): Promise<void> {
    const failure = await this.ddb.update(this.table, registryKey(id), update, {
      expression: 'attribute_exists(pk)',
    });
    if (failure !== null) throw new NotFoundError(`registry ${id} not found`, { cause: failure.cause });
  }

  private async read(id: string): Promise<RegistryItem | null> {
    const item = await this.ddb.get(this.table, registryKey(id), ['nameKey', 'enabled', 'doc']);
    return item === undefined ? null : parseItem(RegistryItem, item, this.table);
  }

  private toConfig(item: RegistryItem): RegistryConfig {
    const doc = unpackDoc(item, DocFields, this.table);
    return { ...doc, enabled: item.enabled };
  }
}

function parseDocItem(item: unknown): { doc?: string } {
  return z.object({ doc: z.string().optional() }).parse(item);
}
