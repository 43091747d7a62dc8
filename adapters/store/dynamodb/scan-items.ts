/**
 * How an image scan becomes items of the scans table: a head item per (digest, source) with
 * the listing's fields and the vulnerability list gzipped in `vz`, or, when that would not
 * fit in 400 KB, split over chunk items of the same partition. Plus the keys of tag items and
 * of the `images` GSI.
 */
import { createHash, randomUUID } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { z } from 'zod';
import {
  type ImageScan,
  ScanSourceSchema,
  ScanStatusSchema,
  SeverityCountsSchema,
  type Vulnerability,
} from '../../../core/domain.js';
import type { ImageSummary } from '../../../core/ports.js';
import { encodeVulnerabilities, VulnerabilitiesColumn } from '../common/vulnerability-codec.js';
import { fnv1a, SEP } from './codec.js';
import type { Item, Key } from './ddb.js';

/** Shards of the `images` GSI; part of the data layout (changing it means re-indexing). */
export const IMAGE_SHARDS = 8;
/** A head item carries its vulnerabilities inline while the whole item stays under this. */
const INLINE_BUDGET = 350 * 1024;
/** Bytes of gzipped vulnerability list per chunk item. */
const CHUNK_BYTES = 350 * 1024;

/** The partition of a digest: its heads and chunks. */
export const scanPk = (digest: string) => `D#${digest.toLowerCase()}`;
export const HEAD_PREFIX = 'S#';
export const headSk = (source: string) => `${HEAD_PREFIX}${source}`;
export const chunkPrefix = (source: string, gen: string) => `C#${source}#${gen}#`;
const chunkSk = (source: string, gen: string, i: number) =>
  `${chunkPrefix(source, gen)}${String(i).padStart(4, '0')}`;

/** The key of the item saying which digest `registry/repository:tag` points to. */
export function tagKey(registry: string, repository: string, tag: string): Key {
  return { pk: `T#${registry.toLowerCase()}${SEP}${repository.toLowerCase()}${SEP}${tag}`, sk: 'T' };
}

/** The listing key of an image: (registry, repository, digest), lower-cased. */
export function imageKey(registry: string, repository: string, digest: string): string {
  return [registry, repository, digest].map((s) => s.toLowerCase()).join(SEP);
}

/** The `images` GSI partition of a repository. */
export function imageShard(registry: string, repository: string): string {
  return `IMG#${fnv1a(`${registry.toLowerCase()}${SEP}${repository.toLowerCase()}`) % IMAGE_SHARDS}`;
}

/** Every `images` GSI partition. */
export const ALL_IMAGE_SHARDS = Array.from({ length: IMAGE_SHARDS }, (_, i) => `IMG#${i}`);

/** The vulnerabilities in a gzipped compact list, validated; throws when it is not one. */
export function decodeVulnerabilities(gz: Uint8Array): Vulnerability[] {
  return VulnerabilitiesColumn.parse(gunzipSync(gz).toString('utf8'));
}

/** A scan ready to write: its head, its chunks (if any) and a hash of its content. */
export interface EncodedScan {
  key: Key;
  head: Item & Key;
  chunks: (Item & Key)[];
  /** Hash of everything stored: equal hashes mean the write can be skipped. */
  etag: string;
}

/** Encodes a scan whose `scannedAt` is `ms` epoch milliseconds. */
export function encodeScan(scan: ImageScan, ms: number): EncodedScan {
  const summary: ImageSummary = {
    registry: scan.registry,
    repository: scan.repository,
    digest: scan.digest,
    tags: scan.tags,
    source: scan.source,
    scannedAt: scan.scannedAt,
    status: scan.status,
    counts: scan.counts,
  };
  if (scan.statusReason !== undefined) summary.statusReason = scan.statusReason;
  const compact = encodeVulnerabilities(scan.vulnerabilities);
  const etag = createHash('sha256')
    .update(JSON.stringify(summary))
    .update('\n')
    .update(compact)
    .digest('hex');
  const key: Key = { pk: scanPk(scan.digest), sk: headSk(scan.source) };
  const head: Item & Key = {
    ...key,
    ...summary,
    scannedMs: ms,
    repoKey: scan.repository.toLowerCase(),
    imgPk: imageShard(scan.registry, scan.repository),
    imgSk: `${imageKey(scan.registry, scan.repository, scan.digest)}${SEP}${scan.source}`,
    etag: etag.slice(0, 32),
    vulnCount: scan.vulnerabilities.length,
  };
  const gz = gzipSync(compact);
  const bytes = new Uint8Array(gz.buffer, gz.byteOffset, gz.length);
  if (Buffer.byteLength(JSON.stringify(head)) + bytes.length <= INLINE_BUDGET) {
    return { key, head: { ...head, vz: bytes }, chunks: [], etag: head.etag as string };
  }
  // A fresh generation per write: readers of the old head still find the old chunks.
  const gen = randomUUID().slice(0, 8);
  const chunks: (Item & Key)[] = [];
  for (let offset = 0, i = 0; offset < bytes.length; offset += CHUNK_BYTES, i++) {
    chunks.push({
      pk: key.pk,
      sk: chunkSk(scan.source, gen, i),
      data: bytes.subarray(offset, offset + CHUNK_BYTES),
    });
  }
  return {
    key,
    head: { ...head, chunkGen: gen, chunkCount: chunks.length },
    chunks,
    etag: head.etag as string,
  };
}

/** The keys of the chunks a stored head points to. */
export function chunkKeys(pk: string, source: string, gen: string, count: number): Key[] {
  return Array.from({ length: count }, (_, i) => ({ pk, sk: chunkSk(source, gen, i) }));
}

/** A head item as the listing (GSI) sees it. */
export const SummaryItem = z.object({
  registry: z.string(),
  repository: z.string(),
  digest: z.string(),
  tags: z.array(z.string()),
  source: ScanSourceSchema,
  scannedAt: z.string(),
  scannedMs: z.number(),
  status: ScanStatusSchema,
  statusReason: z.string().optional(),
  counts: SeverityCountsSchema,
});
export type SummaryItem = z.infer<typeof SummaryItem>;

/** A head item as read from the table. */
export const HeadItem = SummaryItem.extend({
  etag: z.string(),
  vz: z.instanceof(Uint8Array).optional(),
  chunkGen: z.string().optional(),
  chunkCount: z.number().int().optional(),
});
export type HeadItem = z.infer<typeof HeadItem>;

/** The newest of a digest's scans: latest `scannedAt`, ties to the first source by name. */
export function newest<T extends SummaryItem>(heads: readonly T[]): T | undefined {
  let best: T | undefined;
  for (const h of heads) {
    if (
      best === undefined ||
      h.scannedMs > best.scannedMs ||
      (h.scannedMs === best.scannedMs && h.source < best.source)
    ) {
      best = h;
    }
  }
  return best;
}

/** The listing row of a head. */
export function toSummary(item: SummaryItem): ImageSummary {
  const summary: ImageSummary = {
    registry: item.registry,
    repository: item.repository,
    digest: item.digest,
    tags: item.tags,
    source: item.source,
    scannedAt: item.scannedAt,
    status: item.status,
    counts: item.counts,
  };
  if (item.statusReason !== undefined) summary.statusReason = item.statusReason;
  return summary;
}
