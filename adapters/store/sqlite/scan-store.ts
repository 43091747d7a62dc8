/**
 * Image scans in SQLite: one row per (digest, source), the vulnerability list as compact
 * JSON, and a tag table that follows the newest scan carrying each tag, or the registry listing
 * that last observed it.
 */
import { z } from 'zod';
import {
  type ImageScan,
  ScanSourceSchema,
  ScanStatusSchema,
  SeverityCountsSchema,
} from '../../../core/domain.js';
import type { ImageListQuery, ImageSummary, Page, ScanStore } from '../../../core/ports.js';
import { encodeVulnerabilities, VulnerabilitiesColumn } from '../common/vulnerability-codec.js';
import {
  type Db,
  decodeCursor,
  jsonColumn,
  pageOf,
  pageSize,
  parseRow,
  toMillis,
  translateError,
  writeTx,
} from './database.js';

const SUMMARY_COLUMN_NAMES = [
  'registry',
  'repository',
  'digest',
  'tags',
  'source',
  'scanned_at',
  'status',
  'status_reason',
  'counts',
  'registry_key',
  'repository_key',
  'digest_key',
];
const SUMMARY_COLUMNS = SUMMARY_COLUMN_NAMES.join(', ');
const SUMMARY_COLUMNS_OF_S = SUMMARY_COLUMN_NAMES.map((c) => `s.${c}`).join(', ');

const SummaryRow = z.object({
  registry: z.string(),
  repository: z.string(),
  digest: z.string(),
  tags: jsonColumn(z.array(z.string())),
  source: ScanSourceSchema,
  scanned_at: z.string(),
  status: ScanStatusSchema,
  status_reason: z.string().nullable(),
  counts: jsonColumn(SeverityCountsSchema),
  registry_key: z.string(),
  repository_key: z.string(),
  digest_key: z.string(),
});
type SummaryRow = z.infer<typeof SummaryRow>;

const ScanRow = SummaryRow.extend({ vulnerabilities: VulnerabilitiesColumn });
const DigestRow = z.object({ digest: z.string() });
const ImageScanRow = z.object({
  source: z.string(),
  digest: z.string(),
  tags: jsonColumn(z.array(z.string())),
  scanned_ms: z.number(),
  tags_observed_ms: z.number().nullable(),
});

/** The position after the last image of a page: its (registry, repository, digest) keys. */
const ImageCursor = z.tuple([z.string(), z.string(), z.string()]);

// "No scan of the same image is newer" (ties broken by source), so each image appears once.
const NEWEST = `NOT EXISTS (
  SELECT 1 FROM scans n
  WHERE n.digest_key = s.digest_key AND n.registry_key = s.registry_key AND n.repository_key = s.repository_key
    AND (n.scanned_ms > s.scanned_ms OR (n.scanned_ms = s.scanned_ms AND n.source < s.source)))`;

function toSummary(row: SummaryRow): ImageSummary {
  const summary: ImageSummary = {
    registry: row.registry,
    repository: row.repository,
    digest: row.digest,
    tags: row.tags,
    source: row.source,
    scannedAt: row.scanned_at,
    status: row.status,
    counts: row.counts,
  };
  if (row.status_reason !== null) summary.statusReason = row.status_reason;
  return summary;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((t, i) => t === b[i]);
}

/** The `ScanStore` port over the `scans` and `image_tags` tables. */
export class SqliteScanStore implements ScanStore {
  private readonly stmts;

  constructor(private readonly db: Db) {
    this.stmts = {
      newest: db.prepare(
        `SELECT ${SUMMARY_COLUMNS}, vulnerabilities FROM scans WHERE digest_key = ?
         ORDER BY scanned_ms DESC, source LIMIT 1`,
      ),
      resolve: db.prepare(
        'SELECT digest FROM image_tags WHERE registry_key = ? AND repository_key = ? AND tag = ? AND removed = 0',
      ),
      upsertScan: db.prepare(
        `INSERT INTO scans (digest_key, source, registry_key, repository_key, registry, repository, digest,
           tags, status, status_reason, scanned_at, scanned_ms, counts, vulnerabilities)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (digest_key, source) DO UPDATE SET
           registry_key = excluded.registry_key, repository_key = excluded.repository_key,
           registry = excluded.registry, repository = excluded.repository, digest = excluded.digest,
           tags = excluded.tags, status = excluded.status, status_reason = excluded.status_reason,
           scanned_at = excluded.scanned_at, scanned_ms = excluded.scanned_ms,
           counts = excluded.counts, vulnerabilities = excluded.vulnerabilities,
           tags_observed_ms = NULL
         -- A re-sync mostly repeats what is stored; skipping identical rows skips their writes.
         WHERE (scans.registry, scans.repository, scans.digest, scans.tags, scans.status,
                scans.status_reason, scans.scanned_at, scans.counts, scans.vulnerabilities)
           IS NOT (excluded.registry, excluded.repository, excluded.digest, excluded.tags, excluded.status,
                excluded.status_reason, excluded.scanned_at, excluded.counts, excluded.vulnerabilities)`,
      ),
      // A tag moves only to a scan at least as new as the one it points to now, so an old
      // report imported late cannot drag a tag back to a superseded digest.
      upsertTag: db.prepare(
        `INSERT INTO image_tags (registry_key, repository_key, tag, digest, scanned_ms) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (registry_key, repository_key, tag) DO UPDATE SET
           digest = excluded.digest, scanned_ms = excluded.scanned_ms, removed = 0
         WHERE excluded.scanned_ms >= image_tags.scanned_ms`,
      ),
      imageScans: db.prepare(
        `SELECT source, digest, tags, scanned_ms, tags_observed_ms FROM scans
         WHERE digest_key = ? AND registry_key = ? AND repository_key = ?`,
      ),
      // An observation moves a tag whatever the scan times, unless a newer one moved it last.
      observeTag: db.prepare(
        `INSERT INTO image_tags (registry_key, repository_key, tag, digest, scanned_ms, observed_ms)
         VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (registry_key, repository_key, tag) DO UPDATE SET
           digest = excluded.digest, observed_ms = excluded.observed_ms, removed = 0
         WHERE (lower(image_tags.digest) <> lower(excluded.digest) OR image_tags.removed = 1)
           AND (image_tags.observed_ms IS NULL OR image_tags.observed_ms <= excluded.observed_ms)`,
      ),
      removeTag: db.prepare(
        `UPDATE image_tags SET removed = 1, observed_ms = ?
         WHERE registry_key = ? AND repository_key = ? AND tag = ? AND lower(digest) = ? AND removed = 0
           AND (observed_ms IS NULL OR observed_ms <= ?)`,
      ),
      observeScanTags: db.prepare(
        `UPDATE scans SET tags = ?, tags_observed_ms = ?
         WHERE digest_key = ? AND source = ? AND (tags_observed_ms IS NULL OR tags_observed_ms <= ?)`,
      ),
    };
  }

  /** The newest scan of a digest (case-insensitive) across sources, or null. */
  async getScan(digest: string): Promise<ImageScan | null> {
    const row = this.stmts.newest.get(digest.toLowerCase());
    if (row === undefined) return null;
    const parsed = parseRow(ScanRow, row, 'scans');
    return { ...toSummary(parsed), vulnerabilities: parsed.vulnerabilities };
  }

  /** The digest `registry/repository:tag` points to now; registry and repository ignore case. */
  async resolveTag(registry: string, repository: string, tag: string): Promise<string | null> {
    const row = this.stmts.resolve.get(registry.toLowerCase(), repository.toLowerCase(), tag);
    return row === undefined ? null : parseRow(DigestRow, row, 'image_tags').digest;
  }

  /**
   * Replaces the scan of each (digest, source) and moves its tags, all in one transaction
   * with prepared statements: a sync page of thousands of scans is one fsync, not thousands.
   */
  async upsertScans(scans: readonly ImageScan[]): Promise<void> {
    if (scans.length === 0) return;
    // Validate times before the transaction so a bad scan does not leave a half-applied batch.
    const millis = scans.map((s, i) => toMillis(s.scannedAt, `scans[${i}].scannedAt`));
    const { upsertScan, upsertTag } = this.stmts;
    try {
      writeTx(this.db, () => {
        scans.forEach((s, i) => {
          const ms = millis[i]!;
          const registryKey = s.registry.toLowerCase();
          const repositoryKey = s.repository.toLowerCase();
          upsertScan.run(
            s.digest.toLowerCase(),
            s.source,
            registryKey,
            repositoryKey,
            s.registry,
            s.repository,
            s.digest,
            JSON.stringify(s.tags),
            s.status,
            s.statusReason ?? null,
            s.scannedAt,
            ms,
            JSON.stringify(s.counts),
            encodeVulnerabilities(s.vulnerabilities),
          );
          for (const tag of s.tags) upsertTag.run(registryKey, repositoryKey, tag, s.digest, ms);
        });
      });
    } catch (e) {
      translateError(e, 'a scan');
    }
  }

  /**
   * Applies a registry listing's observation in one transaction: the listed tags point at the
   * digest, the tags its scans listed and the observation does not come off it, and the scans
   * of that repository carry the listed tags. Each write is conditional on the observation
   * time of what it replaces; see `ScanStore.setTags`.
   */
  async setTags(
    registry: string,
    repository: string,
    digest: string,
    tags: readonly string[],
    observedAt: string,
  ): Promise<boolean> {
    const observedMs = toMillis(observedAt, 'observedAt');
    const registryKey = registry.toLowerCase();
    const repositoryKey = repository.toLowerCase();
    const digestKey = digest.toLowerCase();
    const listed = [...new Set(tags)];
    const { imageScans, observeTag, removeTag, observeScanTags } = this.stmts;
    try {
      return writeTx(this.db, () => {
        const scans = imageScans
          .all(digestKey, registryKey, repositoryKey)
          .map((row) => parseRow(ImageScanRow, row, 'scans'));
        // New tag rows take the newest scan's time, so scans keep moving them as before.
        const scannedMs = Math.max(0, ...scans.map((s) => s.scanned_ms));
        const stored = scans[0]?.digest ?? digest;
        let changes = 0;
        for (const tag of listed) {
          changes += observeTag.run(registryKey, repositoryKey, tag, stored, scannedMs, observedMs).changes;
        }
        const unlisted = new Set(scans.flatMap((s) => s.tags));
        for (const tag of listed) unlisted.delete(tag);
        for (const tag of unlisted) {
          changes += removeTag.run(
            observedMs,
            registryKey,
            repositoryKey,
            tag,
            digestKey,
            observedMs,
          ).changes;
        }
        for (const scan of scans) {
          if (sameList(scan.tags, listed)) continue;
          changes += observeScanTags.run(
            JSON.stringify(listed),
            observedMs,
            digestKey,
            scan.source,
            observedMs,
          ).changes;
        }
        return changes > 0;
      });
    } catch (e) {
      translateError(e, 'a tag');
    }
  }

  /**
   * One row per (registry, repository, digest) holding that image's newest scan, ordered by
   * those keys (lower-cased). The cursor is the last row's keys, so pages stay stable while
   * scans are being upserted.
   */
  async listImages(query: ImageListQuery): Promise<Page<ImageSummary>> {
    const limit = pageSize(query.limit);
    const where: string[] = [NEWEST];
    const params: (string | number)[] = [];
    if (query.registry !== undefined) {
      where.push('s.registry_key = ?');
      params.push(query.registry.toLowerCase());
    }
    if (query.repository !== undefined) {
      where.push('s.repository_key = ?');
      params.push(query.repository.toLowerCase());
    }
    if (query.status !== undefined) {
      where.push('s.status = ?');
      params.push(query.status);
    }
    if (query.cursor !== undefined) {
      where.push('(s.registry_key, s.repository_key, s.digest_key) > (?, ?, ?)');
      params.push(...decodeCursor(query.cursor, ImageCursor));
    }
    const sql = `SELECT ${SUMMARY_COLUMNS_OF_S} FROM scans s
      WHERE ${where.join(' AND ')}
      ORDER BY s.registry_key, s.repository_key, s.digest_key LIMIT ?`;
    const rows = this.db
      .prepare(sql)
      .all(...params, limit + 1)
      .map((row) => parseRow(SummaryRow, row, 'scans'));
    return pageOf(rows, limit, toSummary, (r) => [r.registry_key, r.repository_key, r.digest_key]);
  }
}
