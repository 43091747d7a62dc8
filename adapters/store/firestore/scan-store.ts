/**
 * Image scans in Firestore (documents in scan-docs.ts). Reads are what the webhook's hot path
 * needs — the newest scan of a digest is two point reads (its image document, then the scan it
 * names), a tag is one — and the listing pages through `images`, one document per image holding its newest
 * scan's summary. Writes are in scan-upsert.ts.
 */
import type { DocumentReference } from '@google-cloud/firestore';
import { z } from 'zod';
import type { ImageScan, ScanSource } from '../../../core/domain.js';
import { UnavailableError } from '../../../core/errors.js';
import type { ImageListQuery, ImageSummary, Page, ScanStore } from '../../../core/ports.js';
import { decodeCursor, pageOf, pageSize } from '../common/records.js';
import { type FirestoreContext, parseDoc } from './client.js';
import { buildQuery, imageListShape } from './query-shapes.js';
import { decodeVulnerabilities } from './scan-codec.js';
import {
  ImageDocSchema,
  ImageSummarySchema,
  type ScanDoc,
  ScanDocSchema,
  ScanRefs,
  TagDocSchema,
} from './scan-docs.js';
import { observeTags } from './scan-tags.js';
import { upsertScans } from './scan-upsert.js';

/** The position after the last image of a page: its (registry, repository, digest) keys. */
const ImageCursor = z.tuple([z.string(), z.string(), z.string()]);

const ListedImage = z.object({
  registryKey: z.string(),
  repositoryKey: z.string(),
  digestKey: z.string(),
  summary: ImageSummarySchema,
});

/** What `getScan` reads of an image document: which source is newest, and each source's version. */
const ImageHeadSchema = ImageDocSchema.pick({ newest: true, sources: true });
type ImageHead = z.infer<typeof ImageHeadSchema>;

/** How often `getScan` re-reads when a concurrent rewrite replaced the chunks it was reading. */
const READ_ATTEMPTS = 3;

/** The `ScanStore` port over `scans`, `images` and `tags`. */
export class FirestoreScanStore implements ScanStore {
  private readonly refs: ScanRefs;

  constructor(private readonly ctx: FirestoreContext) {
    this.refs = new ScanRefs(ctx);
  }

  /**
   * The newest scan of a digest (case-insensitive) across sources, or null. Two point reads:
   * `images/{digest}` names the newest source, then `scans/{digest}__{source}` (plus one
   * `getAll` of its chunks when the list is split). An upsert writes scan documents before it
   * commits the image document, so a scan document whose hash is not the one the image records
   * is being rewritten (or its upsert stopped there): the newest is then decided from the
   * sources' scan documents themselves, read by reference too.
   */
  async getScan(digest: string): Promise<ImageScan | null> {
    const digestKey = digest.toLowerCase();
    const imageRef = this.refs.image(digestKey);
    for (let attempt = 1; ; attempt++) {
      // Only what picks the source: the image's summary (tags and all) is the scan's to give.
      const [imageSnap] = await this.ctx.call('scans.getImage', () =>
        this.ctx.db.getAll(imageRef, { fieldMask: ['newest', 'sources'] }),
      );
      if (imageSnap === undefined || !imageSnap.exists) return null;
      const image = parseDoc(ImageHeadSchema, imageSnap.data(), imageSnap.ref.path);
      const { ref, scan } = await this.newestScan(digestKey, image, imageSnap.ref.path);
      const pieces = await this.pieces(scan, ref);
      if (pieces !== null) {
        return { ...scan.summary, vulnerabilities: await decodeVulnerabilities(pieces, ref.path) };
      }
      if (attempt >= READ_ATTEMPTS) {
        throw new UnavailableError(`the scan of ${digest} is being rewritten; try again`);
      }
    }
  }

  /** The digest `registry/repository:tag` points to now; registry and repository ignore case. */
  async resolveTag(registry: string, repository: string, tag: string): Promise<string | null> {
    const ref = this.refs.tag(registry.toLowerCase(), repository.toLowerCase(), tag);
    const snap = await this.ctx.call('scans.resolveTag', () => ref.get());
    if (!snap.exists) return null;
    const doc = parseDoc(TagDocSchema, snap.data(), snap.ref.path);
    return doc.removed === true ? null : doc.digest;
  }

  /** Applies a registry listing's observation; see scan-tags.ts. */
  async setTags(
    registry: string,
    repository: string,
    digest: string,
    tags: readonly string[],
    observedAt: string,
  ): Promise<boolean> {
    return observeTags(this.ctx, this.refs, { registry, repository, digest, tags }, observedAt);
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
    return pageOf(
      rows,
      limit,
      (r) => r.summary,
      (r) => [r.registryKey, r.repositoryKey, r.digestKey],
    );
  }

  /** The gzipped pieces of a scan's list; null when a concurrent rewrite removed a chunk. */
  private async pieces(scan: ScanDoc, ref: DocumentReference): Promise<Uint8Array[] | null> {
    if (scan.vulns !== undefined) return [scan.vulns];
    if (scan.chunks === undefined) throw new Error(`document ${ref.path} has neither vulns nor chunks`);
    const { gen, count } = scan.chunks;
    const refs = Array.from({ length: count }, (_, i) => this.refs.chunk(ref, gen, i));
    const snaps = await this.ctx.call('scans.getChunks', () => this.ctx.db.getAll(...refs));
    const data = snaps.map((s) => s.get('data') as unknown);
    return data.every((d) => d instanceof Uint8Array) ? (data as Uint8Array[]) : null;
  }

  /**
   * The scan document of the image's newest source when it is the version the image records
   * (the usual case: one point read); otherwise the newest of the image's sources by their
   * stored scan documents — latest scan time, ties to the first source by name, as the image
   * document itself decides.
   */
  private async newestScan(
    digestKey: string,
    image: ImageHead,
    imagePath: string,
  ): Promise<{ ref: DocumentReference; scan: ScanDoc }> {
    const ref = this.refs.scan(digestKey, image.newest);
    const snap = await this.ctx.call('scans.getScan', () => ref.get());
    if (snap.exists) {
      const scan = parseDoc(ScanDocSchema, snap.data(), ref.path);
      if (scan.hash === image.sources[image.newest]?.hash) return { ref, scan };
    }
    const refs = (Object.keys(image.sources) as ScanSource[]).map((source) =>
      this.refs.scan(digestKey, source),
    );
    if (refs.length === 0) throw new Error(`image document ${imagePath} names no sources`);
    const snaps = await this.ctx.call('scans.getSources', () => this.ctx.db.getAll(...refs));
    let best: { ref: DocumentReference; scan: ScanDoc } | undefined;
    for (const s of snaps) {
      if (!s.exists) continue;
      const scan = parseDoc(ScanDocSchema, s.data(), s.ref.path);
      if (
        best === undefined ||
        scan.scannedMs > best.scan.scannedMs ||
        (scan.scannedMs === best.scan.scannedMs && scan.source < best.scan.source)
      ) {
        best = { ref: s.ref, scan };
      }
    }
    if (best === undefined) throw new Error(`no scan of ${imagePath} is stored`);
    return best;
  }
}
