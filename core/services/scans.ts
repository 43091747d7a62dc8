/**
 * Scan results: ingest (from imports and sync), look-ups for the webhook through a bounded
 * cache (one store read per image, DESIGN.md §7), and listings for the API.
 */
import { TtlCache } from '../cache.js';
import { countSeverities, type ImageScan, ImageScanSchema } from '../domain.js';
import { NotFoundError, ValidationError } from '../errors.js';
import type { ImageRef } from '../image-ref.js';
import type { Clock, ImageListQuery, ImageSummary, Logger, Page, ScanStore } from '../ports.js';
import type { ImageTags, ScannerInventory } from '../sync.js';

/**
 * Sources whose scans carry every tag the registry gives the image at the time of the scan or
 * the sync (registry syncs, and imports of the same APIs' output).
 */
const REGISTRY_SOURCES: ReadonlySet<ImageScan['source']> = new Set(['ecr', 'inspector2', 'acr', 'gar']);

/** How many images `retag` updates at once. */
const RETAG_CONCURRENCY = 16;

export interface ResolvedScan {
  digest?: string;
  scan: ImageScan | null;
}

export class ScanService {
  private readonly cache: TtlCache<string, string | ImageScan | null>;

  constructor(
    private readonly store: ScanStore,
    private readonly clock: Clock,
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
   * Reconciles the stored scans of a source with what its scanner reports now. Each image of
   * the inventory's registries whose newest scan is a `Scanned` one from that source, and whose
   * digest the inventory does not list, gets that scan back as `Pending` with the inventory's
   * reason. Its findings stay, for the record, and its scan time stays the last time the scanner
   * reported it; it is never made clean, because silence does not say the findings were fixed.
   * Rules then treat it as an image without a usable scan (`applyToUnscannedImages`), and
   * monitoring says why. An image so marked that the inventory lists again, and that this run
   * did not rescan (its findings did not change meanwhile), is `Scanned` again with the same
   * findings. Returns how many images were marked and restored.
   */
  async reconcile(inventory: ScannerInventory): Promise<{ marked: number; restored: number }> {
    const reported = new Set(inventory.digests.map((d) => d.toLowerCase()));
    const candidates: string[] = [];
    for (const registry of new Set(inventory.registries.map((r) => r.toLowerCase()))) {
      let cursor: string | undefined;
      do {
        const page = await this.store.listImages({
          registry,
          limit: 200,
          ...(cursor === undefined ? {} : { cursor }),
        });
        for (const image of page.items) {
          const digest = image.digest.toLowerCase();
          if (reconciled(image, inventory, reported.has(digest)) !== undefined) candidates.push(digest);
        }
        cursor = page.nextCursor ?? undefined;
      } while (cursor !== undefined);
    }
    const done = { marked: 0, restored: 0 };
    for (let i = 0; i < candidates.length; i += 100) {
      const changed: ImageScan[] = [];
      for (const digest of new Set(candidates.slice(i, i + 100))) {
        // Read again: the newest scan may have changed since the listing (an import, say).
        const scan = await this.store.getScan(digest);
        const next = scan === null ? undefined : reconciled(scan, inventory, reported.has(digest));
        if (next === undefined) continue;
        changed.push(next);
        if (next.status === 'Pending') done.marked++;
        else done.restored++;
      }
      if (changed.length > 0) await this.ingest(changed);
    }
    return done;
  }

  /**
   * Records what a registry listing shows now: each listed image carries exactly the listed
   * tags (ScanStore.setTags, observed now). A tag follows the registry wherever it moved, to a
   * digest scanned before or after the one it left (a rollback included); a tag no longer
   * listed on its digest stops resolving; each scan's findings stay as they are. Returns how
   * many images changed.
   */
  async retag(observed: readonly ImageTags[]): Promise<number> {
    const observedAt = this.clock.now().toISOString();
    let changed = 0;
    for (let i = 0; i < observed.length; i += RETAG_CONCURRENCY) {
      const done = await Promise.all(
        observed
          .slice(i, i + RETAG_CONCURRENCY)
          .map((o) =>
            this.store.setTags(o.registry, o.repository, o.digest.toLowerCase(), o.tags, observedAt),
          ),
      );
      changed += done.filter(Boolean).length;
    }
    if (changed > 0) this.cache.clear();
    return changed;
  }

  /**
   * The digest an image reference names or its tag points to, and that digest's newest scan.
   * A tag whose digest's newest scan, from a registry source and of the same repository, no
   * longer lists it has moved away or been deleted: the reference is then unresolved (never
   * the old digest's findings). `retag` keeps tags and scans in step, so this guards what it
   * cannot see: a scan stored again without a tag that still points at it (the registry
   * deleted the tag, and the image's new scan arrived before its next listing).
   */
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
    const loaded = await this.cache.getOrLoad(`digest:${d}`, () => this.store.getScan(d));
    const scan = typeof loaded === 'object' ? loaded : null;
    if (
      ref.digest === undefined &&
      ref.tag !== undefined &&
      scan !== null &&
      isStaleTag(scan, ref, ref.tag)
    ) {
      return { scan: null };
    }
    return { digest, scan };
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

/** True when `scan` speaks for the tagged image's repository and no longer carries the tag. */
function isStaleTag(scan: ImageScan, ref: ImageRef, tag: string): boolean {
  return (
    REGISTRY_SOURCES.has(scan.source) &&
    scan.registry.toLowerCase() === ref.registry.toLowerCase() &&
    scan.repository.toLowerCase() === ref.repository.toLowerCase() &&
    !scan.tags.includes(tag)
  );
}

/** What reconciliation makes of an image's newest scan; undefined when it stays as it is. */
function reconciled<T extends ImageSummary>(
  scan: T,
  inventory: ScannerInventory,
  reported: boolean,
): T | undefined {
  if (scan.source !== inventory.source) return undefined;
  if (!reported && scan.status === 'Scanned') {
    return { ...scan, status: 'Pending', statusReason: inventory.reason };
  }
  if (reported && scan.status === 'Pending' && scan.statusReason === inventory.reason) {
    const { statusReason: _, ...rest } = scan;
    return { ...rest, status: 'Scanned' } as T;
  }
  return undefined;
}
