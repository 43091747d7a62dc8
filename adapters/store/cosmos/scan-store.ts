/**
 * Image scans in Cosmos DB over three containers, each partitioned for its reads:
 * - `images` (pk digest): one small document per image, the listing row (its newest scan's
 *   summary) and every source's entry; the only one of the three that is queried;
 * - `scans` (pk digest): the current version of each (digest, source) scan, a document with
 *   its gzipped vulnerabilities (and chunk documents when large);
 * - `tags` (pk registry/repository): one document per tag, naming its digest (scan-tags.ts).
 * Reads on the webhook's path are point reads: the image, then its newest source's scan; a
 * tag, by its repository and name.
 */
import type { Container } from '@azure/cosmos';
import { z } from 'zod';
import type { ImageScan } from '../../../core/domain.js';
import { UnavailableError } from '../../../core/errors.js';
import type { ImageListQuery, ImageSummary, Page, ScanStore } from '../../../core/ports.js';
import { decodeCursor, pageOf, pageSize } from '../common/records.js';
import {
  ChunkDocSchema,
  chunkId,
  decodeVulnerabilities,
  IMAGE_ID,
  ImageDocSchema,
  newestOf,
  SourceDocSchema,
  SummarySchema,
  scanId,
  tagPk,
} from './scan-codec.js';
import { observeTags, TagDocSchema } from './scan-tags.js';
import { upsertScans } from './scan-upsert.js';
import { docId, parseDoc, queryDocs, readDoc, sql } from './support.js';

const ListingRow = z.object({
  registryKey: z.string(),
  repositoryKey: z.string(),
  digestKey: z.string(),
  summary: SummarySchema,
});

/** The position after the last image of a page: its (registry, repository, digest) keys. */
const ImageCursor = z.tuple([z.string(), z.string(), z.string()]);

/** Reads retried when a concurrent write dropped the version a read was following. */
const READ_ATTEMPTS = 4;

/** The containers the scan store spans. */
export interface ScanContainers {
  images: Container;
  scans: Container;
  tags: Container;
}

/** The `ScanStore` port over the `images`, `scans` and `tags` containers. */
export class CosmosScanStore implements ScanStore {
  constructor(private readonly c: ScanContainers) {}

  /** The newest scan of a digest (case-insensitive) across sources, or null. */
  async getScan(digest: string): Promise<ImageScan | null> {
    const pk = digest.toLowerCase();
    for (let attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
      const image = await readDoc(this.c.images, IMAGE_ID, pk);
      if (image === null) return null;
      const newest = newestOf(parseDoc(ImageDocSchema, image.doc, this.c.images.id).sources);
      if (newest === undefined) return null;
      // The version the image document names; gone only if a writer replaced it since.
      const found = await readDoc(this.c.scans, scanId(newest.summary.source, newest.blob), pk);
      if (found === null) continue;
      const source = parseDoc(SourceDocSchema, found.doc, this.c.scans.id);
      const data =
        source.data ?? (await this.readChunks(pk, source.summary.source, source.blob, source.chunks));
      if (data === null) continue;
      // The image document's entry holds the scan's tags: a registry listing may have changed them.
      return {
        ...source.summary,
        tags: newest.summary.tags,
        vulnerabilities: await decodeVulnerabilities(data),
      };
    }
    throw new UnavailableError(`the scan of ${digest} is being rewritten; try again`);
  }

  /** The digest `registry/repository:tag` points to now (a point read); registry and repository ignore case. */
  async resolveTag(registry: string, repository: string, tag: string): Promise<string | null> {
    const found = await readDoc(this.c.tags, docId(tag), tagPk(registry, repository));
    if (found === null) return null;
    const doc = parseDoc(TagDocSchema, found.doc, this.c.tags.id);
    return doc.removed === true ? null : doc.digest;
  }

  /** Applies a registry listing's observation; see `observeTags` in scan-tags.ts. */
  async setTags(
    registry: string,
    repository: string,
    digest: string,
    tags: readonly string[],
    observedAt: string,
  ): Promise<boolean> {
    return observeTags(this.c, { registry, repository, digest, tags }, observedAt);
  }

  /** Bulk, idempotent upsert; see `upsertScans` in scan-upsert.ts. */
  async upsertScans(scans: readonly ImageScan[]): Promise<void> {
    await upsertScans(this.c, scans);
  }

  /**
   * One row per image (digest) holding its newest scan, ordered by the lower-cased
   * (registry, repository, digest), filtered on the newest scan. An index-served query over
   * the image documents (composite index on the three keys), paged by keyset: the cursor is
   * the last row's keys, so pages stay stable while scans are being upserted.
   */
  async listImages(query: ImageListQuery): Promise<Page<ImageSummary>> {
    const limit = pageSize(query.limit);
    const where: string[] = [];
    const values: Record<string, unknown> = {};
    if (query.registry !== undefined) {
      where.push('c.registryKey = @registry');
      values.registry = query.registry.toLowerCase();
    }
    if (query.repository !== undefined) {
      where.push('c.repositoryKey = @repository');
      values.repository = query.repository.toLowerCase();
    }
    if (query.status !== undefined) {
      where.push('c.status = @status');
      values.status = query.status;
    }
    if (query.cursor !== undefined) {
      const [r, p, d] = decodeCursor(query.cursor, ImageCursor);
      // (registry, repository, digest) > (cr, cp, cd), written flat: a range on the leading
      // key, then the tie-breaks (the local server's parser is exponential in nesting).
      where.push(
        'c.registryKey >= @cr',
        '(c.registryKey > @cr OR c.repositoryKey >= @cp)',
        '(c.registryKey > @cr OR c.repositoryKey > @cp OR c.digestKey > @cd)',
      );
      Object.assign(values, { cr: r, cp: p, cd: d });
    }
    const rows = (
      await queryDocs(
        this.c.images,
        sql(
          `SELECT TOP @top c.registryKey, c.repositoryKey, c.digestKey, c.summary FROM c${
            where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''
          } ORDER BY c.registryKey ASC, c.repositoryKey ASC, c.digestKey ASC`,
          { ...values, top: limit + 1 },
        ),
        { max: limit + 1 },
      )
    ).map((row) => parseDoc(ListingRow, row, this.c.images.id));
    return pageOf(
      rows,
      limit,
      (row) => row.summary,
      (row) => [row.registryKey, row.repositoryKey, row.digestKey],
    );
  }

  /** The chunks of a blob joined in order; null when one is gone (rewritten meanwhile). */
  private async readChunks(pk: string, source: string, blob: string, count: number): Promise<string | null> {
    const parts = await Promise.all(
      Array.from({ length: count }, (_, i) => readDoc(this.c.scans, chunkId(source, blob, i), pk)),
    );
    if (parts.some((p) => p === null)) return null;
    return parts.map((p) => parseDoc(ChunkDocSchema, p?.doc, this.c.scans.id).data).join('');
  }
}
