/**
 * Image scans in Firestore (documents in scan-docs.ts). Reads are what the webhook's hot path
 * needs — the newest scan of a digest is one indexed query with `limit(1)`, a tag is one point
 * read — and the listing pages through `images`, one document per image holding its newest
 * scan's summary. Writes are in scan-upsert.ts.
 */
import type { DocumentSnapshot } from '@google-cloud/firestore';
import { z } from 'zod';
import type { ImageScan } from '../../../core/domain.js';
import type { ImageListQuery, ImageSummary, Page, ScanStore } from '../../../core/ports.js';
import { decodeCursor, encodeCursor, type FirestoreContext, pageSize, parseDoc } from './client.js';
import { buildQuery, imageListShape, NEWEST_SCAN_SHAPE } from './query-shapes.js';
import { decodeVulnerabilities } from './scan-codec.js';
import { ImageSummarySchema, ScanDocSchema, ScanRefs, TagDocSchema } from './scan-docs.js';
import { upsertScans } from './scan-upsert.js';

/** The position after the last image of a page: its (registry, repository, digest) keys. */
const ImageCursor = z.tuple([z.string(), z.string(), z.string()]);

const ListedImage = z.object({
  registryKey: z.string(),
  repositoryKey: z.string(),
  digestKey: z.string(),
  summary: ImageSummarySchema,
});

/** How often `getScan` re-reads when a concurrent rewrite replaced the chunks it was reading. */
const READ_ATTEMPTS = 3;

/** The `ScanStore` port over `scans`, `images` and `tags`. */
export class FirestoreScanStore implements ScanStore {
  private readonly refs: ScanRefs;

  constructor(private readonly ctx: FirestoreContext) {
    this.refs = new ScanRefs(ctx);
  }

  /** The newest scan of a digest (case-insensitive) across sources, or null. */
  async getScan(digest: string): Promise<ImageScan | null> {
    const query = buildQuery(this.ctx.col('scans'), NEWEST_SCAN_SHAPE, { digestKey: digest.toLowerCase() });
    for (let attempt = 1; ; attempt++) {
      const snap = await this.ctx.call('scans.getScan', () => query.limit(1).get());
      const doc = snap.docs[0];
      if (doc === undefined) return null;
      const scan = parseDoc(ScanDocSchema, doc.data(), doc.ref.path);
      const pieces = await this.pieces(scan, doc.ref.path, doc);
      if (pieces !== null) {
        return { ...scan.summary, vulnerabilities: await decodeVulnerabilities(pieces, doc.ref.path) };
      }
      if (attempt >= READ_ATTEMPTS) throw new Error(`chunks of ${doc.ref.path} are missing`);
    }
  }

  /** The digest `registry/repository:tag` points to now; registry and repository ignore case. */
  async resolveTag(registry: string, repository: string, tag: string): Promise<string | null> {
    const ref = this.refs.tag(registry.toLowerCase(), repository.toLowerCase(), tag);
    const snap = await this.ctx.call('scans.resolveTag', () => ref.get());
    return snap.exists ? parseDoc(TagDocSchema, snap.data(), snap.ref.path).digest : null;
  }

  /** See scan-upsert.ts. */
  async upsertScans(scans: readonly ImageScan[]): Promise<void> {
    await upsertScans(this.ctx, this.refs, scans);
  }

  /**
   * One entry per image (its newest scan), ordered by lower-cased (registry, repository,
   * digest). Filters are equalities on the image documents, so every page is one indexed read;
   * the cursor is the last image's keys, so pages stay stable while scans are upserted.
   */
  async listImages(query: ImageListQuery): Promise<Page<ImageSummary>> {
    const limit = pageSize(query.limit);
    const shape = imageListShape(query);
    const equals: Record<string, unknown> = {};
    if (query.registry !== undefined) equals.registryKey = query.registry.toLowerCase();
    if (query.repository !== undefined) equals.repositoryKey = query.repository.toLowerCase();
    if (query.status !== undefined) equals.status = query.status;
    let q = buildQuery(this.ctx.col('images'), shape, equals).select(
      'registryKey',
      'repositoryKey',
      'digestKey',
      'summary',
    );
    if (query.cursor !== undefined) {
      const [registryKey, repositoryKey, digestKey] = decodeCursor(query.cursor, ImageCursor);
      const position: Record<string, string> = { registryKey, repositoryKey, digestKey };
      q = q.startAfter(...shape.orderBy.map((o) => position[o.field]));
    }
    const snap = await this.ctx.call('scans.listImages', () => q.limit(limit + 1).get());
    const rows = snap.docs.map((d) => parseDoc(ListedImage, d.data(), d.ref.path));
    const more = rows.length > limit;
    const page = more ? rows.slice(0, limit) : rows;
    const last = page.at(-1);
    return {
      items: page.map((r) => r.summary),
      nextCursor: more && last ? encodeCursor([last.registryKey, last.repositoryKey, last.digestKey]) : null,
    };
  }

  /** The gzipped pieces of a scan's list; null when a concurrent rewrite removed a chunk. */
  private async pieces(
    scan: z.infer<typeof ScanDocSchema>,
    path: string,
    doc: DocumentSnapshot,
  ): Promise<Uint8Array[] | null> {
    if (scan.vulns !== undefined) return [scan.vulns];
    if (scan.chunks === undefined) throw new Error(`document ${path} has neither vulns nor chunks`);
    const { gen, count } = scan.chunks;
    const refs = Array.from({ length: count }, (_, i) => this.refs.chunk(doc.ref, gen, i));
    const snaps = await this.ctx.call('scans.getChunks', () => this.ctx.db.getAll(...refs));
    const data = snaps.map((s) => s.get('data') as unknown);
    return data.every((d) => d instanceof Uint8Array) ? (data as Uint8Array[]) : null;
  }
}
