/**
 * Registry connectors and their sync runs in Cosmos DB.
 * - `registries`: one document per registry in the logical partition 'registry' (a unique key
 *   on the lower-cased name, a single-partition listing), carrying its checkpoint and its sync
 *   lease. Every change is a replace under the ETag read with it, so taking the lease, saving
 *   a checkpoint and enabling never overwrite one another, and of racing owners one wins.
 * - `sync-runs`: one document per run, partitioned by registry id, so that a registry's runs
 *   (listing, purge, deletion) stay in one partition; `getRun` and the listing of all runs
 *   fan out over the indexed `runId` and (startedMs, runId).
 */
import type { Container } from '@azure/cosmos';
import { z } from 'zod';
import { RegistrySchema, type SyncRun, SyncRunSchema } from '../../../core/domain.js';
import { NotFoundError, UnavailableError } from '../../../core/errors.js';
import type { RegistryStore } from '../../../core/ports.js';
import type { RegistryConfig } from '../../../core/sync.js';
import { mapLimit } from '../common/concurrency.js';
import { pageSize, toMillis } from '../common/records.js';
import { casBackoff } from './bulk.js';
import {
  docId,
  errorCode,
  guard,
  parseDoc,
  queryDocs,
  readDoc,
  sql,
  translateError,
  type Versioned,
} from './support.js';

const PK = 'registry';

const RegistryDoc = z.object({
  registry: RegistrySchema,
  checkpoint: z.string().optional(),
  lease: z.object({ owner: z.string(), untilMs: z.number() }).optional(),
});
type RegistryDoc = z.infer<typeof RegistryDoc>;
const RunRow = z.object({ run: SyncRunSchema });
const RunKey = z.object({ id: z.string() });

/** Attempts at a compare-and-set that keeps meeting a concurrent writer. */
const CAS_ATTEMPTS = 8;

function toDoc(doc: RegistryDoc) {
  return { id: docId(doc.registry.id), pk: PK, nameKey: doc.registry.name.toLowerCase(), ...doc };
}

/** The containers the registry store uses. */
export interface RegistryContainers {
  registries: Container;
  runs: Container;
}

/** The `RegistryStore` port over the `registries` and `sync-runs` containers. */
export class CosmosRegistryStore implements RegistryStore {
  private readonly registries: Container;
  private readonly runs: Container;

  constructor(containers: RegistryContainers) {
    this.registries = containers.registries;
    this.runs = containers.runs;
  }

  /** Creates the registry; ConflictError when its id or name (case-insensitively) is taken. */
  async create(registry: RegistryConfig): Promise<void> {
    await guard(() => this.registries.items.create(toDoc({ registry })), {
      conflict: `a registry named "${registry.name}" already exists`,
    });
  }

  /** The registry with this id (a point read), or null. */
  async get(id: string): Promise<RegistryConfig | null> {
    return (await this.read(id))?.doc.registry ?? null;
  }

  /** The registry with this name (case-insensitive), or null. */
  async getByName(name: string): Promise<RegistryConfig | null> {
    const [doc] = await queryDocs(
      this.registries,
      sql('SELECT c.registry FROM c WHERE c.pk = @pk AND c.nameKey = @name', {
        pk: PK,
        name: name.toLowerCase(),
      }),
      { partitionKey: PK, max: 1 },
    );
    return doc === undefined ? null : this.parseRegistry(doc);
  }

  /** Every registry, ordered by name: one single-partition query. */
  async list(): Promise<RegistryConfig[]> {
    const docs = await queryDocs(
      this.registries,
      sql('SELECT c.registry FROM c WHERE c.pk = @pk ORDER BY c.nameKey', { pk: PK }),
      { partitionKey: PK },
    );
    return docs.map((d) => this.parseRegistry(d));
  }

  /** Deletes the registry, then its runs' partition; NotFoundError when it is gone. */
  async delete(id: string): Promise<void> {
    await guard(() => this.registries.item(docId(id), PK).delete(), {
      notFound: `registry ${id} not found`,
    });
    await this.deleteRuns(id, 'SELECT c.id FROM c WHERE c.pk = @pk', {});
  }

  /** Enables or disables the registry; NotFoundError when it is gone. */
  async setEnabled(id: string, enabled: boolean): Promise<void> {
    await this.mutate(id, (doc) => ({ ...doc, registry: { ...doc.registry, enabled } }));
  }

  /** The saved checkpoint, or null. */
  async getCheckpoint(id: string): Promise<string | null> {
    return (await this.read(id))?.doc.checkpoint ?? null;
  }

  /** Saves the checkpoint; NotFoundError when the registry is gone. */
  async setCheckpoint(id: string, checkpoint: string): Promise<void> {
    await this.mutate(id, (doc) => ({ ...doc, checkpoint }));
  }

  /** Takes or extends the lease under the registry's ETag; see `RegistryStore.tryLock`. */
  async tryLock(id: string, owner: string, until: string, now: string): Promise<boolean> {
    const untilMs = toMillis(until, 'until');
    const nowMs = toMillis(now, 'now');
    let won = false;
    await this.mutate(id, (doc) => {
      const lease = doc.lease;
      won = lease === undefined || lease.owner === owner || lease.untilMs <= nowMs;
      return won ? { ...doc, lease: { owner, untilMs } } : null;
    });
    return won;
  }

  /** Releases the lease if `owner` holds it. */
  async unlock(id: string, owner: string): Promise<void> {
    try {
      await this.mutate(id, (doc) => {
        if (doc.lease?.owner !== owner) return null;
        const { lease: _released, ...rest } = doc;
        return rest;
      });
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e;
    }
  }

  /** Inserts or replaces the run (an upsert by id in its registry's partition). */
  async recordRun(run: SyncRun): Promise<void> {
    await guard(() =>
      this.runs.items.upsert({
        id: docId(run.id),
        pk: run.registryId,
        runId: run.id,
        startedMs: toMillis(run.startedAt, 'startedAt'),
        run,
      }),
    );
  }

  /** The run with this id, or null: a query across registries on the indexed run id. */
  async getRun(id: string): Promise<SyncRun | null> {
    const [row] = await queryDocs(this.runs, sql('SELECT c.run FROM c WHERE c.runId = @id', { id }), {
      max: 1,
    });
    return row === undefined ? null : parseDoc(RunRow, row, this.runs.id).run;
  }

  /** Runs newest first: one partition for a registry, else across them on the composite index. */
  async listRuns(registryId: string | undefined, limit: number): Promise<SyncRun[]> {
    const n = pageSize(limit);
    const where = registryId === undefined ? '' : ' WHERE c.pk = @pk';
    const rows = await queryDocs(
      this.runs,
      sql(`SELECT TOP @top c.run FROM c${where} ORDER BY c.startedMs DESC, c.runId DESC`, {
        top: n,
        ...(registryId === undefined ? {} : { pk: registryId }),
      }),
      { max: n, ...(registryId === undefined ? {} : { partitionKey: registryId }) },
    );
    return rows.map((row) => parseDoc(RunRow, row, this.runs.id).run);
  }

  /** Deletes the registry's runs started before `before`; returns how many. */
  async purgeRuns(registryId: string, before: string): Promise<number> {
    return this.deleteRuns(registryId, 'SELECT c.id FROM c WHERE c.pk = @pk AND c.startedMs < @before', {
      before: toMillis(before, 'before'),
    });
  }

  private async deleteRuns(registryId: string, query: string, values: Record<string, unknown>) {
    const keys = await queryDocs(this.runs, sql(query, { pk: registryId, ...values }), {
      partitionKey: registryId,
    });
    const ids = keys.map((k) => parseDoc(RunKey, k, this.runs.id).id);
    await mapLimit(ids, 8, async (id) => {
      try {
        await this.runs.item(id, registryId).delete();
      } catch (e) {
        if (errorCode(e) !== 404) translateError(e);
      }
    });
    return ids.length;
  }

  /**
   * Read-modify-write under the ETag, retried when another writer got in between. `change`
   * answers the new document, or null to leave it as it is. NotFoundError when the registry
   * is gone.
   */
  private async mutate(id: string, change: (doc: RegistryDoc) => RegistryDoc | null): Promise<void> {
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const current = await this.read(id);
      if (current === null) throw new NotFoundError(`registry ${id} not found`);
      const next = change(current.doc);
      if (next === null) return;
      try {
        await this.registries
          .item(docId(id), PK)
          .replace(toDoc(next), { accessCondition: { type: 'IfMatch', condition: current.etag } });
        return;
      } catch (e) {
        if (errorCode(e) !== 412) translateError(e, { notFound: `registry ${id} not found` });
        await casBackoff(attempt);
      }
    }
    throw new UnavailableError(`registry ${id} kept changing during the write; try again`);
  }

  private async read(id: string): Promise<Versioned<RegistryDoc> | null> {
    const found = await readDoc(this.registries, docId(id), PK);
    return found === null
      ? null
      : { doc: parseDoc(RegistryDoc, found.doc, this.registries.id), etag: found.etag };
  }

  private parseRegistry(doc: unknown): RegistryConfig {
    return parseDoc(z.object({ registry: RegistrySchema }), doc, this.registries.id).registry;
  }
}
