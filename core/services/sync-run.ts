/**
 * One findings-sync run of one registry (DESIGN.md §5): consumes the connector's batches one
 * at a time (bounded memory), ingests each, saves each checkpoint the connector hands over,
 * keeps the lease alive, and records the run's progress and outcome.
 */
import { type ImageScan, SYNC_RUN_MAX_ERRORS, type SyncRun } from '../domain.js';
import { ValidationError } from '../errors.js';
import type { Clock, Logger, RegistryStore } from '../ports.js';
import type { RegistryConfig, RegistryConnector, SyncBatch, SyncResult } from '../sync.js';
import type { ScanService } from './scans.js';

/** The timings a run keeps to. */
export interface RunTimings {
  /** How long a lease lasts; renewed well before it ends while the run makes progress. */
  leaseMs: number;
  /** Progress is written to the run record at most this often. */
  progressIntervalMs: number;
}

/** Longest error message kept on a run (the schema's bound). */
const MAX_ERROR_CHARS = 2000;

/** Executes one run whose lease is held (owner = the run id) and whose start is recorded. */
export class SyncRunExecution {
  private lastRecordedMs: number;
  private lastRenewedMs: number;
  private moreErrors = 0;
  private readonly abort = new AbortController();

  constructor(
    private readonly run: SyncRun,
    private readonly registry: RegistryConfig,
    private readonly connect: () => RegistryConnector,
    private readonly store: RegistryStore,
    private readonly scans: ScanService,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly timings: RunTimings,
  ) {
    this.lastRecordedMs = this.nowMs();
    this.lastRenewedMs = this.nowMs();
  }

  /** Stops the run at the next batch (or sooner, where the connector watches the signal). */
  cancel(reason: string): void {
    this.abort.abort(new Error(reason));
  }

  /** Runs to the end; never throws — a failure is recorded on the run, which is returned. */
  async execute(): Promise<SyncRun> {
    const { run } = this;
    const fields = { registry: this.registry.name, registryId: this.registry.id, runId: run.id };
    this.logger.info('sync started', { ...fields, trigger: run.trigger, checkpoint: run.checkpointBefore });
    try {
      // Built here so that a connector that cannot be built fails the run, on the record.
      const generator = this.connect().sync({
        ...(run.checkpointBefore === undefined ? {} : { checkpoint: run.checkpointBefore }),
        signal: this.abort.signal,
        now: this.clock.now(),
      });
      const final = await this.consume(generator);
      if (final.inventory !== undefined) {
        // Before the final checkpoint: a run that fails here is done again, reconciliation included.
        const { marked, restored } = await this.scans.reconcile(final.inventory);
        run.images += marked + restored;
        if (marked + restored > 0) {
          this.logger.warn('images the scanner stopped or resumed reporting', {
            ...fields,
            marked,
            restored,
          });
        }
      }
      await this.store.setCheckpoint(this.registry.id, final.checkpoint);
      run.checkpointAfter = final.checkpoint;
      run.status = 'succeeded';
    } catch (e) {
      run.status = 'failed';
      this.addError(describe(e));
      this.logger.error('sync failed', { ...fields, error: describe(e), images: run.images });
    } finally {
      this.abort.abort();
    }
    run.finishedAt = this.clock.now().toISOString();
    await this.finish();
    this.logger.info('sync finished', {
      ...fields,
      status: run.status,
      images: run.images,
      vulnerabilities: run.vulnerabilities,
      errors: run.errors.length,
      durationMs: Date.parse(run.finishedAt) - Date.parse(run.startedAt),
    });
    return { ...run };
  }

  /**
   * Pulls one batch at a time: the next page is not asked for until the previous one is
   * stored, so memory holds a single batch whatever the registry's size. When this side
   * fails, `return()` lets the connector release what it holds.
   */
  private async consume(generator: AsyncGenerator<SyncBatch, SyncResult, void>): Promise<SyncResult> {
    let done = false;
    try {
      for (;;) {
        const next = await generator.next();
        if (next.done === true) {
          done = true;
          return next.value;
        }
        await this.ingest(next.value);
        // A connector that does not watch the signal still stops at the next batch.
        this.abort.signal.throwIfAborted();
        await this.keepAlive();
      }
    } finally {
      if (!done) await generator.return?.(undefined as never)?.catch(() => undefined);
    }
  }

  private async ingest(batch: SyncBatch): Promise<void> {
    const { run } = this;
    if (batch.scans.length > 0) {
      const stored = await this.ingestScans(batch.scans);
      run.images += stored.images;
      run.vulnerabilities += stored.vulnerabilities;
    }
    if (batch.tags !== undefined && batch.tags.length > 0) {
      const retagged = await this.scans.retag(batch.tags);
      if (retagged > 0) {
        this.logger.info('image tags moved', {
          registry: this.registry.name,
          runId: run.id,
          images: retagged,
        });
      }
    }
    if (batch.progress?.totalImages !== undefined) run.totalImages = batch.progress.totalImages;
    if (batch.checkpoint !== undefined) {
      await this.store.setCheckpoint(this.registry.id, batch.checkpoint);
      run.checkpointAfter = batch.checkpoint;
    }
  }

  /**
   * Ingests a batch in one bulk upsert. A scan that fails validation must not hold back the
   * registry forever (a retry would meet it again), so such a batch is stored scan by scan
   * and each bad scan is recorded as an error of the run.
   */
  private async ingestScans(scans: ImageScan[]): Promise<{ images: number; vulnerabilities: number }> {
    try {
      return await this.scans.ingest(scans);
    } catch (e) {
      if (!(e instanceof ValidationError)) throw e;
    }
    const total = { images: 0, vulnerabilities: 0 };
    for (const scan of scans) {
      try {
        const stored = await this.scans.ingest([scan]);
        total.images += stored.images;
        total.vulnerabilities += stored.vulnerabilities;
      } catch (e) {
        if (!(e instanceof ValidationError)) throw e;
        const image = `${scan.registry}/${scan.repository}@${scan.digest}`;
        this.addError(`skipped ${image}: ${e.message.replace(/^image 0: /, '')}`);
        this.logger.warn('sync skipped an invalid scan', {
          registry: this.registry.name,
          image,
          error: e.message,
        });
      }
    }
    return total;
  }

  /** Records progress at most every `progressIntervalMs`, and renews the lease well before it ends. */
  private async keepAlive(): Promise<void> {
    const now = this.nowMs();
    if (now - this.lastRenewedMs >= this.timings.leaseMs / 3) {
      const until = new Date(now + this.timings.leaseMs).toISOString();
      const held = await this.store.tryLock(
        this.registry.id,
        this.run.id,
        until,
        new Date(now).toISOString(),
      );
      if (!held) throw new Error('lost the sync lease to another run (this run stalled past its lease)');
      this.lastRenewedMs = now;
    }
    if (now - this.lastRecordedMs >= this.timings.progressIntervalMs) {
      await this.store.recordRun({ ...this.run });
      this.lastRecordedMs = now;
    }
  }

  /** Records the outcome, releases the lease; a failure here is logged, never thrown. */
  private async finish(): Promise<void> {
    try {
      await this.store.recordRun({ ...this.run });
    } catch (e) {
      this.logger.error('sync run could not be recorded', { runId: this.run.id, error: describe(e) });
    }
    try {
      await this.store.unlock(this.registry.id, this.run.id);
    } catch (e) {
      // The lease expires on its own.
      this.logger.warn('sync lease could not be released', { runId: this.run.id, error: describe(e) });
    }
  }

  /**
   * Keeps at most SYNC_RUN_MAX_ERRORS messages: the first ones in full (the first is usually
   * the cause), and in the last slot how many more there were and the latest of them.
   */
  private addError(message: string): void {
    const errors = this.run.errors;
    if (errors.length < SYNC_RUN_MAX_ERRORS - 1) {
      errors.push(clip(message));
      return;
    }
    this.moreErrors++;
    errors[SYNC_RUN_MAX_ERRORS - 1] = clip(
      this.moreErrors === 1 ? message : `… ${this.moreErrors} more errors; the last: ${message}`,
    );
  }

  private nowMs(): number {
    return this.clock.now().getTime();
  }
}

function clip(message: string): string {
  return message.length > MAX_ERROR_CHARS ? `${message.slice(0, MAX_ERROR_CHARS - 1)}…` : message;
}

/** An error as one line for the run record: its name when it says something, and its message. */
export function describe(e: unknown): string {
  if (e instanceof Error) {
    const name = e.name !== 'Error' && !e.message.startsWith(e.name) ? `${e.name}: ` : '';
    return `${name}${e.message}`;
  }
  return String(e);
}
