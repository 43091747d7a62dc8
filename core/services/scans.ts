/**
 * Scan results: ingest (from imports and sync), look-ups for the webhook through a bounded
 * cache (one store read per image, DESIGN.md §7), and listings for the API.
 */
import { TtlCache } from '../cache.js';
import { countSeverities, type ImageScan, ImageScanSchema } from '../domain.js';
import { NotFoundError, ValidationError } from '../errors.js';
import type { ImageRef } from '../image-ref.js';
import type { Clock, ImageListQuery, ImageSummary, Logger, Page, ScanStore } from '../ports.js';
import type { ScannerInventory } from '../sync.js';

export interface ResolvedScan {
  digest?: string;
  scan: ImageScan | null;
}

export class ScanService {
  private readonly cache: TtlCache<string, string | ImageScan | null>;

  constructor(
    private readonly store: ScanStore,
    clock: Clock,
    private readonly logger: Logger,
    cacheTtlMs: number,
  ) {
    this.cache = new TtlCache(cacheTtlMs, 50_000, clock);
  }

  /**
   * Validates and stores scans (counts recomputed from the vulnerabilities, so a report's own
   * totals never disagree with its findings). Returns what was stored.
   */
  async ingest(scans: readonly ImageScan[]): Promise<{ images: number; vulnerabilities: number }> {
    const checked = scans.map((scan, i) => {
      const result = ImageScanSchema.safeParse({
        ...scan,
        counts: countSeverities(scan.vulnerabilities ?? []),
      });
      if (!result.success) {
        const issue = result.error.issues[0];
        throw new ValidationError(`image ${i}: ${issue?.path.join('.')}: ${issue?.message}`, {
          details: result.error.issues,
        });
      }
      return {
        ...result.data,
        registry: result.data.registry.toLowerCase(),
        digest: result.data.digest.toLowerCase(),
      };
    });
    if (checked.length > 0) await this.store.upsertScans(checked);
    this.cache.clear();
    const vulnerabilities = checked.reduce((n, s) => n + s.vulnerabilities.length, 0);
    this.logger.info('scans ingested', { images: checked.length, vulnerabilities });
    return { images: checked.length, vulnerabilities };
  }

  /**
   * Marks what a scanner stopped reporting: each image of the inventory's registries whose
   * newest scan is a `Scanned` one from the inventory's source, and whose digest the inventory
   * does not list, gets that scan back as `Pending` with the inventory's reason. Its findings
   * stay, for the record, and its scan time stays the last time the scanner reported it; it is
   * never made clean, because silence does not say the findings were fixed. Rules then treat it
   * as an image without a usable scan (`applyToUnscannedImages`), and monitoring says why.
   * Returns how many images were marked. An image the scanner reports again is synced as usual.
   */
  async markUnreported(inventory: ScannerInventory): Promise<number> {
    const reported = new Set(inventory.digests.map((d) => d.toLowerCase()));
    const unreported: string[] = [];
    for (const registry of new Set(inventory.registries.map((r) => r.toLowerCase()))) {
      let cursor: string | undefined;
      do {
        const page = await this.store.listImages({
          registry,
          status: 'Scanned',
          limit: 200,
          ...(cursor === undefined ? {} : { cursor }),
        });
        for (const image of page.items) {
          const digest = image.digest.toLowerCase();
          if (image.source === inventory.source && !reported.has(digest)) unreported.push(digest);
        }
        cursor = page.nextCursor ?? undefined;
      } while (cursor !== undefined);
    }
    let marked = 0;
    for (let i = 0; i < unreported.length; i += 100) {
      const pending: ImageScan[] = [];
      for (const digest of new Set(unreported.slice(i, i + 100))) {
        const scan = await this.store.getScan(digest);
        // Read again: the newest scan may have changed since the listing (an import, say).
        if (scan?.source !== inventory.source || scan.status !== 'Scanned') continue;
        pending.push({ ...scan, status: 'Pending', statusReason: inventory.reason });
      }
      if (pending.length > 0) marked += (await this.ingest(pending)).images;
    }
    return marked;
  }

  /** The digest an image reference names or its tag points to, and that digest's newest scan. */
  async resolve(ref: ImageRef): Promise<ResolvedScan> {
    let digest = ref.digest;
    if (digest === undefined && ref.tag !== undefined) {
      const key = `tag:${ref.registry}/${ref.repository}:${ref.tag}`.toLowerCase();
      const tag = ref.tag;
      const found = await this.cache.getOrLoad(key, () =>
        this.store.resolveTag(ref.registry, ref.repository, tag),
      );
      digest = typeof found === 'string' ? found : undefined;
    }
    if (digest === undefined) return { scan: null };
    const d = digest.toLowerCase();
    const scan = await this.cache.getOrLoad(`digest:${d}`, () => this.store.getScan(d));
    return { digest, scan: typeof scan === 'object' ? scan : null };
  }

  async get(digest: string): Promise<ImageScan> {
    const scan = await this.store.getScan(digest.toLowerCase());
    if (scan === null) throw new NotFoundError(`no scan for image ${digest}`);
    return scan;
  }

  list(query: ImageListQuery): Promise<Page<ImageSummary>> {
    return this.store.listImages(query);
  }
}
