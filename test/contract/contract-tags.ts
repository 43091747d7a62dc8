/**
 * Contract: tags as a registry listing observes them (`ScanStore.setTags`) — a tag follows the
 * listing to a digest scanned later or earlier, leaves a digest that no longer carries it,
 * observations are ordered by their time, and scans keep moving tags as they did before.
 */
import { describe, expect, it } from 'vitest';
import type { ImageScan } from '../../core/domain.js';
import { makeScan } from './factories.js';
import type { ContractContext } from './store-contract.js';

const ECR = '123456789012.dkr.ecr.us-east-1.amazonaws.com';
const REPO = 'team/app';

/** A listing time on 2026-02-0`day`, well after every scan below. */
const observed = (day: number) => `2026-02-0${day}T12:00:00.000Z`;

/** Tag observations: registry listings moving tags between images without new scans. */
export function tagContract(ctx: ContractContext): void {
  describe('tags observed in registry listings', () => {
    const scans = () => ctx.store.scans;
    const resolve = (tag: string) => scans().resolveTag(ECR, REPO, tag);
    const setTags = (scan: ImageScan, tags: string[], at: string) =>
      scans().setTags(ECR, REPO, scan.digest, tags, at);
    /** Two builds: `a` scanned on Jan 1, `b` on Jan 2. */
    const builds = async (aTags: string[], bTags: string[]) => {
      const a = makeScan({ tags: aTags, scannedAt: '2026-01-01T00:00:00.000Z', vulnCount: 4 });
      const b = makeScan({ tags: bTags, scannedAt: '2026-01-02T00:00:00.000Z', vulnCount: 1 });
      await scans().upsertScans([a, b]);
      return { a, b };
    };

    it('moves a tag forward to a newer build and takes it off the old one, findings untouched', async () => {
      const { a, b } = await builds(['1.0', 'prod'], ['1.1']);
      expect(await resolve('prod')).toBe(a.digest);

      expect(await setTags(b, ['1.1', 'prod'], observed(1))).toBe(true);
      expect(await setTags(a, ['1.0'], observed(1))).toBe(true);

      expect(await resolve('prod')).toBe(b.digest);
      expect(await resolve('1.0')).toBe(a.digest);
      expect(await scans().getScan(a.digest)).toEqual({ ...a, tags: ['1.0'] });
      expect(await scans().getScan(b.digest)).toEqual({ ...b, tags: ['1.1', 'prod'] });
      const listed = (await scans().listImages({ registry: ECR, repository: REPO, limit: 10 })).items;
      expect(new Map(listed.map((i) => [i.digest, i.tags]))).toEqual(
        new Map([
          [a.digest, ['1.0']],
          [b.digest, ['1.1', 'prod']],
        ]),
      );
    });

    it('moves a tag back to a build scanned earlier than the one it leaves (a rollback)', async () => {
      const { a, b } = await builds(['1.0'], ['1.1', 'prod']);
      expect(await resolve('prod')).toBe(b.digest);

      // The listing shows the rollback: prod on the older build again.
      expect(await setTags(a, ['1.0', 'prod'], observed(2))).toBe(true);
      expect(await setTags(b, ['1.1'], observed(2))).toBe(true);

      expect(await resolve('prod')).toBe(a.digest);
      expect(await resolve('1.1')).toBe(b.digest);
      expect(await scans().getScan(a.digest)).toEqual({ ...a, tags: ['1.0', 'prod'] });
      expect(await scans().getScan(b.digest)).toEqual({ ...b, tags: ['1.1'] });

      // And forward again, in the other order of the two images.
      expect(await setTags(b, ['1.1', 'prod'], observed(3))).toBe(true);
      expect(await resolve('prod')).toBe(b.digest);
      expect(await setTags(a, ['1.0'], observed(3))).toBe(true);
      expect(await resolve('prod')).toBe(b.digest);
      expect((await scans().getScan(a.digest))?.tags).toEqual(['1.0']);
    });

    it('removes a tag the listing no longer shows on its digest, and only from that digest', async () => {
      const { a, b } = await builds(['1.0', 'prod', 'shared'], ['shared']);
      // `shared` moved to b by b's newer scan; a's scan still lists it.
      expect(await resolve('shared')).toBe(b.digest);

      expect(await setTags(a, ['1.0'], observed(1))).toBe(true);
      expect(await resolve('prod')).toBeNull();
      expect(await resolve('1.0')).toBe(a.digest);
      expect(await resolve('shared')).toBe(b.digest);
      expect(await scans().getScan(a.digest)).toEqual({ ...a, tags: ['1.0'] });

      // Every tag gone: the image stays, untagged.
      expect(await setTags(a, [], observed(2))).toBe(true);
      expect(await resolve('1.0')).toBeNull();
      expect(await scans().getScan(a.digest)).toEqual({ ...a, tags: [] });
    });

    it('orders observations by their time: an older one never undoes a newer one', async () => {
      const { a, b } = await builds([], ['prod']);
      expect(await setTags(a, ['prod'], observed(5))).toBe(true);
      // A listing made earlier (another sync that was slower) arrives late.
      expect(await setTags(b, ['prod'], observed(4))).toBe(false);
      expect(await resolve('prod')).toBe(a.digest);

      // Removed by a newer listing; an older listing that still showed it does not bring it back.
      expect(await setTags(a, [], observed(7))).toBe(true);
      expect(await setTags(a, ['prod'], observed(6))).toBe(false);
      expect(await resolve('prod')).toBeNull();
      expect((await scans().getScan(a.digest))?.tags).toEqual([]);

      // A newer listing does.
      expect(await setTags(a, ['prod'], observed(8))).toBe(true);
      expect(await resolve('prod')).toBe(a.digest);
      expect((await scans().getScan(a.digest))?.tags).toEqual(['prod']);
    });

    it('lets the newest of racing observations win, whatever order they land in', async () => {
      const { a, b } = await builds([], []);
      const c = makeScan({ scannedAt: '2026-01-03T00:00:00.000Z' });
      await scans().upsertScans([c]);
      await Promise.all([
        setTags(a, ['prod', 'a'], observed(3)),
        setTags(c, ['prod'], observed(2)),
        setTags(b, ['prod'], observed(4)),
        setTags(a, ['a'], observed(1)),
      ]);
      expect(await resolve('prod')).toBe(b.digest);
      expect(await resolve('a')).toBe(a.digest);
      expect((await scans().getScan(a.digest))?.tags).toEqual(['prod', 'a']);
    });

    it('is idempotent: the same observation again changes nothing', async () => {
      const { a, b } = await builds(['1.0'], ['1.1', 'prod']);
      expect(await setTags(a, ['1.0', 'prod'], observed(1))).toBe(true);
      expect(await setTags(a, ['1.0', 'prod'], observed(1))).toBe(false);
      // A later listing that shows the same thing writes nothing either.
      expect(await setTags(a, ['1.0', 'prod'], observed(2))).toBe(false);
      expect(await setTags(a, ['1.0', 'prod', 'prod'], observed(2))).toBe(false);
      expect(await resolve('prod')).toBe(a.digest);
      expect(await scans().getScan(a.digest)).toEqual({ ...a, tags: ['1.0', 'prod'] });
      expect(await scans().getScan(b.digest)).toEqual(b);
    });

    it('points a tag at a digest that has no scan yet (the image is then unscanned)', async () => {
      const { a } = await builds(['prod'], []);
      const unscanned = makeScan();
      expect(await setTags(unscanned, ['prod'], observed(1))).toBe(true);
      expect(await resolve('prod')).toBe(unscanned.digest);
      expect(await scans().getScan(unscanned.digest)).toBeNull();
      expect((await scans().getScan(a.digest))?.tags).toEqual(['prod']);
    });

    it('moves many tags of one image at once', async () => {
      const { a, b } = await builds([], []);
      const many = Array.from({ length: 230 }, (_, i) => `t-${i}`);
      expect(await setTags(a, many, observed(1))).toBe(true);
      expect(await resolve('t-0')).toBe(a.digest);
      expect(await resolve('t-229')).toBe(a.digest);
      expect((await scans().getScan(a.digest))?.tags).toEqual(many);

      expect(await setTags(b, many.slice(100), observed(2))).toBe(true);
      expect(await setTags(a, many.slice(0, 100), observed(2))).toBe(true);
      expect(await resolve('t-99')).toBe(a.digest);
      expect(await resolve('t-100')).toBe(b.digest);
      expect(await resolve('t-229')).toBe(b.digest);

      expect(await setTags(a, [], observed(3))).toBe(true);
      expect(await setTags(b, [], observed(3))).toBe(true);
      for (const tag of ['t-0', 't-99', 't-100', 't-229']) expect(await resolve(tag)).toBeNull();
    });

    it('leaves upsertScans as it was: a newer scan moves an observed tag, an older one does not', async () => {
      const { a, b } = await builds(['1.0'], ['1.1', 'prod']);
      await setTags(a, ['1.0', 'prod'], observed(1));
      await setTags(b, ['1.1'], observed(1));
      expect(await resolve('prod')).toBe(a.digest);

      // A late import of a report older than the tag's scans does not move it.
      const stale = makeScan({ tags: ['prod'], scannedAt: '2025-12-01T00:00:00.000Z', source: 'trivy' });
      await scans().upsertScans([stale]);
      expect(await resolve('prod')).toBe(a.digest);

      // A newer build's scan carrying the tag moves it, as it always did.
      const c = makeScan({ tags: ['prod'], scannedAt: '2026-01-03T00:00:00.000Z' });
      await scans().upsertScans([c]);
      expect(await resolve('prod')).toBe(c.digest);
      expect(await scans().getScan(c.digest)).toEqual(c);

      // A tag a listing removed comes back with a newer scan carrying it.
      await setTags(a, [], observed(2));
      expect(await resolve('1.0')).toBeNull();
      const rescan = { ...a, tags: ['1.0'], scannedAt: '2026-01-04T00:00:00.000Z' };
      await scans().upsertScans([rescan]);
      expect(await resolve('1.0')).toBe(a.digest);
      expect(await scans().getScan(a.digest)).toEqual(rescan);
      // A scan whose tags a listing changed is stored as given when it is upserted again,
      // even with exactly the content it had before that listing.
      expect(await setTags(a, ['x'], observed(3))).toBe(true);
      expect(await resolve('1.0')).toBeNull();
      await scans().upsertScans([rescan]);
      expect(await scans().getScan(a.digest)).toEqual(rescan);
      expect(await resolve('1.0')).toBe(a.digest);
    });
  });
}
