/**
 * The image listing over the `images` GSI. Heads are spread over IMAGE_SHARDS partitions by
 * (registry, repository) and sorted by `registry SEP repository SEP digest SEP source`, so a
 * page is a merge of the shards' queries (one shard when the repository is known), and the
 * heads of one image arrive together: the newest of them is the image's row.
 */
import { z } from 'zod';
import type { ImageListQuery, ImageSummary, Page } from '../../../core/ports.js';
import { decodeCursor, pageOf, pageSize } from '../common/records.js';
import { compareKeys, parseItem, SEP } from './codec.js';
import type { Ddb } from './ddb.js';
import { groupConsecutive, mergeSorted } from './merge.js';
import { ALL_IMAGE_SHARDS, imageKey, imageShard, newest, SummaryItem, toSummary } from './scan-items.js';
import { IMAGES_INDEX } from './tables.js';

/** The position after the last image of a page: its lower-cased (registry, repository, digest). */
const ImageCursor = z.tuple([z.string(), z.string(), z.string()]);

const ListedItem = SummaryItem.extend({ imgSk: z.string() });
type ListedItem = z.infer<typeof ListedItem>;

/** The smallest string above every key that starts with `prefix + SEP` (SEP + 1 is a space). */
const ABOVE_SEP = '\u0020';

/** `imgSk` without its trailing source: the image a head belongs to. */
const imageOf = (item: ListedItem) => item.imgSk.slice(0, item.imgSk.lastIndexOf(SEP));

/**
 * One page of images by their newest scan, ordered by (registry, repository, digest), with the
 * registry, repository and newest-scan status filters. The GSI is eventually consistent: a
 * scan upserted a moment ago may be missing from the listing (never from `getScan`).
 */
export async function listImages(
  ddb: Ddb,
  table: string,
  query: ImageListQuery,
): Promise<Page<ImageSummary>> {
  const limit = pageSize(query.limit);
  const registry = query.registry?.toLowerCase();
  const repository = query.repository?.toLowerCase();
  const cursor = query.cursor === undefined ? undefined : decodeCursor(query.cursor, ImageCursor);

  // The key range: within the registry (and repository) prefix, after the cursor's image.
  let prefix = '';
  if (registry !== undefined)
    prefix = `${registry}${SEP}${repository === undefined ? '' : `${repository}${SEP}`}`;
  const upper = prefix === '' ? undefined : `${prefix.slice(0, -1)}${ABOVE_SEP}`;
  let lower = prefix === '' ? undefined : prefix;
  if (cursor !== undefined) {
    const after = `${imageKey(...cursor)}${ABOVE_SEP}`;
    if (lower === undefined || compareKeys(after, lower) > 0) lower = after;
  }
  if (lower !== undefined && upper !== undefined && compareKeys(lower, upper) >= 0) {
    return { items: [], nextCursor: null };
  }

  const shards =
    registry !== undefined && repository !== undefined
      ? [imageShard(registry, repository)]
      : ALL_IMAGE_SHARDS;
  const values: Record<string, unknown> = {};
  let keyCondition = 'imgPk = :shard';
  if (lower !== undefined && upper !== undefined) {
    keyCondition += ' AND imgSk BETWEEN :lower AND :upper';
    Object.assign(values, { ':lower': lower, ':upper': upper });
  } else if (lower !== undefined) {
    keyCondition += ' AND imgSk >= :lower';
    values[':lower'] = lower;
  }
  // A repository without a registry cannot narrow the key range; filter on its own attribute.
  const filter =
    repository !== undefined && registry === undefined ? { FilterExpression: 'repoKey = :repo' } : {};
  if (repository !== undefined && registry === undefined) values[':repo'] = repository;
  // Each head is a few hundred bytes; start small per shard and let later pages grow.
  const firstPage = Math.min(1000, Math.ceil(((limit + 1) * 2) / shards.length) + 8);

  const streams = shards.map((shard) =>
    ddb.query({
      TableName: table,
      IndexName: IMAGES_INDEX,
      KeyConditionExpression: keyCondition,
      ExpressionAttributeValues: { ...values, ':shard': shard },
      Limit: firstPage,
      ...filter,
    }),
  );
  const heads = mergeSorted(streams, (a, b) => compareKeys(String(a.imgSk), String(b.imgSk)));
  const parsed = (async function* () {
    for await (const item of heads) yield parseItem(ListedItem, item, `${table}/${IMAGES_INDEX}`);
  })();

  const rows: ListedItem[] = [];
  for await (const group of groupConsecutive(parsed, imageOf)) {
    const row = newest(group)!;
    // The status filter applies to the image's newest scan, so it runs after the grouping.
    if (query.status !== undefined && row.status !== query.status) continue;
    rows.push(row);
    if (rows.length > limit) break;
  }
  return pageOf(rows, limit, toSummary, (r) => [
    r.registry.toLowerCase(),
    r.repository.toLowerCase(),
    r.digest.toLowerCase(),
  ]);
}
