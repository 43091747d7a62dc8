/**
 * Contract: concurrent writers. Many calls in flight at once must neither lose a write nor
 * let two compare-and-set updates at the same version both succeed.
 */
import { describe, expect, it } from 'vitest';
import type { Rule } from '../../core/domain.js';
import { VersionConflictError } from '../../core/errors.js';
import { walkEvents } from './contract-admissions.js';
import { baseTime, digestOf, makeEvent, makeRule, makeScan } from './factories.js';
import type { ContractContext } from './store-contract.js';

/** Concurrent record(), update(), setIfAbsent() and upsertScans() calls. */
export function concurrencyContract(ctx: ContractContext): void {
  describe('concurrent writers', () => {
    it('loses no event when many are recorded at once', async () => {
      const base = new Date(baseTime()).toISOString();
      // Half share one timestamp, so ordering falls to the id.
      const events = Array.from({ length: 200 }, (_, i) =>
        makeEvent({ time: i % 2 === 0 ? base : new Date(baseTime() + i * 1000).toISOString() }),
      );
      await Promise.all(events.map((event) => ctx.store.admissions.record(event)));
      const stored = await walkEvents(ctx.store, { limit: 64 });
      expect(stored).toHaveLength(200);
      expect(new Set(stored.map((e) => e.id))).toEqual(new Set(events.map((e) => e.id)));
    });

    it('lets exactly one of two racing updates at the same version win', async () => {
      const rule = makeRule({ version: 'v1' });
      await ctx.store.rules.create(rule);
      const results = await Promise.allSettled([
        ctx.store.rules.update({ ...rule, description: 'by A', version: 'v2-a' }, 'v1'),
        ctx.store.rules.update({ ...rule, description: 'by B', version: 'v2-b' }, 'v1'),
      ]);
      const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      expect(won).toHaveLength(1);
      const lost = results.find((r) => r.status === 'rejected');
      expect(lost?.status === 'rejected' && lost.reason).toBeInstanceOf(VersionConflictError);
      const stored = await ctx.store.rules.get(rule.id);
      expect(stored?.version).toBe(won[0] === 0 ? 'v2-a' : 'v2-b');
      expect(stored?.description).toBe(won[0] === 0 ? 'by A' : 'by B');
    });

    it('lets exactly one of many racing updates win', async () => {
      const rule = makeRule({ version: 'v1' });
      await ctx.store.rules.create(rule);
      const results = await Promise.allSettled(
        Array.from({ length: 16 }, (_, i) =>
          ctx.store.rules.update({ ...rule, description: `writer ${i}`, version: `v2-${i}` }, 'v1'),
        ),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results) {
        if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(VersionConflictError);
      }
    });

    it('loses no update when racing writers retry read-modify-write on conflict', async () => {
      const rule = makeRule({ version: '0', description: '0' });
      await ctx.store.rules.create(rule);
      const increment = async (writer: number): Promise<void> => {
        for (let attempt = 0; attempt < 200; attempt++) {
          const current = (await ctx.store.rules.get(rule.id)) as Rule;
          const next = String(Number(current.description) + 1);
          try {
            await ctx.store.rules.update(
              { ...current, description: next, version: `${next}-${writer}` },
              current.version,
            );
            return;
          } catch (e) {
            if (!(e instanceof VersionConflictError)) throw e;
          }
        }
        throw new Error(`writer ${writer} never got through`);
      };
      await Promise.all(Array.from({ length: 10 }, (_, i) => increment(i)));
      expect((await ctx.store.rules.get(rule.id))?.description).toBe('10');
    });

    it('lets exactly one racing setIfAbsent set the key', async () => {
      const results = await Promise.all(
        Array.from({ length: 12 }, (_, i) => ctx.store.meta.setIfAbsent('seed:default-rule', `writer-${i}`)),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await ctx.store.meta.get('seed:default-rule')).toBe(`writer-${results.indexOf(true)}`);
    });

    it('keeps every scan of concurrent bulk upserts', async () => {
      const batches = Array.from({ length: 5 }, (_, b) =>
        Array.from({ length: 100 }, (_, i) =>
          makeScan({ digest: digestOf(`batch-${b}-${i}`), vulnCount: 5 }),
        ),
      );
      await Promise.all(batches.map((batch) => ctx.store.scans.upsertScans(batch)));
      for (const batch of batches) {
        for (const scan of [batch[0]!, batch[99]!]) {
          expect(await ctx.store.scans.getScan(scan.digest)).toEqual(scan);
        }
      }
      let count = 0;
      let cursor: string | undefined;
      do {
        const page = await ctx.store.scans.listImages({ limit: 200, cursor });
        count += page.items.length;
        cursor = page.nextCursor ?? undefined;
      } while (cursor !== undefined);
      expect(count).toBe(500);
    });
  });
}
