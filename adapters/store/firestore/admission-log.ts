/**
 * The admission monitoring log in Firestore: `events/{id}`, one document per event holding the
 * event (`doc`, not indexed) and the fields its queries use — `shard`, `timeMs`, `id`, `uid`,
 * `cluster`, `namespace`, `decision`, `imageGrams`, `ruleKeys` — plus `expiresAt`, the
 * Timestamp that Firestore's TTL policy deletes it after (event-index.ts has the why of each).
 */
import { Timestamp } from '@google-cloud/firestore';
import { z } from 'zod';
import { type AdmissionEvent, AdmissionEventSchema } from '../../../core/domain.js';
import type {
  AdmissionLog,
  AdmissionQuery,
  Clock,
  Page,
  SummaryBucket,
  SummaryQuery,
} from '../../../core/ports.js';
import { decodeCursor, encodeCursor, pageSize, toMillis } from '../common/records.js';
import { summarize } from './admission-summary.js';
import { BulkSession } from './bulk.js';
import { docId, type FirestoreContext, parseDoc, plain, translateError } from './client.js';
import { ALL_SHARDS, imageKeys, imageSearch, matchesQuery, ruleKeys, shardOf } from './event-index.js';
import { buildQuery, PURGE_SHAPE, planEventQuery } from './query-shapes.js';

const EventDoc = z.object({ timeMs: z.number(), id: z.string(), doc: AdmissionEventSchema });

/** The position after the last event of a page: its (time in ms, id). */
const EventCursor = z.tuple([z.number().int(), z.string()]);

import { DAY_MS } from '../common/summary.js';

/** Documents one `query` call examines at most when filters are checked in memory. */
const EXAMINE_BUDGET = 5000;
/** Events deleted per purge round. */
const PURGE_BATCH = 500;

/** Options of the admission log. */
export interface FirestoreAdmissionLogOptions {
  clock: Clock;
  /** Days after an event's time at which its `expiresAt` falls (the TTL policy deletes it). */
  retentionDays: number;
}

/** The `AdmissionLog` port over `events`. */
export class FirestoreAdmissionLog implements AdmissionLog {
  constructor(
    private readonly ctx: FirestoreContext,
    private readonly options: FirestoreAdmissionLogOptions,
  ) {}

  /**
   * Stores an event as given (the caller decides whether dry runs are recorded). A `set`, so a
   * write the SDK retries after a lost answer cannot fail as a duplicate.
   */
  async record(event: AdmissionEvent): Promise<void> {
    const timeMs = toMillis(event.time, 'time');
    const ref = this.ctx.col('events').doc(docId(event.id));
    const doc = {
      id: event.id,
      shard: shardOf(event.id),
      timeMs,
      uid: event.uid,
      cluster: event.cluster,
      namespace: event.namespace,
      decision: event.decision,
      imageGrams: imageKeys(event),
      ruleKeys: ruleKeys(event),
      expiresAt: Timestamp.fromMillis(timeMs + this.options.retentionDays * DAY_MS),
      doc: plain(event),
    };
    await this.ctx.call('events.record', () => ref.set(doc));
  }

  /**
   * Newest first by (time, id). The plan (query-shapes.ts) sends what the indexes serve to
   * Firestore and checks the rest on each event, reading further pages until this one is full;
   * at most EXAMINE_BUDGET events are examined per call, after which a page may come back
   * short, with a cursor to continue from.
   */
  async query(query: AdmissionQuery): Promise<Page<AdmissionEvent>> {
    const limit = pageSize(query.limit);
    const { cursor, limit: _, ...filters } = query;
    let after = cursor === undefined ? undefined : decodeCursor(cursor, EventCursor);
    const range = {
      ...(query.from !== undefined ? { gte: toMillis(query.from, 'from') } : {}),
      ...(query.to !== undefined ? { lt: toMillis(query.to, 'to') } : {}),
    };
    const plan = planEventQuery(filters, { shards: ALL_SHARDS, imageSearch });
    const base = buildQuery(this.ctx.col('events'), plan.shape, plan.equals, { array: plan.array, range });
    const found: { timeMs: number; id: string; event: AdmissionEvent }[] = [];
    let examined = 0;
    let exhausted = false;
    while (found.length <= limit && examined < EXAMINE_BUDGET) {
      const want = limit + 1 - found.length;
      const batch = plan.filteredInMemory ? Math.min(500, Math.max(want * 2, 50)) : want;
      const q = (after === undefined ? base : base.startAfter(after[0], after[1])).limit(batch);
      const snap = await this.ctx.call('events.query', () => q.get());
      for (const d of snap.docs) {
        const row = parseDoc(EventDoc, d.data(), d.ref.path);
        examined++;
        after = [row.timeMs, row.id];
        if (matchesQuery(row.doc, filters)) found.push({ timeMs: row.timeMs, id: row.id, event: row.doc });
      }
      if (snap.size < batch) {
        exhausted = true;
        break;
      }
    }
    const page = found.slice(0, limit);
    const last = page.at(-1);
    let nextCursor: string | null = null;
    if (found.length > limit && last !== undefined) nextCursor = encodeCursor([last.timeMs, last.id]);
    else if (!exhausted && after !== undefined) nextCursor = encodeCursor(after);
    return { items: page.map((f) => f.event), nextCursor };
  }

  /** Decision counts per UTC hour or day over [from, to); see admission-summary.ts. */
  async summary(query: SummaryQuery): Promise<SummaryBucket[]> {
    return summarize(this.ctx, query);
  }

  /**
   * Deletes events older than `before`; returns how many went. Finds them through the sharded
   * time index (never a collection scan), PURGE_BATCH at a time, and deletes them with
   * BulkWriter. For stores without a TTL policy, and to purge sooner than TTL does (up to a
   * day after expiry).
   */
  async purgeBefore(before: string): Promise<number> {
    const beforeMs = toMillis(before, 'before');
    const query = buildQuery(
      this.ctx.col('events'),
      PURGE_SHAPE,
      { shard: [...ALL_SHARDS] },
      {
        range: { lt: beforeMs },
      },
    )
      .select()
      .limit(PURGE_BATCH);
    const session = new BulkSession(this.ctx);
    let purged = 0;
    try {
      for (;;) {
        const snap = await this.ctx.call('events.purge', () => query.get());
        if (snap.empty) return purged;
        for (const d of snap.docs) session.add(d.ref, (w) => w.delete(d.ref));
        const failures = await session.flush();
        purged += snap.size - failures.length;
        if (failures.length > 0) translateError(failures[0]!.error);
      }
    } finally {
      await session.close();
    }
  }
}
