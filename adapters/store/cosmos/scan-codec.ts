/**
 * How an image scan is laid out in Cosmos DB documents. The vulnerability list is encoded
 * compactly (tuples, see the SQLite codec), gzipped and base64-encoded; when that is larger
 * than one document should hold, it is split over chunk documents in the same partition.
 * Cosmos DB caps a document at 2 MB, and an image with tens of thousands of findings gzips
 * to several.
 */
import { createHash, randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import type { JSONObject } from '@azure/cosmos';
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

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/**
 * Base64 characters kept in one document (the source document or a chunk). Well under the
 * 2 MB document limit, leaving room for the summary (up to 1,000 tags) and the envelope.
 */
export const CHUNK_CHARS = 1_000_000;

/** The partition of a repository's tag documents: `<registry>/<repository>`, lower-cased. */
export const tagPk = (registry: string, repository: string) =>
  `${registry.toLowerCase()}/${repository.toLowerCase()}`;
/**
 * The id of one version (`blob`) of a source's scan document in its digest partition. Each
 * write makes a new version and the image document switches to it in one conditional
 * write, so a reader following the image document always reads one complete version.
 */
export const scanId = (source: string, blob: string) => `scan|${source}|${blob}`;
/** The id of chunk `i` of a version of a source's scan. */
export const chunkId = (source: string, blob: string, i: number) => `chunk|${source}|${blob}|${i}`;

/** A stored scan without its vulnerabilities, exactly as it was given (times as written). */
export const SummarySchema = z.object({
  registry: z.string(),
  repository: z.string(),
  digest: z.string(),
  tags: z.array(z.string()),
  source: ScanSourceSchema,
  scannedAt: z.string(),
  status: ScanStatusSchema,
  statusReason: z.string().optional(),
  counts: SeverityCountsSchema,
});

/** Which version of a source's scan is current (`blob`), and how many chunks it has (0: inline). */
export const BlobRefSchema = z.object({ blob: z.string(), chunks: z.number().int().min(0) });
/** A `BlobRefSchema` value. */
export type BlobRef = z.infer<typeof BlobRefSchema>;

/** One source's entry in an image's document. */
export const SourceEntrySchema = BlobRefSchema.extend({
  scannedMs: z.number(),
  /** SHA-256 of the summary and vulnerabilities: an unchanged re-sync writes nothing. */
  hash: z.string(),
  summary: SummarySchema,
  /** When a registry listing last set `summary.tags` (ScanStore.setTags); a new version drops it. */
  tagsObservedMs: z.number().optional(),
});
/** A `SourceEntrySchema` value. */
export type SourceEntry = z.infer<typeof SourceEntrySchema>;

/** The id of an image's document in its digest partition of the images container. */
export const IMAGE_ID = 'image';

/** An image's document: the newest scan's keys (indexed) and every source's entry. */
export const ImageDocSchema = z.object({
  registryKey: z.string(),
  repositoryKey: z.string(),
  digestKey: z.string(),
  status: z.string(),
  summary: SummarySchema,
  sources: z.record(z.string(), SourceEntrySchema),
});
/** An `ImageDocSchema` value. */
export type ImageDoc = z.infer<typeof ImageDocSchema>;

/** A scan ready to write: its summary, content hash and the document(s) holding it. */
export interface EncodedScan {
  digestKey: string;
  registryKey: string;
  repositoryKey: string;
  scannedMs: number;
  entry: SourceEntry;
  /** The source document (summary + inline data or a chunk count). */
  doc: JSONObject & { id: string; pk: string };
  /** Chunk documents, written before `doc` so it never points at a missing chunk. */
  chunks: (JSONObject & { id: string; pk: string })[];
}

/** The summary with a fixed key order, so equal scans hash equally. */
export function toSummary(scan: ImageScan | ImageSummary): ImageSummary {
  const summary: ImageSummary = {
    registry: scan.registry,
    repository: scan.repository,
    digest: scan.digest,
    tags: [...scan.tags],
    source: scan.source,
    scannedAt: scan.scannedAt,
    status: scan.status,
    counts: {
      Critical: scan.counts.Critical,
      High: scan.counts.High,
      Medium: scan.counts.Medium,
      Low: scan.counts.Low,
      Negligible: scan.counts.Negligible,
    },
  };
  if (scan.statusReason !== undefined) summary.statusReason = scan.statusReason;
  return summary;
}

/** Encodes one scan; `scannedMs` is its time already validated by the caller. */
export async function encodeScan(scan: ImageScan, scannedMs: number): Promise<EncodedScan> {
  const summary = toSummary(scan);
  const compact = encodeVulnerabilities(scan.vulnerabilities);
  const hash = createHash('sha256')
    .update(JSON.stringify(summary))
    .update('\n')
    .update(compact)
    .digest('base64url');
  const data = (await gzipAsync(Buffer.from(compact, 'utf8'))).toString('base64');
  const digestKey = scan.digest.toLowerCase();
  const pk = digestKey;
  // A fresh version per write: a writer dropping the version it replaced can never drop
  // what another writer has just written, even for the same content.
  const blob = randomUUID().replaceAll('-', '').slice(0, 16);
  const parts = data.length > CHUNK_CHARS ? Math.ceil(data.length / CHUNK_CHARS) : 0;
  const chunks = Array.from({ length: parts }, (_, i) => ({
    id: chunkId(scan.source, blob, i),
    pk,
    data: data.slice(i * CHUNK_CHARS, (i + 1) * CHUNK_CHARS),
  }));
  const entry: SourceEntry = { blob, chunks: parts, scannedMs, hash, summary };
  const doc = {
    id: scanId(scan.source, blob),
    pk,
    ...entry,
    ...(parts === 0 ? { data } : {}),
  };
  return {
    digestKey,
    registryKey: scan.registry.toLowerCase(),
    repositoryKey: scan.repository.toLowerCase(),
    scannedMs,
    entry,
    doc,
    chunks,
  };
}

/** A source document read back. */
export const SourceDocSchema = SourceEntrySchema.extend({ data: z.string().optional() });
/** A `SourceDocSchema` value. */
export type SourceDoc = z.infer<typeof SourceDocSchema>;

/** The chunk documents' data, in order, read back by the caller. */
export const ChunkDocSchema = z.object({ data: z.string() });

/** Decodes the vulnerabilities of a source document (its inline data or its chunks joined). */
export async function decodeVulnerabilities(data: string): Promise<Vulnerability[]> {
  const json = (await gunzipAsync(Buffer.from(data, 'base64'))).toString('utf8');
  return VulnerabilitiesColumn.parse(json);
}

/** Orders scans of one digest: the newest first, ties broken by source name (as SQLite does). */
export function newer(a: SourceEntry, b: SourceEntry): boolean {
  return a.scannedMs > b.scannedMs || (a.scannedMs === b.scannedMs && a.summary.source < b.summary.source);
}

/** The newest entry of an image's sources. */
export function newestOf(sources: Record<string, SourceEntry>): SourceEntry | undefined {
  let best: SourceEntry | undefined;
  for (const entry of Object.values(sources)) if (best === undefined || newer(entry, best)) best = entry;
  return best;
}
