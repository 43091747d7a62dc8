/**
 * Core services over the real SQLite store: versions, rules-as-code no-ops, seeding, jobs,
 * caches (read-your-writes, bounded lag) and the webhook's deadline with each fail mode.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../adapters/store/sqlite/index.js';
import type { Cluster } from '../../core/domain.js';
import { UnavailableError, VersionConflictError } from '../../core/errors.js';
import type { Clock, Store } from '../../core/ports.js';
import { createServices, type ServiceOptions } from '../../core/services/index.js';
import { CLUSTER, D1, deployment, scan, vuln } from './evaluate-helpers.js';

const stores: Store[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});

function clockAt(iso: string): Clock & { set(iso: string): void; advance(ms: number): void } {
  let now = Date.parse(iso);
  return {
    now: () => new Date(now),
    set: (t) => {
      now = Date.parse(t);
    },
    advance: (ms) => {
      now += ms;
    },
  };
}

function setup(options: ServiceOptions = {}, store?: Store) {
  const s = store ?? openSqliteStore({ path: ':memory:' });
  if (store === undefined) stores.push(s);
  return createServices(s, options);
}

function review(uid: string, namespace = 'payments') {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
      operation: 'CREATE',
      namespace,
      name: 'web',
      object: deployment('web', namespace, ['nginx:1.25']),
    },
  };
}

const denyCritical = { name: 'deny-critical', action: 'Deny', conditions: { severities: ['Critical'] } };
const nginx = scan('nginx:1.25', D1, [vuln('CVE-2023-38545', 'Critical')]);
const cluster: Cluster = CLUSTER;

describe('rules', () => {
  it('seeds the default rule once, even after it is deleted', async () => {
    const s = setup();
    expect(await s.rules.seedDefaultRule()).toBe(true);
    const [rule] = await s.rules.list();
    expect(rule).toMatchObject({
      name: 'default-audit-high-critical',
      action: 'Audit',
      conditions: { severities: ['Critical', 'High'] },
    });
    await s.rules.delete(rule!.id, undefined, 'admin');
    expect(await s.rules.seedDefaultRule()).toBe(false);
    expect(await s.rules.list()).toEqual([]);
  });

  it('a PUT that changes nothing keeps the version; a real change bumps it', async () => {
    const s = setup();
    const created = await s.rules.create(
      { ...denyCritical, exemptions: [{ type: 'CVE', value: 'CVE-1', reason: 'r' }] },
      'a',
    );
    const same = await s.rules.replace(created.id, created, created.version, 'b');
    expect(same).toEqual(created);
    const changed = await s.rules.replace(
      created.id,
      { ...created, description: 'new' },
      created.version,
      'b',
    );
    expect(changed.version).toBe('2');
    expect(changed.exemptions[0]!.id).toBe(created.exemptions[0]!.id);
    expect(changed.updatedBy).toBe('b');
  });

  it('a stale version is a VersionConflictError and the rule is unchanged', async () => {
    const s = setup();
    const created = await s.rules.create(denyCritical, 'a');
    await s.rules.patch(created.id, { description: 'one' }, '1', 'a');
    await expect(s.rules.patch(created.id, { description: 'two' }, '1', 'a')).rejects.toBeInstanceOf(
      VersionConflictError,
    );
    expect((await s.rules.get(created.id)).description).toBe('one');
  });

  it('PATCH with null clears an optional field', async () => {
    const s = setup();
    const created = await s.rules.create({ ...denyCritical, enforceFrom: '2030-01-01' }, 'a');
    const patched = await s.rules.patch(created.id, { enforceFrom: null }, undefined, 'a');
    expect(patched.enforceFrom).toBeUndefined();
  });

  it('refuses an exemption whose day has passed', async () => {
    const clock = clockAt('2026-11-26T10:00:00Z');
    const s = setup({ clock });
    const rule = await s.rules.create(denyCritical, 'a');
    await expect(
      s.rules.addExemption(
        rule.id,
        { type: 'CVE', value: 'CVE-1', reason: 'r', expiresOn: '2026-11-25' },
        undefined,
        'a',
      ),
    ).rejects.toThrow(/has passed/);
  });

  it('the expiry job marks exemptions after their day and keeps them', async () => {
    const clock = clockAt('2026-11-26T10:00:00Z');
    const s = setup({ clock });
    const rule = await s.rules.create(denyCritical, 'a');
    await s.rules.addExemption(
      rule.id,
      { type: 'CVE', value: 'CVE-1', reason: 'r', expiresOn: '2026-11-26' },
      undefined,
      'a',
    );
    expect(await s.rules.expireExemptions()).toBe(0);
    clock.set('2026-11-27T00:00:01Z');
    expect(await s.rules.expireExemptions()).toBe(1);
    const after = await s.rules.get(rule.id);
    expect(after.exemptions).toMatchObject([{ value: 'CVE-1', expired: true }]);
    expect(await s.rules.expireExemptions()).toBe(0);
  });
});

describe('caches', () => {
  it('an instance reads its own writes at once', async () => {
    const s = setup();
    await s.scans.ingest([nginx]);
    expect((await s.admission.review(cluster, review('u1'))).review.response.allowed).toBe(true);
    await s.rules.create(denyCritical, 'a');
    expect((await s.admission.review(cluster, review('u2'))).review.response.allowed).toBe(false);
  });

  it('another instance sees a write within the cache bound', async () => {
    const clock = clockAt('2026-11-26T10:00:00Z');
    const store = openSqliteStore({ path: ':memory:' });
    stores.push(store);
    const a = setup({ clock, cacheTtlMs: 10_000 }, store);
    const b = setup({ clock, cacheTtlMs: 10_000 }, store);
    await a.scans.ingest([nginx]);
    expect((await b.admission.review(cluster, review('u1'))).review.response.allowed).toBe(true);
    await a.rules.create(denyCritical, 'a');
    clock.advance(10_001);
    expect((await b.admission.review(cluster, review('u2'))).review.response.allowed).toBe(false);
  });
});

describe('deadline and fail modes', () => {
  /** The real store, with scan reads that never answer. */
  function hangingStore(): Store {
    const store = openSqliteStore({ path: ':memory:' });
    stores.push(store);
    const never = () => new Promise<never>(() => {});
    return { ...store, scans: { ...store.scans, getScan: never, resolveTag: never } };
  }

  it('answers with the decision when recording the event outlasts the deadline, and logs it', async () => {
    const store = openSqliteStore({ path: ':memory:' });
    stores.push(store);
    const errors: Record<string, unknown>[] = [];
    const logger = {
      info: () => {},
      warn: () => {},
      error: (_: string, f?: Record<string, unknown>) => errors.push(f ?? {}),
    };
    const s = setup(
      { deadlineMs: 50, failMode: 'error', logger },
      { ...store, admissions: { ...store.admissions, record: () => new Promise<never>(() => {}) } },
    );
    await s.scans.ingest([nginx]);
    await s.rules.create(denyCritical, 'a');
    const { review: r, event } = await s.admission.review(cluster, review('u1'));
    expect(r.response).toMatchObject({ uid: 'u1', allowed: false, status: { code: 403 } });
    expect(errors).toEqual([
      expect.objectContaining({
        uid: 'u1',
        eventId: event?.id,
        stillWriting: true,
        error: expect.stringMatching(/recording the admission event took longer than/),
      }),
    ]);
  });

  it('error: throws UnavailableError so the HTTP layer answers 503 and the failurePolicy applies', async () => {
    const s = setup({ deadlineMs: 50, failMode: 'error' }, hangingStore());
    await expect(s.admission.review(cluster, review('u1'))).rejects.toBeInstanceOf(UnavailableError);
  });

  it('open: allows with a warning that says why', async () => {
    const s = setup({ deadlineMs: 50, failMode: 'open' }, hangingStore());
    const { review: r } = await s.admission.review(cluster, review('u1'));
    expect(r.response).toMatchObject({ uid: 'u1', allowed: true });
    expect(r.response.warnings?.[0]).toContain('fail-open');
  });

  it('closed: denies with a clear message', async () => {
    const s = setup({ deadlineMs: 50, failMode: 'closed' }, hangingStore());
    const { review: r } = await s.admission.review(cluster, review('u1'));
    expect(r.response).toMatchObject({ uid: 'u1', allowed: false, status: { code: 503 } });
    expect(r.response.status?.message).toMatch(/took longer than 50 ms.*fail-closed/);
  });
});

describe('monitoring', () => {
  it('records each decision with its rule-set version and purges past retention', async () => {
    const clock = clockAt('2026-11-26T10:00:00Z');
    const s = setup({ clock, retentionDays: 30 });
    await s.scans.ingest([nginx]);
    await s.rules.create(denyCritical, 'a');
    const { event } = await s.admission.review(cluster, review('u1'));
    const page = await s.monitoring.query({ uid: 'u1' });
    expect(page.items).toHaveLength(1);
    expect(page.items[0]).toMatchObject({ decision: 'Denied', rulesetVersion: event!.rulesetVersion });
    clock.advance(31 * 86_400_000);
    expect(await s.monitoring.purgeExpired()).toBe(1);
    expect((await s.monitoring.query({})).items).toEqual([]);
  });

  it('rejects a bad filter with a clear error', async () => {
    const s = setup();
    await expect(s.monitoring.query({ decision: 'Maybe' })).rejects.toThrow(/decision/);
    await expect(
      s.monitoring.query({ from: '2026-11-27T00:00:00Z', to: '2026-11-26T00:00:00Z' }),
    ).rejects.toThrow(/from must be before to/);
  });
});
