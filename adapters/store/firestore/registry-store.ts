/**
 * Registry connectors and their sync runs in Firestore:
 * - `registries/{id}`: the config (`doc`) with its `checkpoint` and sync `lease` as fields of
 *   their own, so each changes with a field update that leaves the others alone; the lease
 *   changes only under the `updateTime` it was read at, so of racing owners exactly one wins;
 * - `registryNames/{lower-cased name}`: the name lock, created in the same atomic commit;
 * - `syncRuns/{run id}`: one document per run, queried newest first by (startedMs, runId),
 *   per registry or across all (composite indexes in iac/gcp/firestore.indexes.json).
 */
import { type DocumentSnapshot, FieldValue } from '@google-cloud/firestore';
import { z } from 'zod';
import { RegistrySchema, type SyncRun, SyncRunSchema } from '../../../core/domain.js';
import { NotFoundError, UnavailableError } from '../../../core/errors.js';
import type { RegistryStore } from '../../../core/ports.js';
import type { RegistryConfig } from '../../../core/sync.js';
import { pageSize, toMillis } from '../common/records.js';
import { Code, docId, type FirestoreContext, grpcCode, parseDoc, plain, translateError } from './client.js';
import { ALL_RUNS_SHAPE, buildQuery, REGISTRY_RUNS_SHAPE } from './query-shapes.js';

const RegistryDoc = z.object({
  nameKey: z.string(),
  doc: RegistrySchema,
  checkpoint: z.string().optional(),
  lease: z.object({ owner: z.string(), untilMs: z.number() }).optional(),
});
type RegistryDoc = z.infer<typeof RegistryDoc>;
const LockDoc = z.object({ registryId: z.string() });
const RunDoc = z.object({ doc: SyncRunSchema });

/** Attempts of a lease change when the registry keeps changing underneath it. */
const LEASE_ATTEMPTS = 8;
/** Runs deleted per commit (Firestore allows 500 writes in one). */
const DELETE_BATCH = 400;

/** The `RegistryStore` port over `registries`, `registryNames` and `syncRuns`. */
export class FirestoreRegistryStore implements RegistryStore {
  constructor(private readonly ctx: FirestoreContext) {}

  /** Creates the registry and its name lock atomically; ConflictError when either is taken. */
  async create(registry: RegistryConfig): Promise<void> {
    const nameKey = registry.name.toLowerCase();
    const batch = this.ctx.db.batch();
    batch.create(this.ref(registry.id), { nameKey, doc: plain(registry) });
    batch.create(this.nameRef(nameKey), { registryId: registry.id });
    await this.ctx.call('registries.create', () => batch.commit(), {
      conflict: `a registry named "${registry.name}"`,
    });
  }

  /** The registry with this id, or null. */
  async get(id: string): Promise<RegistryConfig | null> {
    const snap = await this.read(id);
    return snap.exists ? this.parse(snap).doc : null;
  }

  /** The registry with this name (case-insensitive), through its name lock: point reads only. */
  async getByName(name: string): Promise<RegistryConfig | null> {
    const lock = await this.ctx.call('registries.getByName', () => this.nameRef(name.toLowerCase()).get());
    if (!lock.exists) return null;
    return this.get(parseDoc(LockDoc, lock.data(), lock.ref.path).registryId);
  }

  /** Every registry, ordered by name. */
  async list(): Promise<RegistryConfig[]> {
    const snap = await this.ctx.call('registries.list', () => this.ctx.col('registries').get());
    return snap.docs
      .map((d) => parseDoc(RegistryDoc, d.data(), d.ref.path))
      .sort((a, b) => (a.nameKey < b.nameKey ? -1 : a.nameKey > b.nameKey ? 1 : 0))
      .map((r) => r.doc);
  }

  /** Deletes the registry with its name lock, then its runs; NotFoundError when it is gone. */
  async delete(id: string): Promise<void> {
    const snap = await this.read(id);
    if (!snap.exists) throw new NotFoundError(`registry ${id} not found`);
    const batch = this.ctx.db.batch();
    batch.delete(this.ref(id), { exists: true });
    batch.delete(this.nameRef(this.parse(snap).nameKey));
    await this.ctx.call('registries.delete', () => batch.commit(), { notFound: `registry ${id}` });
    await this.deleteRuns(id);
  }

  /** Enables or disables the registry (a field update); NotFoundError when it is gone. */
  async setEnabled(id: string, enabled: boolean): Promise<void> {
    await this.ctx.call('registries.setEnabled', () => this.ref(id).update({ 'doc.enabled': enabled }), {
      notFound: `registry ${id}`,
    });
  }

  /** The saved checkpoint, or null. */
  async getCheckpoint(id: string): Promise<string | null> {
    const snap = await this.read(id);
    return snap.exists ? (this.parse(snap).checkpoint ?? null) : null;
  }

  /** Saves the checkpoint (a field update); NotFoundError when the registry is gone. */
  async setCheckpoint(id: string, checkpoint: string): Promise<void> {
    await this.ctx.call('registries.setCheckpoint', () => this.ref(id).update({ checkpoint }), {
      notFound: `registry ${id}`,
    });
  }

  /** Takes or extends the lease under the registry's `updateTime`; see `RegistryStore.tryLock`. */
  async tryLock(id: string, owner: string, until: string, now: string): Promise<boolean> {
    const untilMs = toMillis(until, 'until');
    const nowMs = toMillis(now, 'now');
    let won = false;
    await this.changeLease(id, (lease) => {
      won = lease === undefined || lease.owner === owner || lease.untilMs <= nowMs;
      return won ? { owner, untilMs } : 'keep';
    });
    return won;
  }

  /** Releases the lease if `owner` holds it. */
  async unlock(id: string, owner: string): Promise<void> {
    try {
      await this.changeLease(id, (lease) => (lease?.owner === owner ? 'release' : 'keep'));
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e;
    }
  }

  /** Inserts or replaces the run by id. */
  async recordRun(run: SyncRun): Promise<void> {
    const data = {
      registryId: run.registryId,
      runId: run.id,
      startedMs: toMillis(run.startedAt, 'startedAt'),
      doc: plain(run),
    };
    await this.ctx.call('syncRuns.record', () => this.runRef(run.id).set(data));
  }

  /** The run with this id (a point read), or null. */
  async getRun(id: string): Promise<SyncRun | null> {
    const snap = await this.ctx.call('syncRuns.get', () => this.runRef(id).get());
    return snap.exists ? parseDoc(RunDoc, snap.data(), snap.ref.path).doc : null;
  }

  /** Runs newest first, of one registry or of all. */
  async listRuns(registryId: string | undefined, limit: number): Promise<SyncRun[]> {
    const col = this.ctx.col('syncRuns');
    const query =
      registryId === undefined
        ? buildQuery(col, ALL_RUNS_SHAPE, {})
        : buildQuery(col, REGISTRY_RUNS_SHAPE, { registryId });
    const snap = await this.ctx.call('syncRuns.list', () => query.limit(pageSize(limit)).get());
    return snap.docs.map((d) => parseDoc(RunDoc, d.data(), d.ref.path).doc);
  }

  /** Deletes the registry's runs started before `before`, a commit per few hundred; returns how many. */
  async purgeRuns(registryId: string, before: string): Promise<number> {
    return this.deleteRuns(registryId, toMillis(before, 'before'));
  }

  private async deleteRuns(registryId: string, beforeMs?: number): Promise<number> {
    const query = buildQuery(
      this.ctx.col('syncRuns'),
      REGISTRY_RUNS_SHAPE,
      { registryId },
      beforeMs === undefined ? {} : { range: { lt: beforeMs } },
    );
    let deleted = 0;
    for (;;) {
      const snap = await this.ctx.call('syncRuns.purge', () => query.select().limit(DELETE_BATCH).get());
      if (snap.empty) return deleted;
      const batch = this.ctx.db.batch();
      for (const doc of snap.docs) batch.delete(doc.ref);
      await this.ctx.call('syncRuns.purge', () => batch.commit());
      deleted += snap.size;
      if (snap.size < DELETE_BATCH) return deleted;
    }
  }

  /**
   * Reads the registry, asks `decide` what becomes of its lease, and writes that under the
   * `updateTime` read; re-reads and decides again when another writer got in between.
   */
  private async changeLease(
    id: string,
    decide: (lease: RegistryDoc['lease']) => { owner: string; untilMs: number } | 'release' | 'keep',
  ): Promise<void> {
    for (let attempt = 0; attempt < LEASE_ATTEMPTS; attempt++) {
      const snap = await this.read(id);
      if (!snap.exists) throw new NotFoundError(`registry ${id} not found`);
      const next = decide(this.parse(snap).lease);
      if (next === 'keep') return;
      const lease = next === 'release' ? FieldValue.delete() : next;
      try {
        await this.ctx.timed('registries.lease', () =>
          this.ref(id).update({ lease }, { lastUpdateTime: snap.updateTime! }),
        );
        return;
      } catch (e) {
        const code = grpcCode(e);
        if (code !== Code.FAILED_PRECONDITION && code !== Code.NOT_FOUND) translateError(e);
      }
    }
    throw new UnavailableError(`registry ${id} kept changing during the lease change; try again`);
  }

  private read(id: string): Promise<DocumentSnapshot> {
    return this.ctx.call('registries.get', () => this.ref(id).get());
  }

  private parse(snap: DocumentSnapshot): RegistryDoc {
    return parseDoc(RegistryDoc, snap.data(), snap.ref.path);
  }

  private ref(id: string) {
    return this.ctx.col('registries').doc(docId(id));
  }

  private nameRef(nameKey: string) {
    return this.ctx.col('registryNames').doc(docId(nameKey));
  }

  private runRef(id: string) {
    return this.ctx.col('syncRuns').doc(docId(id));
  }
}
