/**
 * The admission monitoring log in DynamoDB's admissions table: events in (day, shard)
 * partitions with a TTL, the `byCluster` and `byUid` GSIs, and the day index that bounds
 * every read and purge (see admission-items.ts for the layout).
 */
import { z } from 'zod';
import { type AdmissionEvent, AdmissionEventSchema } from '../../../core/domain.js';
import { ConflictError } from '../../../core/errors.js';
import type {
  AdmissionLog,
  AdmissionQuery,
  Clock,
  Page,
  SummaryBucket,
  SummaryQuery,
} from '../../../core/ports.js';
import { mapLimit } from '../common/concurrency.js';
import { decodeCursor, encodeCursor, pageSize, toMillis } from '../common/records.js';
import { BucketCounts, summaryWindow } from '../common/summary.js';
import {
  clusterDay,
  DAY_MS,
  DAYS_PK,
  dayKey,
  dayOf,
  dayPartitions,
  dayStart,
  type EventFilter,
  EventItem,
  encodeDay,
  encodeEvent,
  eventMillis,
  eventSk,
  filterExpression,
  matchesFilter,
  padMs,
} from './admission-items.js';
import { compareKeys, parseItem, unpackDoc } from './codec.js';
import type { Ddb, Item } from './ddb.js';
import { mergeSorted } from './merge.js';
import { BY_CLUSTER_INDEX, BY_UID_INDEX } from './tables.js';

/** The position after the last event of a page: its (time in ms, id). */
const EventCursor = z.tuple([z.number().int().nonnegative(), z.string()]);
const DayItem = z.object({ sk: z.string() });
const CountItem = z.object({ timeMs: z.number(), decision: z.enum(['Allowed', 'Audited', 'Denied']) });
const KeyItem = z.object({ pk: z.string(), sk: z.string() });

/** Partition queries in flight at once for summaries and purges. */
const CONCURRENCY = 8;

/** Options of the admission log. */
export interface DynamoDbAdmissionLogOptions {
  clock: Clock;
  /** Days an event is kept: its TTL is its time plus this. */
  retentionDays: number;
}

/** A sort-key range: `lo` and `hi` inclusive, `skip` an excluded key (the cursor's event). */
interface SkRange {
  lo?: string;
  hi?: string;
  skip?: string;
}

function keyCondition(partition: string, range: SkRange) {
  const values: Record<string, unknown> = { ':part': partition };
  let expression = '#part = :part';
  if (range.lo !== undefined && range.hi !== undefined) {
    expression += ' AND sk BETWEEN :lo AND :hi';
    Object.assign(values, { ':lo': range.lo, ':hi': range.hi });
  } else if (range.lo !== undefined) {
    expression += ' AND sk >= :lo';
    values[':lo'] = range.lo;
  } else if (range.hi !== undefined) {
    expression += ' AND sk <= :hi';
    values[':hi'] = range.hi;
  }
  return { expression, values };
}

/** The `AdmissionLog` port over the admissions table. */
export class DynamoDbAdmissionLog implements AdmissionLog {
  /** Days whose index entry this process has written (or is writing). */
  private readonly knownDays = new Map<string, Promise<void>>();

  constructor(
    private readonly ddb: Ddb,
    private readonly table: string,
    private readonly options: DynamoDbAdmissionLogOptions,
  ) {}

  /** Stores an event with its TTL; ConflictError when its id was recorded at that time before. */
  async record(event: AdmissionEvent): Promise<void> {
    const ms = eventMillis(toMillis(event.time, 'time'));
    const item = encodeEvent(event, ms, this.options.retentionDays);
    await this.ensureDay(dayOf(ms));
    const failure = await this.ddb.put(this.table, item, { expression: 'attribute_not_exists(pk)' });
    if (failure !== null) {
      throw new ConflictError(`admission event ${event.id} already exists`, { cause: failure.cause });
    }
  }

  /**
   * Newest first by (time, id). Walks the indexed days from the newest down; within a day,
   * merges the shard partitions (or reads the cluster's `byCluster` partition) with the other
   * filters as a FilterExpression. A uid goes through the `byUid` GSI instead.
   */
  async query(query: AdmissionQuery): Promise<Page<AdmissionEvent>> {
    const limit = pageSize(query.limit);
    const range: SkRange = {};
    let loMs: number | undefined;
    let hiMs: number | undefined;
    if (query.from !== undefined) {
      loMs = Math.max(0, toMillis(query.from, 'from'));
      range.lo = padMs(loMs);
    }
    if (query.to !== undefined) {
      const to = toMillis(query.to, 'to');
      if (to <= 0) return { items: [], nextCursor: null };
      // No key equals a bare padded time, so this bound is exclusive in effect.
      range.hi = padMs(to);
      hiMs = to - 1;
    }
    if (query.cursor !== undefined) {
      const [ms, id] = decodeCursor(query.cursor, EventCursor);
      const sk = eventSk(ms, id);
      if (range.hi === undefined || compareKeys(sk, range.hi) < 0) {
        range.hi = sk;
        range.skip = sk;
        hiMs = ms;
      }
    }
    if (range.lo !== undefined && range.hi !== undefined && compareKeys(range.lo, range.hi) > 0) {
      return { items: [], nextCursor: null };
    }
    const filter = this.filterOf(query);
    const rows =
      query.uid !== undefined
        ? await this.byUid(query.uid, range, filter, limit)
        : await this.byDays(query.cluster, range, loMs, hiMs, filter, limit);
    const more = rows.length > limit;
    const page = more ? rows.slice(0, limit) : rows;
    const items = page.map((item) => unpackDoc(item, AdmissionEventSchema, this.table));
    const last = items.at(-1);
    return {
      items,
      nextCursor: more && last !== undefined ? encodeCursor([Date.parse(last.time), last.id]) : null,
    };
  }

  /** Decision counts per UTC hour or day over [from, to); only buckets with events, ascending. */
  async summary(query: SummaryQuery): Promise<SummaryBucket[]> {
    const window = summaryWindow(query);
    // Days are partitions here: none before the epoch.
    const from = Math.max(0, window.from);
    const { to, width } = window;
    if (from >= to) return [];
    const filter = this.filterOf({ namespace: query.namespace });
    const range: SkRange = { lo: padMs(from), hi: padMs(to) };
    const days = await this.days(dayOf(from), dayOf(to - 1), true);
    const partitions = days.flatMap((day) => this.partitionsOf(day, query.cluster));
    const counts = new BucketCounts(width);
    await mapLimit(partitions, CONCURRENCY, async ({ index, partition }) => {
      const { expression, values } = keyCondition(partition, range);
      const f = filterExpression(filter);
      for await (const raw of this.ddb.query({
        TableName: this.table,
        ...(index === undefined ? {} : { IndexName: index }),
        KeyConditionExpression: expression,
        FilterExpression: f.FilterExpression,
        ProjectionExpression: '#time, #decision',
        ExpressionAttributeNames: {
          ...f.ExpressionAttributeNames,
          '#part': index === undefined ? 'pk' : 'clusterDay',
          '#time': 'timeMs',
          '#decision': 'decision',
        },
        ExpressionAttributeValues: { ...values, ...f.ExpressionAttributeValues },
      })) {
        const { timeMs, decision } = parseItem(CountItem, raw, this.table);
        counts.add(timeMs, decision);
      }
    });
    return counts.list();
  }

  /**
   * Deletes events older than `before` without relying on TTL: walks the indexed days up to
   * `before`, reads the keys below it from each shard and deletes them in batches. Days that
   * end before `before` leave the day index too. Returns how many events went.
   */
  async purgeBefore(before: string): Promise<number> {
    const beforeMs = toMillis(before, 'before');
    if (beforeMs <= 0) return 0;
    const days = await this.days(undefined, dayOf(beforeMs - 1), true);
    let purged = 0;
    for (const day of days) {
      const counts = await mapLimit(dayPartitions(day), CONCURRENCY, async (partition) => {
        const { expression, values } = keyCondition(partition, { hi: padMs(beforeMs) });
        let keys: { pk: string; sk: string }[] = [];
        let n = 0;
        const flush = async () => {
          await this.ddb.batchWrite(
            this.table,
            keys.map((key) => ({ delete: key })),
          );
          n += keys.length;
          keys = [];
        };
        for await (const raw of this.ddb.query({
          TableName: this.table,
          KeyConditionExpression: expression,
          ProjectionExpression: 'pk, sk',
          ExpressionAttributeNames: { '#part': 'pk' },
          ExpressionAttributeValues: values,
        })) {
          keys.push(parseItem(KeyItem, raw, this.table));
          if (keys.length >= 500) await flush();
        }
        await flush();
        return n;
      });
      purged += counts.reduce((a, b) => a + b, 0);
      if (dayStart(day) + DAY_MS <= beforeMs) {
        await this.ddb.delete(this.table, dayKey(day));
        this.knownDays.delete(day);
      }
    }
    return purged;
  }

  /** Writes the day's index entry once per process (concurrent callers share the write). */
  private ensureDay(day: string): Promise<void> {
    let pending = this.knownDays.get(day);
    if (pending === undefined) {
      pending = this.ddb.put(this.table, encodeDay(day, this.options.retentionDays)).then(() => undefined);
      this.knownDays.set(day, pending);
      pending.catch(() => this.knownDays.delete(day));
    }
    return pending;
  }

  /** The indexed days in [from, to] (either end open when undefined). */
  private async days(
    from: string | undefined,
    to: string | undefined,
    ascending: boolean,
  ): Promise<string[]> {
    const { expression, values } = keyCondition(DAYS_PK, { lo: from, hi: to });
    const items = await this.ddb.queryAll({
      TableName: this.table,
      KeyConditionExpression: expression,
      ExpressionAttributeNames: { '#part': 'pk' },
      ExpressionAttributeValues: values,
      ScanIndexForward: ascending,
      ConsistentRead: true,
    });
    return items.map((item) => parseItem(DayItem, item, this.table).sk);
  }

  /** The partitions holding a day's events: the cluster's GSI partition, or every shard. */
  private partitionsOf(day: string, cluster: string | undefined): { index?: string; partition: string }[] {
    if (cluster !== undefined) return [{ index: BY_CLUSTER_INDEX, partition: clusterDay(cluster, day) }];
    return dayPartitions(day).map((partition) => ({ partition }));
  }

  private filterOf(query: Omit<Partial<AdmissionQuery>, 'limit'>): EventFilter {
    const f: EventFilter = { nowSeconds: Math.floor(this.options.clock.now().getTime() / 1000) };
    if (query.cluster !== undefined) f.cluster = query.cluster;
    if (query.namespace !== undefined) f.namespace = query.namespace;
    if (query.decision !== undefined) f.decision = query.decision;
    if (query.image !== undefined && query.image !== '') f.image = query.image.toLowerCase();
    if (query.rule !== undefined && query.rule !== '') f.rule = query.rule.toLowerCase();
    return f;
  }

  /** Up to `limit + 1` events newest first, walking the days from the newest down. */
  private async byDays(
    cluster: string | undefined,
    range: SkRange,
    loMs: number | undefined,
    hiMs: number | undefined,
    filter: EventFilter,
    limit: number,
  ): Promise<EventItem[]> {
    const days = await this.days(
      loMs === undefined ? undefined : dayOf(loMs),
      hiMs === undefined ? undefined : dayOf(hiMs),
      false,
    );
    const rows: EventItem[] = [];
    const f = filterExpression(filter);
    for (const day of days) {
      const partitions = this.partitionsOf(day, cluster);
      const firstPage = Math.min(1000, Math.ceil((limit + 1 - rows.length) / partitions.length) + 4);
      const streams = partitions.map(({ index, partition }) => {
        const { expression, values } = keyCondition(partition, range);
        return this.ddb.query({
          TableName: this.table,
          ...(index === undefined ? {} : { IndexName: index }),
          KeyConditionExpression: expression,
          FilterExpression: f.FilterExpression,
          ExpressionAttributeNames: {
            ...f.ExpressionAttributeNames,
            '#part': index === undefined ? 'pk' : 'clusterDay',
          },
          ExpressionAttributeValues: { ...values, ...f.ExpressionAttributeValues },
          ScanIndexForward: false,
          Limit: firstPage,
        });
      });
      for await (const raw of mergeSorted(streams, (a: Item, b: Item) =>
        compareKeys(String(b.sk), String(a.sk)),
      )) {
        if (raw.sk === range.skip) continue;
        rows.push(parseItem(EventItem, raw, this.table));
        if (rows.length > limit) return rows;
      }
    }
    return rows;
  }

  /** Events of a request uid: keys from the `byUid` GSI, then the items by key. */
  private async byUid(uid: string, range: SkRange, filter: EventFilter, limit: number): Promise<EventItem[]> {
    const { expression, values } = keyCondition(uid, range);
    const keys = await this.ddb.queryAll({
      TableName: this.table,
      IndexName: BY_UID_INDEX,
      KeyConditionExpression: expression,
      ExpressionAttributeNames: { '#part': 'uid' },
      ExpressionAttributeValues: values,
      ScanIndexForward: false,
    });
    const items = await this.ddb.batchGet(
      this.table,
      keys.map((k) => parseItem(KeyItem, k, this.table)),
    );
    return items
      .map((item) => parseItem(EventItem, item, this.table))
      .filter((item) => item.sk !== range.skip && matchesFilter(item, filter))
      .sort((a, b) => compareKeys(b.sk, a.sk))
      .slice(0, limit + 1);
  }
}
