/**
 * The admission monitoring log in Cosmos DB. Events are partitioned by cluster and UTC day
 * (`<cluster>|<YYYY-MM-DD>`), so thousands of clusters writing at once spread over as many
 * logical partitions and no partition grows past a day of one cluster. Every filter of the
 * monitoring API is an indexed property (opt-in indexing: the event payload itself is not
 * indexed); retention is Cosmos DB's TTL, with a `ttl` on every event counted from its time.
 */
import type { Container } from '@azure/cosmos';
import { z } from 'zod';
import { type AdmissionEvent, AdmissionEventSchema, DecisionSchema } from '../../../core/domain.js';
import type {
  AdmissionLog,
  AdmissionQuery,
  Clock,
  Page,
  SummaryBucket,
  SummaryQuery,
} from '../../../core/ports.js';
import { decodeCursor, pageOf, pageSize, toMillis } from '../common/records.js';
import { BucketCounts, DAY_MS, summaryWindow } from '../common/summary.js';
import { runBulk } from './bulk.js';
import { EVENT_LEAD_FIELDS } from './containers.js';
import { pack, unpack } from './payload.js';
import { docId, forEachPage, guard, parseDoc, queryDocs, sql } from './support.js';

const EventRow = z.object({ timeMs: z.number(), eventId: z.string() });
const DecisionRow = z.object({ timeMs: z.number(), decision: DecisionSchema });
const PurgeRow = z.object({ id: z.string(), pk: z.string() });

/** The position after the last event of a page: its (time in ms, id). */
const EventCursor = z.tuple([z.number().int(), z.string()]);

/** Events deleted per purge round (one query and one bulk delete). */
const PURGE_BATCH = 1000;

/** Options of the admission log. */
export interface CosmosAdmissionLogOptions {
  clock: Clock;
  /** Days an event is kept: its `ttl` runs out this long after its time. */
  retentionDays: number;
}

/** The logical partition of an event: its cluster and UTC day. */
export function eventPk(cluster: string, timeMs: number): string {
  return `${cluster}|${new Date(timeMs).toISOString().slice(0, 10)}`;
}

/** The `AdmissionLog` port over the `admissions` container. */
export class CosmosAdmissionLog implements AdmissionLog {
  constructor(
    private readonly container: Container,
    private readonly options: CosmosAdmissionLogOptions,
  ) {}

  /**
   * Stores an event with the lower-cased keys its filters use and a TTL that ends its
   * retention period after its own time (at least one second: one recorded late goes soon).
   */
  async record(event: AdmissionEvent): Promise<void> {
    const timeMs = toMillis(event.time, 'time');
    const retentionMs = this.options.retentionDays * DAY_MS;
    const ttl = Math.max(1, Math.ceil((timeMs + retentionMs - this.options.clock.now().getTime()) / 1000));
    const ruleKeys = new Set<string>();
    const digestKeys = new Set<string>();
    for (const image of event.images) {
      if (image.digest !== undefined) digestKeys.add(image.digest.toLowerCase());
      for (const rule of image.triggeredRules) {
        ruleKeys.add(rule.ruleId.toLowerCase());
        ruleKeys.add(rule.ruleName.toLowerCase());
      }
    }
    const doc = {
      id: docId(event.id),
      pk: eventPk(event.cluster, timeMs),
      eventId: event.id,
      timeMs,
      uid: event.uid,
      cluster: event.cluster,
      namespace: event.namespace,
      decision: event.decision,
      // One line per image: a substring filter on references is one CONTAINS.
      imageText: event.images.map((i) => i.reference.toLowerCase()).join('\n'),
      digestKeys: [...digestKeys],
      ruleKeys: [...ruleKeys],
      ttl,
      ...pack('event', event, `admission event ${event.id}`),
    };
    await guard(() => this.container.items.create(doc), {
      conflict: `admission event ${event.id} already exists`,
    });
  }

  /**
   * Newest first by (time, id); every filter combines with AND. An equality filter leads
   * the ORDER BY so that its composite index (filter, time desc, id desc) serves the query.
   */
  async query(query: AdmissionQuery): Promise<Page<AdmissionEvent>> {
    const limit = pageSize(query.limit);
    const where: string[] = [];
    const values: Record<string, unknown> = {};
    const add = (clause: string, named: Record<string, unknown>) => {
      where.push(clause);
      Object.assign(values, named);
    };
    for (const field of EVENT_LEAD_FIELDS) {
      const value = query[field];
      if (value !== undefined) add(`c.${field} = @${field}`, { [field]: value });
    }
    if (query.rule !== undefined && query.rule !== '') {
      add('ARRAY_CONTAINS(c.ruleKeys, @rule)', { rule: query.rule.toLowerCase() });
    }
    if (query.image !== undefined && query.image !== '') {
      add('(ARRAY_CONTAINS(c.digestKeys, @image) OR CONTAINS(c.imageText, @image))', {
        image: query.image.toLowerCase(),
      });
    }
    if (query.from !== undefined) add('c.timeMs >= @from', { from: toMillis(query.from, 'from') });
    if (query.to !== undefined) add('c.timeMs < @to', { to: toMillis(query.to, 'to') });
    if (query.cursor !== undefined) {
      const [t, id] = decodeCursor(query.cursor, EventCursor);
      // (time, id) < (ct, ci), written flat (a range on the time, then the tie-break).
      add('c.timeMs <= @ct AND (c.timeMs < @ct OR c.eventId < @ci)', { ct: t, ci: id });
    }
    const lead = EVENT_LEAD_FIELDS.find((f) => query[f] !== undefined);
    const order = `${lead === undefined ? '' : `c.${lead} ASC, `}c.timeMs DESC, c.eventId DESC`;
    const rows = (
      await queryDocs(
        this.container,
        sql(
          `SELECT TOP @top c.timeMs, c.eventId, c.event, c.eventGz FROM c${
            where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''
          } ORDER BY ${order}`,
          { ...values, top: limit + 1 },
        ),
        { max: limit + 1 },
      )
    ).map((row) => ({
      ...parseDoc(EventRow, row, this.container.id),
      event: unpack(row, 'event', AdmissionEventSchema, this.container.id),
    }));
    return pageOf(
      rows,
      limit,
      (r) => r.event,
      (r) => [r.timeMs, r.eventId],
    );
  }

  /**
   * Decision counts per UTC hour or day over [from, to); only buckets with events, ascending.
   * Reads the two indexed fields of each event in range and counts here (the local server
   * has no GROUP BY); see docs/storage/cosmos.md for its cost and the rollup it can become.
   */
  async summary(query: SummaryQuery): Promise<SummaryBucket[]> {
    const { from, to, width } = summaryWindow(query);
    const where = ['c.timeMs >= @from', 'c.timeMs < @to'];
    const values: Record<string, unknown> = { from, to };
    if (query.cluster !== undefined) {
      where.push('c.cluster = @cluster');
      values.cluster = query.cluster;
    }
    if (query.namespace !== undefined) {
      where.push('c.namespace = @namespace');
      values.namespace = query.namespace;
    }
    const counts = new BucketCounts(width);
    // Counted page by page, so a long range never sits in memory as a whole.
    await forEachPage(
      this.container,
      sql(`SELECT c.timeMs, c.decision FROM c WHERE ${where.join(' AND ')}`, values),
      {},
      (rows) => {
        for (const row of rows) {
          const { timeMs, decision } = parseDoc(DecisionRow, row, this.container.id);
          counts.add(timeMs, decision);
        }
        return true;
      },
    );
    return counts.list();
  }

  /**
   * Deletes events older than `before`, in rounds of an index-served query on the event
   * time and a bulk delete; returns how many this call deleted (TTL may take others first).
   * Cosmos DB's TTL does this on its own; this is for explicit purges and TTL-less servers.
   */
  async purgeBefore(before: string): Promise<number> {
    const beforeMs = toMillis(before, 'before');
    let deleted = 0;
    for (;;) {
      const rows = (
        await queryDocs(
          this.container,
          sql('SELECT TOP @top c.id, c.pk FROM c WHERE c.timeMs < @before', {
            top: PURGE_BATCH,
            before: beforeMs,
          }),
          { max: PURGE_BATCH },
        )
      ).map((row) => parseDoc(PurgeRow, row, this.container.id));
      if (rows.length === 0) return deleted;
      const outcomes = await runBulk(
        this.container,
        rows.map((r) => ({ operationType: 'Delete', id: r.id, partitionKey: r.pk })),
        [404],
      );
      const round = outcomes.filter((o) => o.statusCode < 300).length;
      deleted += round;
      if (round === 0) return deleted;
    }
  }
}
