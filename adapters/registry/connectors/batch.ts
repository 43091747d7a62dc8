/**
 * How the listing connectors (ECR, Inspector, GAR) turn one page of a registry listing into a
 * batch: each listed image gives its complete scan, or, when its findings did not change, only
 * its current tags; a page ends with the cursor past it.
 */
import type { ImageScan } from '../../../core/domain.js';
import type { ImageTags, SyncBatch } from '../../../core/sync.js';
import { progressCheckpoint, type SyncPosition } from './checkpoint.js';

/** The scans and tag observations of one listing page. */
export class PageItems {
  readonly scans: ImageScan[] = [];
  readonly tags: ImageTags[] = [];

  /** Adds what a connector made of one listed image (undefined: nothing to report). */
  add(seen: ImageScan | ImageTags | undefined): void {
    if (seen === undefined) return;
    if ('vulnerabilities' in seen) this.scans.push(seen);
    else this.tags.push(seen);
  }

  /** `{ tags }` when there are any, to spread into a batch. */
  tagsField(): Pick<SyncBatch, 'tags'> {
    return this.tags.length > 0 ? { tags: this.tags } : {};
  }
}

/**
 * The batch that ends a listing page of `unit`: its scans and tags, with the checkpoint past
 * the page (`token`: the next page; none: the unit is done). Undefined for an empty page that
 * does not end the unit, which has nothing to store.
 *
 * @example const batch = pageBatch(position, repo.name, token, items, images); if (batch) yield batch;
 */
export function pageBatch(
  position: SyncPosition,
  unit: string,
  token: string | undefined,
  items: PageItems,
  images: number,
): SyncBatch | undefined {
  if (items.scans.length === 0 && items.tags.length === 0 && token !== undefined) return undefined;
  const cursor = token === undefined ? { unit } : { unit, token };
  return {
    scans: items.scans,
    ...items.tagsField(),
    checkpoint: progressCheckpoint(position, cursor),
    progress: { images },
  };
}
