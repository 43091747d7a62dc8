/**
 * ExposureService over the real SQLite store: workloads admitted through the webhook path,
 * then new findings or rules, and what the report says would be denied or audited now.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../adapters/store/sqlite/index.js';
import type { AdmissionEvent, Cluster } from '../../core/domain.js';
import { ValidationError } from '../../core/errors.js';
import type { Clock, Store } from '../../core/ports.js';
import { ExposureService } from '../../core/services/exposure.js';
import { createServices, type Services } from '../../core/services/index.js';
import { D1, D2, deployment, scan, vuln } from './evaluate-helpers.js';

const stores: Store[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});

function clockAt(iso: string): Clock & { advance(ms: number): void } {
  let now = Date.parse(iso);
  return {
    now: () => new Date(now),
    advance: (ms) => {
      now += ms;
    },
  };
}

const DAY = 86_400_000;
const ENDPOINT = { baseUrl: 'https://portcullis.test' };

async function setup() {
  const store = openSqliteStore({ path: ':memory:' });
  stores.push(store);
  const clock = clockAt('2026-11-20T10:00:00Z');
  const services = createServices(store, { clock, retentionDays: 30, cacheTtlMs: 0 });
  const prod = await services.clusters.register(
    { name: 'prod', provider: 'aws', account: '1' },
    'a',
    ENDPOINT,
  );
  const dev = await services.clusters.register({ name: 'dev' }, 'a', ENDPOINT);
  return { store, clock, services, prod: prod as Cluster, dev: dev as Cluster };
}

let uid = 0;
function reviewOf(object: { kind: string; metadata: { name: string } }, namespace: string, dryRun = false) {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `u-${++uid}`,
      kind: { group: 'apps', version: 'v1', kind: object.kind },
      operation: 'CREATE',
      namespace,
      name: object.metadata.name,
      object,
      dryRun,
    },
  };
}

async function admit(
  s: Services,
  cluster: Cluster,
  object: { kind: string; metadata: { name: string } },
  namespace: string,
  dryRun = false,
) {
  const outcome = await s.admission.review(cluster, reviewOf(object, namespace, dryRun));
  await new Promise((r) => setImmediate(r)); // the SQLite log commits on the next tick
  return outcome.event!;
}

const debianClean = scan(`debian:12@${D1}`, D1, [vuln('CVE-2024-0001', 'Low')]);
const denyCritical = { name: 'deny-critical', action: 'Deny', conditions: { severities: ['Critical'] } };

describe('exposure', () => {
  it('lists a workload admitted clean that a new Critical finding would now deny, with its rules and CVEs', async () => {
    const { services, prod, clock } = await setup();
    await services.rules.create(denyCritical, 'a');
    await services.scans.ingest([debianClean]);
    const admitted = await admit(services, prod, deployment('api', 'payments', ['debian:12']), 'payments');
    expect(admitted.decision).toBe('Allowed');
    expect((await services.exposure.report({})).items).toEqual([]);

    clock.advance(DAY);
    await services.scans.ingest([
      scan('debian:12', D1, [vuln('CVE-2024-0001', 'Low'), vuln('CVE-2024-9999', 'Critical')], {
        scannedAt: '2026-11-21T09:00:00Z',
      }),
    ]);
    const report = await services.exposure.report({});
    expect(report).toMatchObject({ scannedEvents: 1, workloads: 1, truncated: false });
    expect(report.window.from).toBe('2026-10-22T10:00:00.000Z');
    expect(report.items).toHaveLength(1);
    expect(report.items[0]).toMatchObject({
      cluster: 'prod',
      namespace: 'payments',
      kind: 'Deployment',
      name: 'api',
      uid: admitted.uid,
      admittedDecision: 'Allowed',
      decision: 'Denied',
      stricterThanAdmitted: true,
      rules: ['deny-critical'],
      cves: ['CVE-2024-9999'],
      workloadFacts: 'recorded',
    });
    expect(report.items[0]!.images[0]).toMatchObject({
      digest: D1,
      digestSource: 'recorded',
      action: 'Deny',
    });
    expect(report.items[0]!.message).toContain('deny-critical');
  });

  it('evaluates the digest that was admitted, not the one the tag points to now', async () => {
    const { services, prod } = await setup();
    await services.rules.create(denyCritical, 'a');
    await services.scans.ingest([debianClean]);
    await admit(services, prod, deployment('api', 'payments', ['debian:12']), 'payments');
    // The tag moves to a vulnerable digest: what runs is still D1.
    await services.scans.ingest([
      scan('debian:12', D2, [vuln('CVE-2024-9999', 'Critical')], { scannedAt: '2026-11-20T11:00:00Z' }),
    ]);
    expect((await services.exposure.report({})).items).toEqual([]);
  });

  it('matches label scopes on the labels recorded at admission', async () => {
    const { services, prod } = await setup();
    await services.scans.ingest([debianClean]);
    await admit(services, prod, deployment('web', 'shop', ['debian:12'], { tier: 'frontend' }), 'shop');
    await admit(services, prod, deployment('worker', 'shop', ['debian:12'], { tier: 'batch' }), 'shop');
    await services.rules.create(
      {
        name: 'audit-frontend-low',
        action: 'Audit',
        scope: { resources: [{ type: 'LabelSelector', value: 'tier=frontend' }] },
        conditions: { severities: ['Low'] },
      },
      'a',
    );
    const report = await services.exposure.report({});
    expect(report.items.map((i) => [i.name, i.decision, i.stricterThanAdmitted])).toEqual([
      ['web', 'Audited', true],
    ]);
  });

  it('takes the latest admitted event per workload and skips denied and dry-run events', async () => {
    const { services, prod, clock } = await setup();
    await services.rules.create(denyCritical, 'a');
    await services.scans.ingest([debianClean, scan('nginx:1.25', D2, [vuln('CVE-2023-38545', 'Critical')])]);
    await admit(services, prod, deployment('api', 'payments', ['debian:12']), 'payments');
    clock.advance(1000);
    // A later update to a vulnerable image is denied: what runs is still the admitted one.
    const denied = await admit(services, prod, deployment('api', 'payments', ['nginx:1.25']), 'payments');
    expect(denied.decision).toBe('Denied');
    // A dry run is never recorded, so it cannot count.
    await admit(services, prod, deployment('dry', 'payments', ['debian:12']), 'payments', true);
    const report = await services.exposure.report({});
    expect(report.scannedEvents).toBe(2);
    expect(report.workloads).toBe(1);
    expect(report.items).toEqual([]);
  });

  it('a newer admitted version replaces the older one', async () => {
    const { services, prod, clock } = await setup();
    await services.scans.ingest([debianClean, scan('nginx:1.25', D2, [vuln('CVE-2023-38545', 'Critical')])]);
    await admit(services, prod, deployment('api', 'payments', ['nginx:1.25']), 'payments');
    clock.advance(1000);
    await admit(services, prod, deployment('api', 'payments', ['debian:12']), 'payments');
    await services.rules.create(denyCritical, 'a');
    expect((await services.exposure.report({})).items).toEqual([]);
  });

  it('filters by cluster, namespace and decision', async () => {
    const { services, prod, dev } = await setup();
    await services.scans.ingest([scan('nginx:1.25', D2, [vuln('CVE-2023-38545', 'Critical')])]);
    await admit(services, prod, deployment('a', 'payments', ['nginx:1.25']), 'payments');
    await admit(services, prod, deployment('b', 'web', ['nginx:1.25']), 'web');
    await admit(services, dev, deployment('c', 'payments', ['nginx:1.25']), 'payments');
    await services.rules.create(
      { ...denyCritical, scope: { resources: [{ type: 'Namespace', value: 'payments' }] } },
      'a',
    );
    await services.rules.create(
      { name: 'audit-all', action: 'Audit', conditions: { severities: ['Critical'] } },
      'a',
    );
    const all = await services.exposure.report({});
    expect(all.items.map((i) => `${i.cluster}/${i.name}:${i.decision}`)).toEqual([
      'dev/c:Denied',
      'prod/a:Denied',
      'prod/b:Audited',
    ]);
    expect((await services.exposure.report({ cluster: 'prod' })).items.map((i) => i.name)).toEqual([
      'a',
      'b',
    ]);
    expect((await services.exposure.report({ namespace: 'web' })).items.map((i) => i.name)).toEqual(['b']);
    expect((await services.exposure.report({ decision: 'Audited' })).items.map((i) => i.name)).toEqual(['b']);
    await expect(services.exposure.report({ decision: 'Allowed' })).rejects.toBeInstanceOf(ValidationError);
  });

  it('leaves out workloads admitted before the retention window', async () => {
    const { services, prod, clock } = await setup();
    await services.scans.ingest([scan('nginx:1.25', D2, [vuln('CVE-2023-38545', 'Critical')])]);
    await admit(services, prod, deployment('old', 'payments', ['nginx:1.25']), 'payments');
    await services.rules.create(denyCritical, 'a');
    expect((await services.exposure.report({})).items).toHaveLength(1);
    clock.advance(31 * DAY);
    expect((await services.exposure.report({})).items).toEqual([]);
  });

  it('an image unresolved at admission is evaluated by what its tag names now, and says so', async () => {
    const { services, prod } = await setup();
    await services.rules.create(denyCritical, 'a');
    const event = await admit(services, prod, deployment('api', 'payments', ['nginx:1.25']), 'payments');
    expect(event.images[0]!.scanState).toBe('NotFound');
    await services.scans.ingest([scan('nginx:1.25', D2, [vuln('CVE-2023-38545', 'Critical')])]);
    const [item] = (await services.exposure.report({})).items;
    expect(item!.images[0]).toMatchObject({ digest: D2, digestSource: 'resolvedNow' });
    expect(item!.notes.join('\n')).toContain('not resolved when admitted');
  });

  it('re-evaluates events recorded without workload facts with empty labels, and says so', async () => {
    const { services, prod, store } = await setup();
    await services.scans.ingest([scan('nginx:1.25', D2, [vuln('CVE-2023-38545', 'Critical')])]);
    const event = await admit(services, prod, deployment('api', 'payments', ['nginx:1.25']), 'payments');
    const { workload: _w, ...legacy } = event;
    await store.admissions.record({
      ...(legacy as AdmissionEvent),
      id: 'legacy',
      uid: 'legacy',
      name: 'legacy',
    });
    await services.rules.create(denyCritical, 'a');
    const report = await services.exposure.report({});
    const legacyItem = report.items.find((i) => i.name === 'legacy');
    expect(legacyItem).toMatchObject({ decision: 'Denied', workloadFacts: 'missing', deployment: 'legacy' });
    expect(report.items.find((i) => i.name === 'api')?.workloadFacts).toBe('recorded');
    expect(report.notes.join('\n')).toContain('1 workloads were admitted before their labels were recorded');
  });

  it('shows the Pods and ReplicaSets of a listed Deployment as that Deployment', async () => {
    const { services, prod } = await setup();
    await services.scans.ingest([scan('nginx:1.25', D2, [vuln('CVE-2023-38545', 'Critical')])]);
    await admit(services, prod, deployment('api', 'payments', ['nginx:1.25']), 'payments');
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        generateName: 'api-5d8f7c9b6d-',
        namespace: 'payments',
        labels: { app: 'api', 'pod-template-hash': '5d8f7c9b6d' },
        ownerReferences: [{ kind: 'ReplicaSet', name: 'api-5d8f7c9b6d', controller: true }],
      },
      spec: { containers: [{ name: 'c0', image: 'nginx:1.25' }] },
    };
    await admit(
      services,
      prod,
      { ...pod, metadata: { ...pod.metadata, name: 'api-5d8f7c9b6d-x1' } },
      'payments',
    );
    await services.rules.create(denyCritical, 'a');
    const report = await services.exposure.report({});
    expect(report.items.map((i) => `${i.kind}/${i.name}`)).toEqual(['Deployment/api']);
    expect(report.notes.join('\n')).toContain('1 ReplicaSets and Pods are shown as the Deployment');
  });

  it('reads at most maxEvents events and says the answer is cut short', async () => {
    const { services, prod, store, clock } = await setup();
    await services.scans.ingest([scan('nginx:1.25', D2, [vuln('CVE-2023-38545', 'Critical')])]);
    for (let i = 0; i < 7; i++) {
      await admit(services, prod, deployment(`w${i}`, 'payments', ['nginx:1.25']), 'payments');
      clock.advance(1000);
    }
    await services.rules.create(denyCritical, 'a');
    const capped = new ExposureService(
      store.admissions,
      services.rules,
      services.scans,
      services.clusters,
      clock,
      {
        retentionDays: 30,
        maxEvents: 5,
      },
    );
    const report = await capped.report({});
    expect(report).toMatchObject({ scannedEvents: 5, truncated: true, maxEvents: 5 });
    // The newest five workloads.
    expect(report.items.map((i) => i.name)).toEqual(['w2', 'w3', 'w4', 'w5', 'w6']);
    expect(report.notes.join('\n')).toContain('Only the newest 5 admission events were read');
    expect((await services.exposure.report({})).truncated).toBe(false);
  });
});
