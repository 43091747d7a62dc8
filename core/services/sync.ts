/**
 * Registry connectors and their findings sync (DESIGN.md §5): registration with validation,
 * on-demand and scheduled runs through the connector each registry's kind names, one run per
 * registry at a time (a lease in the store), and the record of every run.
 */
import { RegistryInputSchema, type SyncRun } from '../domain.js';
import { ConflictError, NotFoundError, UnavailableError } from '../errors.js';
import type { Clock, Logger, RegistryStore } from '../ports.js';
import { newId } from '../secrets.js';
import type { ConnectorFactory, RegistryConfig } from '../sync.js';
import { parseInput } from '../validation.js';
import type { ScanService } from './scans.js';
import { describe, type RunTimings, SyncRunExecution } from './sync-run.js';

export interface SyncOptions {
  /** Builds a connector per registry; without it, registries can be managed but not synced. */
  connectors?: ConnectorFactory;
  /** How long a run's lease lasts before another run may take over (default 10 min). */
  leaseMs?: number;
  /** Progress is written to a run's record at most this often (default 1 s). */
  progressIntervalMs?: number;
  /** Runs are kept this many days (default 30). */
  runRetentionDays?: number;
  /** Registries `syncAll` runs at once (default 2). */
  concurrency?: number;
}

/** A run that has started: its first record, and the promise of its last. */
export interface StartedRun {
  run: SyncRun;
  finished: Promise<SyncRun>;
}

/** What the scheduled sync did. */
export interface SyncAllResult {
  runs: SyncRun[];
  /** Registries left alone because a run of theirs was already going. */
  skipped: string[];
}

const DAY_MS = 86_400_000;

export class SyncService {
  private readonly timings: RunTimings;
  private readonly retentionMs: number;
  private readonly concurrency: number;
  private readonly active = new Map<SyncRunExecution, Promise<SyncRun>>();

  constructor(
    private readonly store: RegistryStore,
    private readonly scans: ScanService,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly options: SyncOptions = {},
  ) {
    this.timings = {
      leaseMs: options.leaseMs ?? 10 * 60_000,
      progressIntervalMs: options.progressIntervalMs ?? 1000,
    };
    this.retentionMs = (options.runRetentionDays ?? 30) * DAY_MS;
    this.concurrency = Math.max(1, options.concurrency ?? 2);
  }

  /** Registers a registry connector (validated per kind); ConflictError when the name is taken. */
  async create(body: unknown, actor: string): Promise<RegistryConfig> {
    const input = parseInput(RegistryInputSchema, body, 'registry');
    const registry: RegistryConfig = {
      id: newId(),
      name: input.name,
      kind: input.kind,
      settings: input.settings,
      enabled: input.enabled,
      createdAt: this.clock.now().toISOString(),
      createdBy: actor,
    };
    await this.store.create(registry);
    this.logger.info('registry added', {
      registry: registry.name,
      id: registry.id,
      kind: registry.kind,
      actor,
    });
    return registry;
  }

  list(): Promise<RegistryConfig[]> {
    return this.store.list();
  }

  /** A registry by id or by name; NotFoundError when neither matches. */
  async get(ref: string): Promise<RegistryConfig> {
    const registry = (await this.store.get(ref)) ?? (await this.store.getByName(ref));
    if (registry === null) throw new NotFoundError(`registry ${ref} not found`);
    return registry;
  }

  /** Removes a registry with its checkpoint and runs; the scans it synced stay. */
  async delete(ref: string, actor: string): Promise<void> {
    const registry = await this.get(ref);
    await this.store.delete(registry.id);
    this.logger.info('registry removed', { registry: registry.name, id: registry.id, actor });
  }

  /** Turns the scheduled sync of a registry on or off (a manual sync works either way). */
  async setEnabled(ref: string, enabled: boolean, actor: string): Promise<RegistryConfig> {
    const registry = await this.get(ref);
    await this.store.setEnabled(registry.id, enabled);
    this.logger.info(enabled ? 'registry enabled' : 'registry disabled', { registry: registry.name, actor });
    return { ...registry, enabled };
  }

  /** Runs newest first: of one registry (by id or name), or of all. */
  async runs(ref: string | undefined, limit = 20): Promise<SyncRun[]> {
    const registryId = ref === undefined ? undefined : (await this.get(ref)).id;
    return this.store.listRuns(registryId, limit);
  }

  /** One run by id; NotFoundError when unknown. */
  async run(id: string): Promise<SyncRun> {
    const run = await this.store.getRun(id);
    if (run === null) throw new NotFoundError(`sync run ${id} not found`);
    return run;
  }

  /**
   * Starts a run: takes the registry's lease and records the run as `running`, then carries
   * on without being awaited. ConflictError when a run of this registry is going already;
   * UnavailableError when this runtime has no connectors.
   */
  async start(ref: string, trigger: SyncRun['trigger']): Promise<StartedRun> {
    const registry = await this.get(ref);
    return this.begin(registry, trigger);
  }

  /** Runs a sync to its end and returns the finished run (failed runs included, not thrown). */
  async sync(ref: string, trigger: SyncRun['trigger']): Promise<SyncRun> {
    return (await this.start(ref, trigger)).finished;
  }

  /**
   * The scheduled sync: every enabled registry, a few at a time. One registry's failure is
   * recorded on its run and never stops the others; a registry whose run is still going
   * (a manual one, or a slow one from the last schedule) is skipped.
   */
  async syncAll(): Promise<SyncAllResult> {
    const registries = (await this.store.list()).filter((r) => r.enabled);
    const runs: SyncRun[] = [];
    const skipped: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < registries.length) {
        const registry = registries[next++]!;
        try {
          runs.push(await (await this.begin(registry, 'schedule')).finished);
        } catch (e) {
          if (e instanceof ConflictError) {
            skipped.push(registry.name);
            this.logger.info('sync skipped: a run is already going', { registry: registry.name });
            continue;
          }
          // A run that could not even start (store down, no connector): logged, the rest go on.
          skipped.push(registry.name);
          this.logger.error('sync could not start', { registry: registry.name, error: describe(e) });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, registries.length) }, worker));
    return { runs, skipped };
  }

  private async begin(registry: RegistryConfig, trigger: SyncRun['trigger']): Promise<StartedRun> {
    const factory = this.options.connectors;
    if (factory === undefined) {
      throw new UnavailableError(
        'registry sync is not available in this runtime: no connectors are configured',
      );
    }
    const now = this.clock.now();
    const id = newId();
    const until = new Date(now.getTime() + this.timings.leaseMs).toISOString();
    if (!(await this.store.tryLock(registry.id, id, until, now.toISOString()))) {
      throw new ConflictError(
        `registry ${registry.name} is being synced already; try again when that run ends`,
      );
    }
    let run: SyncRun;
    try {
      const checkpoint = await this.store.getCheckpoint(registry.id);
      run = {
        id,
        registryId: registry.id,
        registryName: registry.name,
        trigger,
        status: 'running',
        startedAt: now.toISOString(),
        images: 0,
        vulnerabilities: 0,
        errors: [],
        ...(checkpoint === null ? {} : { checkpointBefore: checkpoint }),
      };
      await this.store.recordRun(run);
    } catch (e) {
      await this.store.unlock(registry.id, id).catch(() => undefined);
      throw e;
    }
    const execution = new SyncRunExecution(
      { ...run, errors: [] },
      registry,
      () => factory(registry),
      this.store,
      this.scans,
      this.clock,
      this.logger,
      this.timings,
    );
    const finished = execution.execute().then(async (done) => {
      this.active.delete(execution);
      await this.purgeOldRuns(registry);
      return done;
    });
    this.active.set(execution, finished);
    return { run, finished };
  }

  /**
   * Stops the runs going on in this instance (at their next batch) and waits for them to be
   * recorded as failed and their leases released, so a restart can sync again at once.
   */
  async stop(reason = 'stopped: Portcullis is shutting down'): Promise<void> {
    const running = [...this.active.entries()];
    for (const [execution] of running) execution.cancel(reason);
    await Promise.all(running.map(([, finished]) => finished));
  }

  private async purgeOldRuns(registry: RegistryConfig): Promise<void> {
    try {
      const before = new Date(this.clock.now().getTime() - this.retentionMs).toISOString();
      await this.store.purgeRuns(registry.id, before);
    } catch (e) {
      this.logger.warn('old sync runs could not be purged', { registry: registry.name, error: describe(e) });
    }
  }
}
