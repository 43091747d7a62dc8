/**
 * `AdmissionLog.summary` in Firestore: decision counts per UTC hour or day, from `count()`
 * aggregation queries over the sharded time index. Aggregations are billed per 1,000 index
 * entries, not per event, and always agree with the events themselves — purges and TTL
 * deletions included — which counters kept beside the events would not.
 *
 * Long, sparse ranges are not asked bucket by bucket: a span of buckets is counted first and
 * split in halves only when it has events, so a month of hourly buckets with a few busy hours
 * costs a few dozen queries.
 */

import { DecisionSchema } from '../../../core/domain.js';
import type { SummaryBucket, SummaryQuery } from '../../../core/ports.js';
import { BucketCounts, summaryWindow } from '../common/summary.js';
import type { FirestoreContext } from './client.js';
import { ALL_SHARDS } from './event-index.js';
import { buildQuery, summaryShape } from './query-shapes.js';

/** Spans of at most this many buckets are counted bucket by bucket. */
const LEAF_BUCKETS = 4;
/** Aggregation queries in flight at once. */
const CONCURRENCY = 16;

/** Decision counts per bucket over [from, to); only buckets with events, ascending. */
export async function summarize(ctx: FirestoreContext, query: SummaryQuery): Promise<SummaryBucket[]> {
  const { from, to, width } = summaryWindow(query);
  const starts: number[] = [];
  // Epoch milliseconds are UTC, and UTC days and hours are whole multiples of them.
  for (let start = from - (from % width); start < to; start += width) starts.push(start);

  const limit = semaphore(CONCURRENCY);
  const count = (lo: number, hi: number, decision?: string) =>
    limit(async () => {
      const equals: Record<string, unknown> = { shard: [...ALL_SHARDS] };
      if (query.cluster !== undefined) equals.cluster = query.cluster;
      if (query.namespace !== undefined) equals.namespace = query.namespace;
      if (decision !== undefined) equals.decision = decision;
      const shape = summaryShape(query, decision !== undefined);
      const q = buildQuery(ctx.col('events'), shape, equals, { range: { gte: lo, lt: hi } }).count();
      const snap = await ctx.call('events.summary', () => q.get());
      return snap.data().count;
    });
  const span = (i: number, j: number): [number, number] => [
    Math.max(from, starts[i]!),
    Math.min(to, starts[j - 1]! + width),
  ];

  const buckets = new BucketCounts(width);
  const walk = async (i: number, j: number): Promise<void> => {
    if (j - i > LEAF_BUCKETS) {
      if ((await count(...span(i, j))) === 0) return;
      const mid = (i + j) >> 1;
      await Promise.all([walk(i, mid), walk(mid, j)]);
      return;
    }
    await Promise.all(
      starts.slice(i, j).map(async (start, k) => {
        const [lo, hi] = span(i + k, i + k + 1);
        const counts = await Promise.all(DecisionSchema.options.map((decision) => count(lo, hi, decision)));
        if (counts.some((n) => n > 0)) {
          for (const [d, decision] of DecisionSchema.options.entries())
            buckets.add(start, decision, counts[d]!);
        }
      }),
    );
  };
  if (starts.length > 0) await walk(0, starts.length);
  return buckets.list();
}

/** A limiter: at most `n` of the functions passed to it run at once. */
function semaphore(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (fn) => {
    if (active >= n) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}
