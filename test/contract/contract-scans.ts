/**
 * Contract: image scans — idempotent bulk upserts, the newest scan across sources, tags that
 * move between digests, and the paged image listing.
 */
import { describe, expect, it } from 'vitest';
import type { ImageScan } from '../../core/domain.js';
import { ValidationError } from '../../core/errors.js';
import type { ImageListQuery, ImageSummary, Store } from '../../core/ports.js';
import { digestOf, makeScan, makeVulnerabilities } from './factories.js';
import type { ContractContext } from './store-contract.js';

const ECR = '123456789012.dkr.ecr.us-east-1.amazonaws.com';
const ACR = 'contoso.azurecr.io';

function summaryOf(scan: ImageScan): ImageSummary {
  const { vulnerabilities: _, ...summary } = scan;
  return summary;
}

/** Walks every page of the listing, checking that no page is empty but the only one. */
export async function walkImages(
  store: Store,
  query: Omit<ImageListQuery, 'cursor'>,
): Promise<ImageSummary[]> {
  const items: ImageSummary[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 10_000; pages++) {
    const page = await store.scans.listImages(cursor === undefined ? query : { ...query, cursor });
    if (pages > 0) expect(page.items.length).toBeGreaterThan(0);
    expect(page.items.length).toBeLessThanOrEqual(query.limit);
    items.push(...page.items);
    if (page.nextCursor === null) return items;
    cursor = page.nextCursor;
  }
  throw new Error('the listing never ended');
}

/** The contract's listing order: registry, repository, digest (tests use lower case). */
function byImageKey(a: ImageSummary, b: ImageSummary): number {
  const ka = `${a.registry}\u0000${a.repository}\u0000${a.digest}`;
  const kb = `${b.registry}\u0000${b.repository}\u0000${b.digest}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/** Scans: upserts, reads by digest and tag, and the listing. */
export function scanContract(ctx: ContractContext): void {
  describe('scans', () => {
    it('stores a scan and reads it back by digest', async () => {
      const scan = makeScan({
        tags: ['1.0', 'latest'],
        statusReason: 'complete',
        vulnerabilities: [
          ...makeVulnerabilities(12),
          { id: 'GHSA-xxxx-yyyy-zzzz', severity: 'Negligible', originalSeverity: 'UNTRIAGED', cvss: 0 },
          {
            id: 'CVE-2024-0001',
            severity: 'High',
            state: 'Suppressed',
            fixAvailable: false,
            title: 'a "quoted" title',
          },
          { id: 'CVE-2024-0002', severity: 'Low', package: 'zlib', title: 'ünïcode ✓' },
        ],
      });
      await ctx.store.scans.upsertScans([scan]);
      expect(await ctx.store.scans.getScan(scan.digest)).toEqual(scan);
      expect(await ctx.store.scans.getScan(digestOf('never-seen'))).toBeNull();
    });

    it('is idempotent: the same input twice leaves the same state', async () => {
      const a = makeScan({ tags: ['v1'] });
      const b = makeScan({ repository: 'team/worker', tags: ['v1'], status: 'Failed', vulnCount: 0 });
      await ctx.store.scans.upsertScans([a, b]);
      const first = await walkImages(ctx.store, { limit: 10 });
      await ctx.store.scans.upsertScans([a, b]);
      expect(await walkImages(ctx.store, { limit: 10 })).toEqual(first);
      expect(first).toHaveLength(2);
      expect(await ctx.store.scans.getScan(a.digest)).toEqual(a);
      expect(await ctx.store.scans.getScan(b.digest)).toEqual(b);
      expect(await ctx.store.scans.resolveTag(ECR, 'team/worker', 'v1')).toBe(b.digest);
    });

    it('returns the newest scan of a digest whatever its source, and a source replaces only its own', async () => {
      const digest = digestOf('multi-source');
      const ecr = makeScan({ digest, source: 'ecr', scannedAt: '2026-01-01T00:00:00.000Z', vulnCount: 2 });
      const trivy = makeScan({
        digest,
        source: 'trivy',
        scannedAt: '2026-01-02T00:00:00.000Z',
        vulnCount: 5,
      });
      await ctx.store.scans.upsertScans([ecr]);
      await ctx.store.scans.upsertScans([trivy]);
      expect(await ctx.store.scans.getScan(digest)).toEqual(trivy);

      // Offsets are instants too: 2026-01-03T01:00+02:00 is after trivy's scan.
      const ecrNewer = { ...ecr, scannedAt: '2026-01-03T01:00:00+02:00', status: 'Pending' as const };
      await ctx.store.scans.upsertScans([ecrNewer]);
      expect(await ctx.store.scans.getScan(digest)).toEqual(ecrNewer);

      // A re-import from ecr replaces ecr's scan even when older; trivy's is then the newest.
      await ctx.store.scans.upsertScans([{ ...ecr, scannedAt: '2025-12-01T00:00:00.000Z' }]);
      expect(await ctx.store.scans.getScan(digest)).toEqual(trivy);

      const listed = await walkImages(ctx.store, { limit: 10 });
      expect(listed).toEqual([summaryOf(trivy)]);
    });

    it('breaks a tie in scan time by source name, whatever the order of the upserts', async () => {
      const scannedAt = '2026-01-02T00:00:00.000Z';
      const first = makeScan({ digest: digestOf('tie-a'), source: 'ecr', scannedAt, vulnCount: 1 });
      const second = makeScan({ digest: first.digest, source: 'trivy', scannedAt, vulnCount: 4 });
      await ctx.store.scans.upsertScans([second]);
      await ctx.store.scans.upsertScans([first]);
      expect(await ctx.store.scans.getScan(first.digest)).toEqual(first);

      const other = makeScan({ digest: digestOf('tie-b'), source: 'ecr', scannedAt, vulnCount: 1 });
      await ctx.store.scans.upsertScans([other]);
      await ctx.store.scans.upsertScans([{ ...second, digest: other.digest }]);
      expect(await ctx.store.scans.getScan(other.digest)).toEqual(other);
    });

    it('reads the latest content of the newest source after a re-import that keeps its scan time', async () => {
      const digest = digestOf('reimport-same-time');
      const older = makeScan({ digest, source: 'ecr', scannedAt: '2026-01-01T00:00:00.000Z', vulnCount: 3 });
      const newest = makeScan({
        digest,
        source: 'grype',
        scannedAt: '2026-01-02T00:00:00.000Z',
        vulnCount: 2,
      });
      await ctx.store.scans.upsertScans([older, newest]);
      expect(await ctx.store.scans.getScan(digest)).toEqual(newest);

      // The same scan time, but the list and the tags changed (a rescan that kept its timestamp).
      const revised = makeScan({
        digest,
        source: 'grype',
        scannedAt: newest.scannedAt,
        tags: ['patched'],
        vulnerabilities: makeVulnerabilities(1, 'GHSA-'),
      });
      await ctx.store.scans.upsertScans([revised]);
      expect(await ctx.store.scans.getScan(digest)).toEqual(revised);
      expect(await walkImages(ctx.store, { limit: 10 })).toEqual([summaryOf(revised)]);
    });

    it('resolves tags case-insensitively on registry and repository, per repository', async () => {
      const app = makeScan({ registry: ECR, repository: 'team/app', tags: ['latest', '1.0'] });
      const web = makeScan({ registry: ECR, repository: 'team/web', tags: ['latest'] });
      await ctx.store.scans.upsertScans([app, web]);
      expect(await ctx.store.scans.resolveTag(ECR, 'team/app', 'latest')).toBe(app.digest);
      expect(await ctx.store.scans.resolveTag(ECR.toUpperCase(), 'Team/App', '1.0')).toBe(app.digest);
      expect(await ctx.store.scans.resolveTag(ECR, 'team/web', 'latest')).toBe(web.digest);
      expect(await ctx.store.scans.resolveTag(ECR, 'team/app', 'nope')).toBeNull();
      expect(await ctx.store.scans.resolveTag(ACR, 'team/app', 'latest')).toBeNull();
    });

    it('moves a tag to the digest of a newer scan, never back to an older one', async () => {
      const old = makeScan({ tags: ['latest', '1.0'], scannedAt: '2026-01-01T00:00:00.000Z' });
      const fresh = makeScan({ tags: ['latest', '1.1'], scannedAt: '2026-01-02T00:00:00.000Z' });
      await ctx.store.scans.upsertScans([old]);
      expect(await ctx.store.scans.resolveTag(ECR, 'team/app', 'latest')).toBe(old.digest);
      await ctx.store.scans.upsertScans([fresh]);
      expect(await ctx.store.scans.resolveTag(ECR, 'team/app', 'latest')).toBe(fresh.digest);
      expect(await ctx.store.scans.resolveTag(ECR, 'team/app', '1.0')).toBe(old.digest);

      // A late import of an even older scan carrying the tag does not move it back.
      const stale = makeScan({ tags: ['latest'], scannedAt: '2025-12-01T00:00:00.000Z', source: 'trivy' });
      await ctx.store.scans.upsertScans([stale]);
      expect(await ctx.store.scans.resolveTag(ECR, 'team/app', 'latest')).toBe(fresh.digest);
      // Re-upserting the old scan (same time as before) does not move it back either.
      await ctx.store.scans.upsertScans([old]);
      expect(await ctx.store.scans.resolveTag(ECR, 'team/app', 'latest')).toBe(fresh.digest);
    });

    it('upserts 2,000 scans in one call', async () => {
      const scans = Array.from({ length: 2000 }, (_, i) =>
        makeScan({
          repository: `bulk/repo-${i % 40}`,
          digest: digestOf(`bulk-${i}`),
          tags: [`build-${i}`],
          vulnCount: 20,
        }),
      );
      await ctx.store.scans.upsertScans(scans);
      const listed = await walkImages(ctx.store, { limit: 500 });
      expect(listed).toHaveLength(2000);
      expect(new Set(listed.map((s) => s.digest)).size).toBe(2000);
      expect(listed).toEqual(scans.map(summaryOf).sort(byImageKey));
      for (const i of [0, 777, 1999]) {
        const scan = scans[i]!;
        expect(await ctx.store.scans.getScan(scan.digest)).toEqual(scan);
        expect(await ctx.store.scans.resolveTag(ECR, scan.repository, `build-${i}`)).toBe(scan.digest);
      }
      // The local cloud emulators write a few hundred items a second; this is about them, not the adapters.
    }, 180_000);

    it('lists images in (registry, repository, digest) order with filters and a cursor', async () => {
      const scans = [
        makeScan({ registry: ACR, repository: 'payments/api', digest: digestOf('l1') }),
        makeScan({ registry: ACR, repository: 'payments/api', digest: digestOf('l2'), status: 'Failed' }),
        makeScan({ registry: ACR, repository: 'payments/web', digest: digestOf('l3') }),
        makeScan({ registry: ECR, repository: 'payments/api', digest: digestOf('l4'), status: 'Pending' }),
        makeScan({ registry: ECR, repository: 'team/app', digest: digestOf('l5') }),
        makeScan({ registry: ECR, repository: 'team/app', digest: digestOf('l6'), vulnCount: 40 }),
      ];
      await ctx.store.scans.upsertScans(scans);
      const expected = scans.map(summaryOf).sort(byImageKey);

      for (const limit of [1, 2, 4, 6, 50]) {
        expect(await walkImages(ctx.store, { limit })).toEqual(expected);
      }
      const acr = await walkImages(ctx.store, { registry: 'Contoso.AzureCR.io', limit: 2 });
      expect(acr).toEqual(expected.filter((s) => s.registry === ACR));
      const api = await walkImages(ctx.store, { registry: ACR, repository: 'Payments/API', limit: 1 });
      expect(api.map((s) => s.digest)).toEqual(
        expected.filter((s) => s.registry === ACR && s.repository === 'payments/api').map((s) => s.digest),
      );
      const failed = await walkImages(ctx.store, { status: 'Failed', limit: 10 });
      expect(failed.map((s) => s.digest)).toEqual([digestOf('l2')]);
      expect(await walkImages(ctx.store, { registry: 'registry.example.com', limit: 10 })).toEqual([]);
    });

    it('filters the listing by the status of each image’s newest scan', async () => {
      const digest = digestOf('status-newest');
      await ctx.store.scans.upsertScans([
        makeScan({ digest, source: 'ecr', status: 'Scanned', scannedAt: '2026-01-01T00:00:00.000Z' }),
        makeScan({ digest, source: 'trivy', status: 'Failed', scannedAt: '2026-01-02T00:00:00.000Z' }),
      ]);
      expect(await walkImages(ctx.store, { status: 'Scanned', limit: 10 })).toEqual([]);
      const failed = await walkImages(ctx.store, { status: 'Failed', limit: 10 });
      expect(failed.map((s) => [s.digest, s.source])).toEqual([[digest, 'trivy']]);
    });

    it('rejects a cursor it did not issue with ValidationError', async () => {
      await ctx.store.scans.upsertScans([makeScan()]);
      await expect(ctx.store.scans.listImages({ limit: 10, cursor: 'not-a-cursor' })).rejects.toBeInstanceOf(
        ValidationError,
      );
    });
  });
}
