/**
 * ExemptionService and MonitoringService.topDenied over the real SQLite store: exemptions
 * across rules with their expiry, and the denials tallied for the dashboard.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../adapters/store/sqlite/index.js';
import type { AdmissionEvent } from '../../core/domain.js';
import { ValidationError } from '../../core/errors.js';
import type { Clock, Store } from '../../core/ports.js';
import { createServices } from '../../core/services/index.js';

const stores: Store[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});

function clockAt(iso: string): Clock & { set(iso: string): void } {
  let now = Date.parse(iso);
  return {
    now: () => new Date(now),
    set: (t) => {
      now = Date.parse(t);
    },
  };
}

function setup(now = '2026-11-20T23:30:00Z') {
  const store = openSqliteStore({ path: ':memory:' });
  stores.push(store);
  const clock = clockAt(now);
  return { store, clock, services: createServices(store, { clock }) };
}

const ex = (value: string, expiresOn?: string) => ({
  type: 'Namespace',
  value,
  reason: `because ${value}`,
  ...(expiresOn !== undefined ? { expiresOn } : {}),
});

describe('exemptions across rules', () => {
  async function seeded() {
    const s = setup();
    await s.services.rules.create(
      {
        name: 'deny-critical',
        action: 'Deny',
        conditions: { severities: ['Critical'] },
        exemptions: [ex('today', '2026-11-20'), ex('forever'), ex('in-7', '2026-11-27')],
      },
      'alice',
    );
    await s.services.rules.create(
      {
        name: 'audit-high',
        action: 'Audit',
        enabled: false,
        conditions: { severities: ['High'] },
        exemptions: [ex('in-8', '2026-11-28'), ex('in-1', '2026-11-21')],
      },
      'bob',
    );
    // Written while still in force; the day passes afterwards.
    s.clock.set('2026-11-01T00:00:00Z');
    const rule = await s.services.rules.getByName('deny-critical');
    await s.services.rules.addExemption(rule!.id, ex('past', '2026-11-19'), undefined, 'alice');
    s.clock.set('2026-11-20T23:30:00Z');
    return s;
  }

  it('lists every exemption with its rule, soonest expiry first, expired ones flagged', async () => {
    const { services } = await seeded();
    const list = await services.exemptions.list({});
    expect(list.asOf).toBe('2026-11-20');
    expect(list.items.map((e) => [e.value, e.ruleName, e.expired, e.expiresInDays])).toEqual([
      ['past', 'deny-critical', true, -1],
      ['today', 'deny-critical', false, 0],
      ['in-1', 'audit-high', false, 1],
      ['in-7', 'deny-critical', false, 7],
      ['in-8', 'audit-high', false, 8],
      ['forever', 'deny-critical', false, undefined],
    ]);
    expect(list.items[2]).toMatchObject({
      ruleAction: 'Audit',
      ruleEnabled: false,
      reason: 'because in-1',
      createdBy: 'bob',
    });
  });

  it('expiringWithinDays keeps those still in force that end within N days', async () => {
    const { services } = await seeded();
    const within = async (n: string) =>
      (await services.exemptions.list({ expiringWithinDays: n })).items.map((e) => e.value);
    expect(await within('7')).toEqual(['today', 'in-1', 'in-7']);
    expect(await within('0')).toEqual(['today']);
    expect((await services.exemptions.list({ expiringWithinDays: '7' })).expiringWithinDays).toBe(7);
  });

  it('an exemption holds through the end of its day, UTC', async () => {
    const { services, clock } = await seeded();
    clock.set('2026-11-21T00:00:00Z');
    const today = (await services.exemptions.list({})).items.find((e) => e.value === 'today');
    expect(today).toMatchObject({ expired: true, expiresInDays: -1 });
  });

  it('filters by rule name and rejects bad input', async () => {
    const { services } = await seeded();
    expect((await services.exemptions.list({ rule: 'AUDIT-HIGH' })).items.map((e) => e.value)).toEqual([
      'in-1',
      'in-8',
    ]);
    await expect(services.exemptions.list({ expiringWithinDays: '-1' })).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(services.exemptions.list({ expiringWithinDays: 'soon' })).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(services.exemptions.list({ other: '1' })).rejects.toBeInstanceOf(ValidationError);
  });
});

function deniedEvent(id: string, time: string, images: [string, string, string[]][]): AdmissionEvent {
  return {
    id,
    uid: id,
    time,
    clusterId: 'c',
    cluster: 'prod',
    namespace: 'ns',
    kind: 'Deployment',
    name: id,
    operation: 'CREATE',
    user: 'u',
    dryRun: false,
    decision: 'Denied',
    message: 'denied',
    warnings: [],
    rulesetVersion: 'v',
    latencyMs: 1,
    images: images.map(([reference, rule, cves], i) => ({
      container: `c${i}`,
      containerType: 'container',
      image: reference,
      reference,
      scanState: 'Scanned',
      gated: true,
      action: 'Deny',
      triggeredRules: [
        {
          ruleId: rule,
          ruleName: rule,
          action: 'Deny',
          configuredAction: 'Deny',
          reason: 'Vulnerabilities',
          vulnerabilities: cves.map((id) => ({ id, severity: 'Critical' })),
          vulnerabilityCount: cves.length,
        },
        {
          ruleId: 'audit',
          ruleName: 'audit',
          action: 'Audit',
          configuredAction: 'Audit',
          reason: 'Vulnerabilities',
          vulnerabilities: [{ id: 'CVE-AUDIT-ONLY', severity: 'Low' }],
          vulnerabilityCount: 1,
        },
      ],
      exemptions: [],
      notes: [],
    })),
  };
}

describe('top denied', () => {
  it('counts the denied events each image, Deny rule and CVE took part in', async () => {
    const { services, store } = setup('2026-11-20T12:00:00Z');
    await store.admissions.record(
      deniedEvent('e1', '2026-11-20T10:00:00Z', [
        ['docker.io/library/nginx:1.25', 'deny-critical', ['CVE-1', 'CVE-2']],
        ['docker.io/library/redis:7', 'deny-critical', ['CVE-1']],
      ]),
    );
    await store.admissions.record(
      deniedEvent('e2', '2026-11-20T11:00:00Z', [['docker.io/library/nginx:1.25', 'deny-high', ['CVE-2']]]),
    );
    await store.admissions.record(
      deniedEvent('old', '2026-11-18T11:00:00Z', [['docker.io/library/old:1', 'deny-old', ['CVE-9']]]),
    );
    const top = await services.monitoring.topDenied({});
    expect(top).toMatchObject({ scannedEvents: 2, truncated: false });
    expect(top.images).toEqual([
      { name: 'docker.io/library/nginx:1.25', count: 2 },
      { name: 'docker.io/library/redis:7', count: 1 },
    ]);
    expect(top.rules).toEqual([
      { name: 'deny-critical', count: 1 },
      { name: 'deny-high', count: 1 },
    ]);
    expect(top.cves).toEqual([
      { name: 'CVE-2', count: 2 },
      { name: 'CVE-1', count: 1 },
    ]);
    const week = await services.monitoring.topDenied({ from: '2026-11-13T12:00:00Z', limit: '1' });
    expect(week.images).toEqual([{ name: 'docker.io/library/nginx:1.25', count: 2 }]);
    expect(week.scannedEvents).toBe(3);
  });
});
