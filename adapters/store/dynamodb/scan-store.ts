/**
 * Image scans in DynamoDB's scans table: a head item per (digest, source) in the digest's
 * partition, vulnerability chunks beside it when the list is too large to inline, tag items
 * that follow the newest scan carrying each tag, and the `images` GSI for the listing.
 */
import { z } from 'zod';
import type { ImageScan } from '../../../core/domain.js';
import type { ImageListQuery, ImageSummary, Page, ScanStore } from '../../../core/ports.js';
import { chunk, mapLimit } from '../common/concurrency.js';
import { toMillis } from '../common/records.js';
import { parseItem } from './codec.js';
import type { BatchWrite, Ddb, Item } from './ddb.js';
import { listImages } from './image-listing.js';
import {
  chunkKeys,
  chunkPrefix,
  decodeVulnerabilities,
  encodeScan,
  HEAD_PREFIX,
  HeadItem,
  newest,
  scanPk,
  tagKey,
  toSummary,
} from './scan-items.js';
import { observeTags, TAG_ATTRIBUTES, TagItem } from './scan-tags.js';

const StoredHead = z.object({
  pk: z.string(),
  sk: z.string(),
  etag: z.string(),
  chunkGen: z.string().optional(),
  chunkCount: z.number().int().optional(),
});
const ChunkItem = z.object({ sk: z.string(), data: z.instanceof(Uint8Array) });

/** Tag moves per transaction (DynamoDB allows 100; 50 contends less under concurrency). */
const TAG_TRANSACTION_SIZE = 50;
/** Tag transactions in flight at once during a bulk upsert. */
const TAG_CONCURRENCY = 4;
/** Reads of a chunked scan that may race a writer replacing it. */
const READ_ATTEMPTS = 3;

interface TagMove {
  key: { pk: string; sk: string };
  registry: string;
  repository: string;
  tag: string;
  digest: string;
  ms: number;
}

/** The `ScanStore` port over the scans table. */
export class DynamoDbScanStore implements ScanStore {
  constructor(
    private readonly ddb: Ddb,
    private readonly table: string,
  ) {}

  /**
   * The newest scan of a digest across sources: one query of the digest's partition for the
   * heads (at most one per source), plus one for the chunks when the list was split.
   */
  async getScan(digest: string): Promise<ImageScan | null> {
    for (let attempt = 1; attempt <= READ_ATTEMPTS; attempt++) {
      const pk = scanPk(digest);
      const items = await this.ddb.queryAll({
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :heads)',
        ExpressionAttributeValues: { ':pk': pk, ':heads': HEAD_PREFIX },
        ConsistentRead: true,
      });
      const head = newest(items.map((item) => parseItem(HeadItem, item, this.table)));
      if (head === undefined) return null;
      const scan = (vz: Uint8Array): ImageScan => ({
        ...toSummary(head),
        vulnerabilities: decodeVulnerabilities(vz),
      });
      if (head.vz !== undefined) return scan(head.vz);
      if (head.chunkGen === undefined || head.chunkCount === undefined) {
        throw new Error(`invalid item in ${this.table}: scan ${digest} has no vulnerability list`);
      }
      const chunks = (
        await this.ddb.queryAll({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :chunks)',
          ExpressionAttributeValues: { ':pk': pk, ':chunks': chunkPrefix(head.source, head.chunkGen) },
          ConsistentRead: true,
        })
      ).map((item) => parseItem(ChunkItem, item, this.table));
      // Fewer chunks than the head names: a writer replaced this scan while we read. Again.
      if (chunks.length === head.chunkCount) return scan(Buffer.concat(chunks.map((c) => c.data)));
    }
    throw new Error(`scan ${digest}: its vulnerability chunks are missing from ${this.table}`);
  }

  /** The digest `registry/repository:tag` points to now; registry and repository ignore case. */
  async resolveTag(registry: string, repository: string, tag: string): Promise<string | null> {
    const item = await this.ddb.get(this.table, tagKey(registry, repository, tag), TAG_ATTRIBUTES);
    if (item === undefined) return null;
    const found = parseItem(TagItem, item, this.table);
    return found.removed === true ? null : found.digest;
  }

  /**
   * Bulk, idempotent upsert. Reads the stored heads' content hashes first (BatchGetItem) and
   * writes only scans that changed: new chunks, then heads, then deletes of the chunks the old
   * heads pointed to (BatchWriteItem, 25 per call, unprocessed items retried with backoff).
   * Tags then move in conditional transactions, only where they are not already in place.
   */
  async upsertScans(scans: readonly ImageScan[]): Promise<void> {
    if (scans.length === 0) return;
    const millis = scans.map((s, i) => toMillis(s.scannedAt, `scans[${i}].scannedAt`));
    // As with one upsert after another, the last scan of each (digest, source) wins.
    const last = new Map<string, number>();
    scans.forEach((s, i) => {
      last.set(`${scanPk(s.digest)}\u0000${s.source}`, i);
    });
    const encoded = [...last.values()].map((i) => encodeScan(scans[i]!, millis[i]!));

    const stored = new Map(
      (
        await this.ddb.batchGet(
          this.table,
          encoded.map((e) => e.key),
          ['pk', 'sk', 'etag', 'chunkGen', 'chunkCount'],
        )
      )
        .map((item) => parseItem(StoredHead, item, this.table))
        .map((head) => [`${head.pk}\u0000${head.sk}`, head]),
    );
    const changed = encoded.filter((e) => stored.get(`${e.key.pk}\u0000${e.key.sk}`)?.etag !== e.etag);
    const put = (item: Item & { pk: string; sk: string }): BatchWrite => ({ put: item });
    await this.ddb.batchWrite(
      this.table,
      changed.flatMap((e) => e.chunks.map(put)),
    );
    await this.ddb.batchWrite(
      this.table,
      changed.map((e) => put(e.head)),
    );
    const staleChunks = changed.flatMap((e) => {
      const old = stored.get(`${e.key.pk}\u0000${e.key.sk}`);
      if (old?.chunkGen === undefined || old.chunkCount === undefined) return [];
      return chunkKeys(e.key.pk, old.sk.slice(HEAD_PREFIX.length), old.chunkGen, old.chunkCount);
    });
    await this.ddb.batchWrite(
      this.table,
      staleChunks.map((key) => ({ delete: key })),
    );
    await this.moveTags(scans, millis);
  }

  /** Applies a registry listing's observation; see `observeTags` in scan-tags.ts. */
  async setTags(
    registry: string,
    repository: string,
    digest: string,
    tags: readonly string[],
    observedAt: string,
  ): Promise<boolean> {
    return observeTags(this.ddb, this.table, { registry, repository, digest, tags }, observedAt);
  }

  /**
   * Writes tag moves as conditional updates in one transaction (one round trip for up to 50),
   * keeping what a registry listing recorded on the item (`observedMs`) and clearing `removed`.
   * A move whose condition fails has lost to a newer scan: it is dropped and the rest retried.
   */
  private async writeTags(moves: TagMove[]): Promise<void> {
    let pending = moves;
    while (pending.length > 0) {
      const failure = await this.ddb.transact(
        pending.map((m) => ({
          Update: {
            TableName: this.table,
            Key: m.key,
            UpdateExpression: 'SET #d = :d, scannedMs = :ms, #r = :r, #p = :p, #t = :t REMOVE removed',
            ConditionExpression: 'attribute_not_exists(pk) OR scannedMs <= :ms',
            ExpressionAttributeNames: { '#d': 'digest', '#r': 'registry', '#p': 'repository', '#t': 'tag' },
            ExpressionAttributeValues: {
              ':d': m.digest,
              ':ms': m.ms,
              ':r': m.registry,
              ':p': m.repository,
              ':t': m.tag,
            },
          },
        })),
      );
      if (failure === null) return;
      const lost = new Set(failure.failed);
      pending = pending.filter((_, i) => !lost.has(i));
    }
  }

  /** Images by their newest scan, ordered by (registry, repository, digest); see `listImages`. */
  async listImages(query: ImageListQuery): Promise<Page<ImageSummary>> {
    return listImages(this.ddb, this.table, query);
  }

  /**
   * Points each tag at the digest of the newest scan carrying it. A tag moves only to a scan
   * at least as new as the one it points to (a condition on the write), so a late import of an
   * old report never drags it back; tags already in place are not written again.
   */
  private async moveTags(scans: readonly ImageScan[], millis: readonly number[]): Promise<void> {
    const moves = new Map<string, TagMove>();
    scans.forEach((s, i) => {
      const ms = millis[i]!;
      for (const tag of s.tags) {
        const key = tagKey(s.registry, s.repository, tag);
        const seen = moves.get(key.pk);
        if (seen === undefined || ms >= seen.ms) {
          moves.set(key.pk, {
            key,
            registry: s.registry,
            repository: s.repository,
            tag,
            digest: s.digest,
            ms,
          });
        }
      }
    });
    if (moves.size === 0) return;
    const current = new Map(
      (
        await this.ddb.batchGet(
          this.table,
          [...moves.values()].map((m) => m.key),
          TAG_ATTRIBUTES,
        )
      )
        .map((item) => parseItem(TagItem, item, this.table))
        .map((t) => [t.pk, t]),
    );
    const todo = [...moves.values()].filter((m) => {
      const now = current.get(m.key.pk);
      return (
        now === undefined ||
        now.scannedMs < m.ms ||
        (now.scannedMs === m.ms && (now.digest !== m.digest || now.removed === true))
      );
    });
    await mapLimit(chunk(todo, TAG_TRANSACTION_SIZE), TAG_CONCURRENCY, (group) => this.writeTags(group));
  }
}
