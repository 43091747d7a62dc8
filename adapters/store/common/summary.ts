/**
 * What every store's `AdmissionLog.summary` shares: the validated window and bucket width of a
 * query, and the counts per bucket, whichever way the backend finds the events to count.
 */
import type { Decision } from '../../../core/domain.js';
import { ValidationError } from '../../../core/errors.js';
import type { SummaryBucket, SummaryQuery } from '../../../core/ports.js';
import { toMillis } from './records.js';

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;

/** [from, to) of a summary in epoch ms and its bucket width; ValidationError when from is after to. */
export function summaryWindow(query: SummaryQuery): { from: number; to: number; width: number } {
  const from = toMillis(query.from, 'from');
  const to = toMillis(query.to, 'to');
  if (from > to) {
    throw new ValidationError('from must not be after to', {
      details: [{ path: 'from', message: 'after to' }],
    });
  }
  return { from, to, width: query.bucket === 'day' ? DAY_MS : HOUR_MS };
}

/** Decision counts per bucket; only buckets something was added to are listed. */
export class BucketCounts {
  private readonly buckets = new Map<number, SummaryBucket>();

  constructor(private readonly width: number) {}

  /** Counts `n` events of `decision` at `timeMs` in the bucket that holds it. */
  add(timeMs: number, decision: Decision, n = 1): void {
    // Epoch milliseconds are UTC, and UTC days and hours are whole multiples of them.
    const start = timeMs - (timeMs % this.width);
    let bucket = this.buckets.get(start);
    if (bucket === undefined) {
      bucket = { start: new Date(start).toISOString(), Allowed: 0, Audited: 0, Denied: 0 };
      this.buckets.set(start, bucket);
    }
    bucket[decision] += n;
  }

  /** The buckets, oldest first. */
  list(): SummaryBucket[] {
    return [...this.buckets.entries()].sort(([a], [b]) => a - b).map(([, bucket]) => bucket);
  }
}
