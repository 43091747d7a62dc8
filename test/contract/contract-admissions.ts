/**
 * Contract: the admission log — filters, newest-first cursor pages in a stable order,
 * summary buckets and retention purges.
 */
import { describe, expect, it } from 'vitest';
import type { AdmissionEvent } from '../../core/domain.js';
import { ValidationError } from '../../core/errors.js';
import type { AdmissionQuery, Store } from '../../core/ports.js';
import { at, baseTime, digestOf, makeEvent, makeImageResult, makeRule, triggered } from './factories.js';
import type { ContractContext } from './store-contract.js';

/** Walks every page of a query; no page but the only one may be empty. */
export async function walkEvents(
  store: Store,
  query: Omit<AdmissionQuery, 'cursor'>,
): Promise<AdmissionEvent[]> {
  const items: AdmissionEvent[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 10_000; pages++) {
    const page = await store.admissions.query(cursor === undefined ? query : { ...query, cursor });
    if (pages > 0) expect(page.items.length).toBeGreaterThan(0);
    expect(page.items.length).toBeLessThanOrEqual(query.limit);
    items.push(...page.items);
    if (page.nextCursor === null) return items;
    cursor = page.nextCursor;
  }
  throw new Error('the query never ended');
}

/** Newest first, then by id descending: the order every store must page in. */
function newestFirst(a: AdmissionEvent, b: AdmissionEvent): number {
  const dt = Date.parse(b.time) - Date.parse(a.time);
  if (dt !== 0) return dt;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

const ids = (events: readonly AdmissionEvent[]) => events.map((e) => e.id);

/** A small log covering every filter; see the comments for which event is which. */
function scenario() {
  const base = baseTime();
  const denyRule = makeRule({ name: 'Deny-Critical', action: 'Deny' });
  const auditRule = makeRule({ name: 'audit-high' });
  const [dA, dB, dC] = [digestOf('img-a'), digestOf('img-b'), digestOf('img-c')];
  const nginx = makeImageResult({ reference: 'docker.io/library/nginx:1.25', digest: dA });
  const redis = makeImageResult({ image: 'redis:7', reference: 'docker.io/library/redis:7', digest: dB });
  const e = {
    e1: makeEvent({
      id: 'evt-01',
      time: at(base, 1),
      cluster: 'prod',
      namespace: 'payments',
      decision: 'Denied',
      images: [{ ...nginx, action: 'Deny', triggeredRules: [triggered(denyRule, 'Deny')] }],
    }),
    e1b: makeEvent({
      id: 'evt-01b',
      time: at(base, 1.5),
      cluster: 'prod',
      namespace: 'default',
      images: [makeImageResult({ image: 'busybox', reference: 'docker.io/library/busybox:latest' })],
    }),
    e2: makeEvent({
      id: 'evt-02',
      time: at(base, 2),
      cluster: 'prod',
      namespace: 'default',
      decision: 'Audited',
      images: [{ ...redis, action: 'Audit', triggeredRules: [triggered(auditRule)] }],
    }),
    e3: makeEvent({
      id: 'evt-03',
      time: at(base, 3),
      cluster: 'staging',
      namespace: 'payments',
      images: [makeImageResult({ image: 'ghcr.io/acme/api:v1', reference: 'ghcr.io/acme/api:v1' })],
    }),
    e4: makeEvent({
      id: 'evt-04',
      time: at(base, 4),
      cluster: 'staging',
      namespace: 'default',
      decision: 'Audited',
      images: [nginx, { ...redis, action: 'Audit', triggeredRules: [triggered(auditRule)] }],
    }),
    e5: makeEvent({
      id: 'evt-05',
      time: at(base, 26),
      cluster: 'prod',
      namespace: 'payments',
      decision: 'Denied',
      images: [
        makeImageResult({
          image: 'ghcr.io/acme/API:v2',
          reference: 'ghcr.io/acme/API:v2',
          digest: dC,
          action: 'Deny',
          triggeredRules: [triggered(denyRule, 'Deny'), triggered(auditRule)],
        }),
      ],
    }),
    e6: makeEvent({
      id: 'evt-06',
      time: at(base, 27),
      cluster: 'prod',
      namespace: 'default',
      images: [nginx],
    }),
  };
  return { base, e, denyRule, auditRule, dA, dB, dC };
}

async function recordAll(store: Store, events: readonly AdmissionEvent[]): Promise<void> {
  for (const event of events) await store.admissions.record(event);
}

/** Admission events: filters, paging, summaries, purges. */
export function admissionContract(ctx: ContractContext): void {
  describe('admission events', () => {
    it('returns what was recorded, newest first, under every filter', async () => {
      const { base, e, denyRule, auditRule, dB, dC } = scenario();
      await recordAll(ctx.store, Object.values(e));
      const q = (query: Omit<AdmissionQuery, 'cursor' | 'limit'>) =>
        walkEvents(ctx.store, { limit: 2, ...query }).then(ids);

      const all = await walkEvents(ctx.store, { limit: 100 });
      expect(all).toEqual(Object.values(e).sort(newestFirst));
      expect(await q({})).toEqual(['evt-06', 'evt-05', 'evt-04', 'evt-03', 'evt-02', 'evt-01b', 'evt-01']);
      expect(await q({ uid: e.e3.uid })).toEqual(['evt-03']);
      expect(await q({ cluster: 'prod' })).toEqual(['evt-06', 'evt-05', 'evt-02', 'evt-01b', 'evt-01']);
      expect(await q({ namespace: 'payments' })).toEqual(['evt-05', 'evt-03', 'evt-01']);
      expect(await q({ cluster: 'staging', namespace: 'default' })).toEqual(['evt-04']);
      expect(await q({ decision: 'Audited' })).toEqual(['evt-04', 'evt-02']);
      expect(await q({ decision: 'Denied', cluster: 'staging' })).toEqual([]);
      // image: a case-insensitive substring of the normalized reference, or a digest.
      expect(await q({ image: 'nginx' })).toEqual(['evt-06', 'evt-04', 'evt-01']);
      expect(await q({ image: 'ACME/api' })).toEqual(['evt-05', 'evt-03']);
      expect(await q({ image: dC })).toEqual(['evt-05']);
      expect(await q({ image: dB.toUpperCase() })).toEqual(['evt-04', 'evt-02']);
      expect(await q({ image: 'quay.io' })).toEqual([]);
      // rule: name (case-insensitive) or id of a rule that triggered on any image.
      expect(await q({ rule: 'deny-critical' })).toEqual(['evt-05', 'evt-01']);
      expect(await q({ rule: auditRule.id })).toEqual(['evt-05', 'evt-04', 'evt-02']);
      expect(await q({ rule: denyRule.id, cluster: 'prod', decision: 'Denied' })).toEqual([
        'evt-05',
        'evt-01',
      ]);
      expect(await q({ rule: 'no-such-rule' })).toEqual([]);
      // [from, to): from inclusive, to exclusive.
      expect(await q({ from: at(base, 2), to: at(base, 26) })).toEqual(['evt-04', 'evt-03', 'evt-02']);
      expect(await q({ from: at(base, 26) })).toEqual(['evt-06', 'evt-05']);
      expect(await q({ to: at(base, 1.5) })).toEqual(['evt-01']);
      expect(await q({ from: at(base, 1), to: at(base, 5), namespace: 'default', image: 'redis' })).toEqual([
        'evt-04',
        'evt-02',
      ]);
    });

    it('pages through events sharing timestamps without duplicates or gaps', async () => {
      const base = baseTime();
      const events = Array.from({ length: 37 }, (_, i) =>
        makeEvent({
          id: `evt-same-${String((i * 7919) % 1000).padStart(3, '0')}`,
          time: at(base, 5 + (i % 4)),
          decision: i % 3 === 0 ? 'Denied' : 'Allowed',
        }),
      );
      await Promise.all(events.map((event) => ctx.store.admissions.record(event)));
      const expected = [...events].sort(newestFirst);
      for (const limit of [1, 3, 10, 37, 100]) {
        expect(ids(await walkEvents(ctx.store, { limit }))).toEqual(ids(expected));
      }
      const denied = expected.filter((ev) => ev.decision === 'Denied');
      expect(ids(await walkEvents(ctx.store, { decision: 'Denied', limit: 4 }))).toEqual(ids(denied));
    });

    it('keeps a page position stable while newer events arrive', async () => {
      const base = baseTime();
      const older = Array.from({ length: 6 }, (_, i) => makeEvent({ id: `evt-old-${i}`, time: at(base, i) }));
      await recordAll(ctx.store, older);
      const first = await ctx.store.admissions.query({ limit: 3 });
      await ctx.store.admissions.record(makeEvent({ id: 'evt-new', time: at(base, 10) }));
      const second = await ctx.store.admissions.query({ limit: 3, cursor: first.nextCursor ?? undefined });
      expect([...ids(first.items), ...ids(second.items)]).toEqual(ids([...older].reverse()));
      expect(second.nextCursor).toBeNull();
    });

    it('rejects a cursor it did not issue with ValidationError', async () => {
      await ctx.store.admissions.record(makeEvent());
      await expect(ctx.store.admissions.query({ limit: 5, cursor: '%%%' })).rejects.toBeInstanceOf(
        ValidationError,
      );
    });

    it('counts decisions in UTC hour and day buckets over [from, to), ascending, skipping empty ones', async () => {
      const { base, e } = scenario();
      await recordAll(ctx.store, Object.values(e));
      const day = 24;
      const hourly = await ctx.store.admissions.summary({
        from: at(base, 0),
        to: at(base, 2 * day),
        bucket: 'hour',
      });
      expect(hourly).toEqual([
        { start: at(base, 1), Allowed: 1, Audited: 0, Denied: 1 },
        { start: at(base, 2), Allowed: 0, Audited: 1, Denied: 0 },
        { start: at(base, 3), Allowed: 1, Audited: 0, Denied: 0 },
        { start: at(base, 4), Allowed: 0, Audited: 1, Denied: 0 },
        { start: at(base, 26), Allowed: 0, Audited: 0, Denied: 1 },
        { start: at(base, 27), Allowed: 1, Audited: 0, Denied: 0 },
      ]);
      const daily = await ctx.store.admissions.summary({
        from: at(base, 0),
        to: at(base, 2 * day),
        bucket: 'day',
      });
      expect(daily).toEqual([
        { start: at(base, 0), Allowed: 2, Audited: 2, Denied: 1 },
        { start: at(base, day), Allowed: 1, Audited: 0, Denied: 1 },
      ]);
      const window = await ctx.store.admissions.summary({
        from: at(base, 2),
        to: at(base, 4),
        bucket: 'hour',
      });
      expect(window.map((b) => b.start)).toEqual([at(base, 2), at(base, 3)]);
      const prodPayments = await ctx.store.admissions.summary({
        from: at(base, 0),
        to: at(base, 2 * day),
        bucket: 'day',
        cluster: 'prod',
        namespace: 'payments',
      });
      expect(prodPayments).toEqual([
        { start: at(base, 0), Allowed: 0, Audited: 0, Denied: 1 },
        { start: at(base, day), Allowed: 0, Audited: 0, Denied: 1 },
      ]);
      expect(
        await ctx.store.admissions.summary({
          from: at(base, 0),
          to: at(base, 48),
          bucket: 'hour',
          cluster: 'dev',
        }),
      ).toEqual([]);
    });

    it('purges events older than a time, with everything that finds them', async () => {
      const { base, e, denyRule, dB } = scenario();
      await recordAll(ctx.store, Object.values(e));
      expect(await ctx.store.admissions.purgeBefore(at(base, 3))).toBe(3);
      expect(ids(await walkEvents(ctx.store, { limit: 3 }))).toEqual([
        'evt-06',
        'evt-05',
        'evt-04',
        'evt-03',
      ]);
      expect(ids(await walkEvents(ctx.store, { image: dB, limit: 10 }))).toEqual(['evt-04']);
      expect(ids(await walkEvents(ctx.store, { rule: denyRule.name, limit: 10 }))).toEqual(['evt-05']);
      const summary = await ctx.store.admissions.summary({
        from: at(base, 0),
        to: at(base, 48),
        bucket: 'day',
      });
      expect(summary).toEqual([
        { start: at(base, 0), Allowed: 1, Audited: 1, Denied: 0 },
        { start: at(base, 24), Allowed: 1, Audited: 0, Denied: 1 },
      ]);
      expect(await ctx.store.admissions.purgeBefore(at(base, 3))).toBe(0);
    });

    it('keeps dry-run events it is given, with every field', async () => {
      const event = makeEvent({ dryRun: true, warnings: ['image nginx: 2 Critical'], latencyMs: 0.42 });
      await ctx.store.admissions.record(event);
      expect((await ctx.store.admissions.query({ limit: 10 })).items).toEqual([event]);
    });
  });
}
