/**
 * Bulk writes through the SDK's BulkWriter, which batches, runs batches in parallel, ramps
 * traffic up by Firestore's 500/50/5 rule and retries failed writes with exponential backoff
 * and jitter. What this adds: a retry policy that gives up on what retrying cannot fix
 * (precondition failures are the caller's to resolve), outcomes per write, and a watchdog so a
 * backend that stops answering fails the call instead of hanging it.
 */
import type { BulkWriter, BulkWriterError, DocumentReference, WriteResult } from '@google-cloud/firestore';
import { UnavailableError } from '../../../core/errors.js';
import { type FirestoreContext, TRANSIENT_CODES } from './client.js';

/** Attempts per write for transient errors (BulkWriter backs off between them, with jitter). */
const MAX_ATTEMPTS = 8;

/** A write that did not succeed: its document and the error it failed with. */
export interface BulkFailure {
  ref: DocumentReference;
  error: unknown;
}

/**
 * One BulkWriter and the outcomes of the writes queued on it. Queue writes with `add`, then
 * `flush` to wait for them and get the failures; `close` when done.
 */
export class BulkSession {
  private readonly writer: BulkWriter;
  private pending = 0;
  private lastProgress = Date.now();
  private failures: BulkFailure[] = [];

  constructor(
    private readonly ctx: FirestoreContext,
    /** How long the session may go without a write settling before it gives up. */
    private readonly stallMs = Math.max(ctx.options.timeoutMs * 12, 60_000),
  ) {
    this.writer = ctx.db.bulkWriter({ throttling: ctx.options.bulkThrottling });
    this.writer.onWriteError(
      (e: BulkWriterError) => TRANSIENT_CODES.has(e.code) && e.failedAttempts < MAX_ATTEMPTS,
    );
  }

  /** Queues one write; `op` calls a method of the writer and returns its promise. */
  add(ref: DocumentReference, op: (writer: BulkWriter) => Promise<WriteResult>): void {
    this.pending++;
    this.ctx.track(op(this.writer)).then(
      () => this.settle(),
      (error: unknown) => {
        this.failures.push({ ref, error });
        this.settle();
      },
    );
  }

  /** Waits for every queued write; returns those that failed (and forgets them). */
  async flush(): Promise<BulkFailure[]> {
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<never>((_, reject) => {
      timer = setInterval(() => {
        if (this.pending > 0 && Date.now() - this.lastProgress > this.stallMs) {
          reject(new UnavailableError(`Firestore accepted no write for ${this.stallMs} ms; try again`));
        }
      }, 500);
    });
    try {
      this.lastProgress = Date.now();
      await Promise.race([this.writer.flush(), stalled]);
    } finally {
      clearInterval(timer);
    }
    const failures = this.failures;
    this.failures = [];
    return failures;
  }

  /** Flushes and releases the writer; a stalled writer is abandoned rather than awaited. */
  async close(): Promise<void> {
    await Promise.race([
      this.writer.close().catch(() => undefined),
      new Promise((resolve) => setTimeout(resolve, this.ctx.options.timeoutMs).unref()),
    ]);
  }

  private settle(): void {
    this.pending--;
    this.lastProgress = Date.now();
  }
}
