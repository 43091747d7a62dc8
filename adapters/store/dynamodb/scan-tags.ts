/**
 * Registry listings' tag observations (`ScanStore.setTags`) in DynamoDB's scans table. The tag
 * items carry, beside the digest and the scan time that moved them last, `observedMs` (when a
 * listing last changed them) and `removed` (a listing took the tag off its digest); scan heads
 * carry `tagsObservedMs`. Every write is conditional on those times, so an older observation
 * never undoes a newer one, and all of an image's writes go in one transaction when they fit.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { UnavailableError } from '../../../core/errors.js';
import { chunk } from '../common/concurrency.js';
import { toMillis } from '../common/records.js';
import { parseItem } from './codec.js';
import { backoffMs, type Ddb, type TransactItem } from './ddb.js';
import { HEAD_PREFIX, scanPk, tagKey } from './scan-items.js';

/** A tag item as `resolveTag`, the scan upsert and observations read it. */
export const TagItem = z.object({
  pk: z.string(),
  digest: z.string(),
  scannedMs: z.number(),
  observedMs: z.number().optional(),
  removed: z.boolean().optional(),
});
export type TagItem = z.infer<typeof TagItem>;
/** The attributes of `TagItem`, for projections. */
export const TAG_ATTRIBUTES = ['pk', 'digest', 'scannedMs', 'observedMs', 'removed'] as const;

const HeadTags = z.object({
  pk: z.string(),
  sk: z.string(),
  registry: z.string(),
  repository: z.string(),
  digest: z.string(),
  tags: z.array(z.string()),
  scannedMs: z.number(),
  etag: z.string(),
  tagsObservedMs: z.number().optional(),
});

/** DynamoDB's limit of items per TransactWriteItems. */
const TRANSACTION_LIMIT = 100;
/** Items per transaction when an image's writes do not fit in one. */
const TRANSACTION_SIZE = 50;
/** Rounds of re-reading after a write lost to a concurrent one. */
const MAX_ROUNDS = 8;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((t, i) => t === b[i]);
}

/**
 * Applies one observation (see `ScanStore.setTags`): reads the digest's heads and the tag
 * items concerned, writes what differs under conditions on what was read and on the
 * observation times, and goes round again when a condition failed (a concurrent writer).
 */
export async function observeTags(
  ddb: Ddb,
  table: string,
  observation: { registry: string; repository: string; digest: string; tags: readonly string[] },
  observedAt: string,
): Promise<boolean> {
  const observedMs = toMillis(observedAt, 'observedAt');
  const { registry, repository, digest } = observation;
  const digestKey = digest.toLowerCase();
  const listed = [...new Set(observation.tags)];
  let changed = false;
  for (let round = 0; ; round++) {
    if (round >= MAX_ROUNDS) throw new UnavailableError(`the tags of ${digest} kept changing; try again`);
    if (round > 0) await sleep(backoffMs(round, 20, 1000));
    const heads = (
      await ddb.queryAll({
        TableName: table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :heads)',
        ProjectionExpression: 'pk, sk, #r, #p, #d, #tags, scannedMs, etag, tagsObservedMs',
        ExpressionAttributeNames: { '#r': 'registry', '#p': 'repository', '#d': 'digest', '#tags': 'tags' },
        ExpressionAttributeValues: { ':pk': scanPk(digest), ':heads': HEAD_PREFIX },
        ConsistentRead: true,
      })
    )
      .map((item) => parseItem(HeadTags, item, table))
      .filter(
        (h) =>
          h.registry.toLowerCase() === registry.toLowerCase() &&
          h.repository.toLowerCase() === repository.toLowerCase(),
      );
    const unlisted = new Set(heads.flatMap((h) => h.tags));
    for (const tag of listed) unlisted.delete(tag);
    const keyOf = (tag: string) => tagKey(registry, repository, tag);
    const current = new Map(
      (await ddb.batchGet(table, [...listed, ...unlisted].map(keyOf), TAG_ATTRIBUTES))
        .map((item) => parseItem(TagItem, item, table))
        .map((t) => [t.pk, t]),
    );
    const newer = (ms: number | undefined) => ms === undefined || ms <= observedMs;
    const stored = heads[0]?.digest ?? digest;
    const scannedMs = Math.max(0, ...heads.map((h) => h.scannedMs));
    const tagWrites: TransactItem[] = [];
    for (const tag of listed) {
      const now = current.get(keyOf(tag).pk);
      const here = now !== undefined && now.digest.toLowerCase() === digestKey && now.removed !== true;
      if (here || (now !== undefined && !newer(now.observedMs))) continue;
      tagWrites.push({
        Update: {
          TableName: table,
          Key: keyOf(tag),
          // A new item takes the newest scan's time, so scans keep moving it as before.
          UpdateExpression:
            'SET #d = :d, observedMs = :o, #r = :r, #p = :p, #t = :t, scannedMs = if_not_exists(scannedMs, :s) REMOVE removed',
          ConditionExpression:
            'attribute_not_exists(pk) OR attribute_not_exists(observedMs) OR observedMs <= :o',
          ExpressionAttributeNames: { '#d': 'digest', '#r': 'registry', '#p': 'repository', '#t': 'tag' },
          ExpressionAttributeValues: {
            ':d': stored,
            ':o': observedMs,
            ':r': registry,
            ':p': repository,
            ':t': tag,
            ':s': scannedMs,
          },
        },
      });
    }
    for (const tag of unlisted) {
      const now = current.get(keyOf(tag).pk);
      if (now === undefined || now.removed === true || now.digest.toLowerCase() !== digestKey) continue;
      if (!newer(now.observedMs)) continue;
      tagWrites.push({
        Update: {
          TableName: table,
          Key: keyOf(tag),
          UpdateExpression: 'SET removed = :true, observedMs = :o',
          ConditionExpression:
            '#d = :d AND attribute_not_exists(removed) AND (attribute_not_exists(observedMs) OR observedMs <= :o)',
          ExpressionAttributeNames: { '#d': 'digest' },
          ExpressionAttributeValues: { ':d': now.digest, ':o': observedMs, ':true': true },
        },
      });
    }
    const headWrites: TransactItem[] = heads
      .filter((h) => newer(h.tagsObservedMs) && !sameList(h.tags, listed))
      .map((h) => ({
        Update: {
          TableName: table,
          Key: { pk: h.pk, sk: h.sk },
          // A changed `etag`, so that upserting the scan as it was stores it again.
          UpdateExpression: 'SET #tags = :tags, tagsObservedMs = :o, etag = :marked',
          ConditionExpression:
            'etag = :etag AND (attribute_not_exists(tagsObservedMs) OR tagsObservedMs <= :o)',
          ExpressionAttributeNames: { '#tags': 'tags' },
          ExpressionAttributeValues: {
            ':tags': listed,
            ':o': observedMs,
            ':etag': h.etag,
            ':marked': createHash('sha256')
              .update(`${h.etag}\n${JSON.stringify(listed)}`)
              .digest('hex')
              .slice(0, 32),
          },
        },
      }));
    if (tagWrites.length + headWrites.length === 0) return changed;
    // Tags before heads: the heads' old tags are how a retry finds the tags to take off.
    const transactions =
      tagWrites.length + headWrites.length <= TRANSACTION_LIMIT
        ? [[...tagWrites, ...headWrites]]
        : [...chunk(tagWrites, TRANSACTION_SIZE), ...chunk(headWrites, TRANSACTION_SIZE)];
    let lost = false;
    for (const items of transactions) {
      const failure = await ddb.transact(items);
      if (failure !== null) {
        lost = true;
        break;
      }
      changed = true;
    }
    if (!lost) return changed;
  }
}
