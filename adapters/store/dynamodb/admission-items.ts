/**
 * How an admission event becomes an item of the admissions table. Events live in partitions
 * of one UTC day and one of EVENT_SHARDS shards (by a hash of the event id), sorted by
 * (time, id); a `DAYS` partition lists the days that have events, so that readers and purges
 * walk exactly those days and never scan the table.
 */
import { z } from 'zod';
import { type AdmissionEvent, DecisionSchema } from '../../../core/domain.js';
import { ValidationError } from '../../../core/errors.js';
import { DAY_MS } from '../common/summary.js';
import { fnv1a, PackedDocFields, packDoc, SEP } from './codec.js';
import type { Item, Key } from './ddb.js';
import { TTL_ATTRIBUTE } from './tables.js';

/**
 * Write shards per day. Every day's events are spread over this many partitions so that
 * thousands of clusters writing at once do not meet in one; readers merge the shards. Part of
 * the data layout: changing it means re-indexing stored days.
 */
export const EVENT_SHARDS = 16;

export { DAY_MS, HOUR_MS } from '../common/summary.js';

/** The partition of the day index. */
export const DAYS_PK = 'DAYS';

/** `YYYY-MM-DD` of an instant, UTC. */
export function dayOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** Epoch milliseconds of the start of a `YYYY-MM-DD` day, UTC. */
export function dayStart(day: string): number {
  return Date.parse(`${day}T00:00:00.000Z`);
}

/** Epoch milliseconds as a fixed-width string, so that keys sort as numbers. */
export function padMs(ms: number): string {
  return String(ms).padStart(15, '0');
}

/** The sort key of an event: (time, id). */
export function eventSk(ms: number, id: string): string {
  return `${padMs(ms)}#${id}`;
}

/** The partition of one shard of one day. */
export function eventPk(day: string, shard: number): string {
  return `E#${day}#${String(shard).padStart(2, '0')}`;
}

/** Every shard partition of a day. */
export function dayPartitions(day: string): string[] {
  return Array.from({ length: EVENT_SHARDS }, (_, i) => eventPk(day, i));
}

/** The `byCluster` GSI partition of a cluster's day. */
export function clusterDay(cluster: string, day: string): string {
  return `${cluster}${SEP}${day}`;
}

/** The key of a day's entry in the day index. */
export const dayKey = (day: string): Key => ({ pk: DAYS_PK, sk: day });

/** Epoch milliseconds of an event's time; ValidationError for times before 1970. */
export function eventMillis(ms: number): number {
  if (ms < 0) {
    throw new ValidationError('time is before 1970', { details: [{ path: 'time', message: 'before 1970' }] });
  }
  return ms;
}

/**
 * The item of an event at `ms`, expiring `retentionDays` after the event's time. Filter
 * attributes are lower-cased copies: `refs` (references joined by newlines, for substring
 * matches), `digests` and `rules` (string sets of digests and triggered rule ids and names).
 */
export function encodeEvent(event: AdmissionEvent, ms: number, retentionDays: number): Item & Key {
  const day = dayOf(ms);
  const digests = new Set<string>();
  const rules = new Set<string>();
  for (const image of event.images) {
    if (image.digest !== undefined && image.digest !== '') digests.add(image.digest.toLowerCase());
    for (const rule of image.triggeredRules) {
      rules.add(rule.ruleId.toLowerCase());
      rules.add(rule.ruleName.toLowerCase());
    }
  }
  rules.delete('');
  return {
    pk: eventPk(day, fnv1a(event.id) % EVENT_SHARDS),
    sk: eventSk(ms, event.id),
    id: event.id,
    timeMs: ms,
    // GSI keys must not be empty strings: such events are simply not in that index.
    ...(event.uid === '' ? {} : { uid: event.uid }),
    ...(event.cluster === '' ? {} : { clusterDay: clusterDay(event.cluster, day) }),
    cluster: event.cluster,
    namespace: event.namespace,
    decision: event.decision,
    refs: event.images.map((i) => i.reference.toLowerCase()).join('\n'),
    // DynamoDB has no empty sets: absent means none.
    ...(digests.size === 0 ? {} : { digests }),
    ...(rules.size === 0 ? {} : { rules }),
    [TTL_ATTRIBUTE]: Math.floor(ms / 1000) + retentionDays * 86_400,
    ...packDoc(event, `admission event ${event.id}`),
  };
}

/** The day index entry of `day`; it outlives every event of that day. */
export function encodeDay(day: string, retentionDays: number): Item & Key {
  return {
    ...dayKey(day),
    [TTL_ATTRIBUTE]: Math.floor((dayStart(day) + DAY_MS) / 1000) + (retentionDays + 1) * 86_400,
  };
}

/** An event item as read back. */
export const EventItem = z.object({
  pk: z.string(),
  sk: z.string(),
  cluster: z.string(),
  namespace: z.string(),
  decision: DecisionSchema,
  refs: z.string(),
  digests: z.set(z.string()).optional(),
  rules: z.set(z.string()).optional(),
  [TTL_ATTRIBUTE]: z.number(),
  ...PackedDocFields,
});
export type EventItem = z.infer<typeof EventItem>;

/** The filters of a query that the store applies to items. */
export interface EventFilter {
  cluster?: string;
  namespace?: string;
  decision?: string;
  /** Lower-cased. */
  image?: string;
  /** Lower-cased. */
  rule?: string;
  /** Epoch seconds: items whose TTL has passed but that DynamoDB has not yet deleted are skipped. */
  nowSeconds: number;
}

/** The filters as a FilterExpression (the cluster is left to the `byCluster` index). */
export function filterExpression(f: EventFilter): {
  FilterExpression: string;
  ExpressionAttributeNames: Record<string, string>;
  ExpressionAttributeValues: Record<string, unknown>;
} {
  const parts = ['#exp > :now'];
  const names: Record<string, string> = { '#exp': TTL_ATTRIBUTE };
  const values: Record<string, unknown> = { ':now': f.nowSeconds };
  if (f.namespace !== undefined) {
    parts.push('#ns = :ns');
    names['#ns'] = 'namespace';
    values[':ns'] = f.namespace;
  }
  if (f.decision !== undefined) {
    parts.push('#dec = :dec');
    names['#dec'] = 'decision';
    values[':dec'] = f.decision;
  }
  if (f.image !== undefined) {
    parts.push('(contains(#refs, :img) OR contains(#digests, :img))');
    Object.assign(names, { '#refs': 'refs', '#digests': 'digests' });
    values[':img'] = f.image;
  }
  if (f.rule !== undefined) {
    parts.push('contains(#rules, :rule)');
    names['#rules'] = 'rules';
    values[':rule'] = f.rule;
  }
  return {
    FilterExpression: parts.join(' AND '),
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  };
}

/** The same filters in code, for items fetched by key (the `byUid` path). */
export function matchesFilter(item: EventItem, f: EventFilter): boolean {
  if (item[TTL_ATTRIBUTE] <= f.nowSeconds) return false;
  if (f.cluster !== undefined && item.cluster !== f.cluster) return false;
  if (f.namespace !== undefined && item.namespace !== f.namespace) return false;
  if (f.decision !== undefined && item.decision !== f.decision) return false;
  if (f.image !== undefined && !item.refs.includes(f.image) && !(item.digests?.has(f.image) ?? false))
    return false;
  if (f.rule !== undefined && !(item.rules?.has(f.rule) ?? false)) return false;
  return true;
}
