import { describe, expect, it } from 'vitest';
import { CLUSTER, D1, D2, deployment, rule, run, scan, vuln } from './evaluate-helpers.js';

const NGINX = 'nginx:1.25';
const nginxScan = scan(NGINX, D1, [
  vuln('CVE-2023-38545', 'Critical', { package: 'curl', fixAvailable: true, cvss: 9.8 }),
  vuln('CVE-2023-44487', 'High', { package: 'nghttp2', cvss: 7.5 }),
  vuln('CVE-2023-5678', 'Medium', { cvss: 5.3 }),
  vuln('CVE-2019-3462', 'Low'),
]);
const web = (ns = 'payments', images = [NGINX], labels: Record<string, string> = {}) =>
  deployment('web', ns, images, labels);
const scans = { [NGINX]: nginxScan };

const denyCritical = (extra: Record<string, unknown> = {}) =>
  rule({ name: 'deny-critical', action: 'Deny', conditions: { severities: ['Critical'] }, ...extra });

describe('decisions', () => {
  it('denies on severity, naming image, rule, counts and CVEs, and how to get an exemption', () => {
    const r = run({ object: web(), rules: [denyCritical()], scans });
    expect(r.decision).toBe('Denied');
    expect(r.message).toContain('docker.io/library/nginx:1.25');
    expect(r.message).toContain('"deny-critical"');
    expect(r.message).toContain('because of 1 Critical vulnerabilities: CVE-2023-38545');
    expect(r.message).toContain('the image has 1 Critical, 1 High, 1 Medium, 1 Low in all');
    expect(r.message).toContain('CVE-2023-38545');
    expect(r.message).toMatch(/exemption/);
    expect(r.images[0]!.triggeredRules[0]!.vulnerabilities.map((v) => v.id)).toEqual(['CVE-2023-38545']);
  });

  it('denies on a CVE id whatever its severity, case-insensitively', () => {
    const r = run({
      object: web(),
      rules: [rule({ action: 'Deny', conditions: { cves: ['cve-2019-3462'] } })],
      scans,
    });
    expect(r.decision).toBe('Denied');
    expect(r.message).toContain('CVE-2019-3462');
  });

  it('audits with short kubectl warnings and audit annotations', () => {
    const r = run({
      object: web(),
      rules: [rule({ name: 'audit-high', action: 'Audit', conditions: { severities: ['High'] } })],
      scans,
    });
    expect(r.decision).toBe('Audited');
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toContain('audit-high');
    expect(r.warnings[0]!.length).toBeLessThanOrEqual(120);
    expect(r.auditAnnotations).toEqual({ decision: 'Audited', rules: 'audit-high' });
  });

  it('allows when no rule triggers', () => {
    const r = run({
      object: web(),
      rules: [rule({ action: 'Deny', conditions: { cves: ['CVE-1999-0001'] } })],
      scans,
    });
    expect(r.decision).toBe('Allowed');
    expect(r.warnings).toEqual([]);
  });

  it('takes the strictest action: an Audit rule never hides a Deny', () => {
    const r = run({
      object: web(),
      rules: [rule({ action: 'Audit', conditions: { severities: ['Critical'] } }), denyCritical()],
      scans,
    });
    expect(r.decision).toBe('Denied');
    expect(r.images[0]!.triggeredRules.map((t) => t.action).sort()).toEqual(['Audit', 'Deny']);
  });

  it('takes the strictest image: one bad container denies the pod', () => {
    const clean = scan('busybox:1.36', D2, []);
    const r = run({
      object: web('payments', ['busybox:1.36', NGINX]),
      rules: [denyCritical()],
      scans: { ...scans, 'busybox:1.36': clean },
    });
    expect(r.decision).toBe('Denied');
    expect(r.images.map((i) => i.action)).toEqual(['Allow', 'Deny']);
    expect(r.message).not.toContain('busybox');
  });

  it('ignores disabled rules', () => {
    expect(run({ object: web(), rules: [denyCritical({ enabled: false })], scans }).decision).toBe('Allowed');
  });

  it('does not count findings the source reports suppressed or closed', () => {
    const suppressed = scan(NGINX, D1, [vuln('CVE-2023-38545', 'Critical', { state: 'Suppressed' })]);
    expect(run({ object: web(), rules: [denyCritical()], scans: { [NGINX]: suppressed } }).decision).toBe(
      'Allowed',
    );
  });

  it('honours minCvss and fixAvailableOnly', () => {
    const cvss = rule({ action: 'Deny', conditions: { minCvss: 7.0 } });
    const r1 = run({ object: web(), rules: [cvss], scans });
    expect(r1.images[0]!.triggeredRules[0]!.vulnerabilityCount).toBe(2);
    const fixable = rule({
      action: 'Deny',
      conditions: { severities: ['Critical', 'High'], fixAvailableOnly: true },
    });
    const r2 = run({ object: web(), rules: [fixable], scans });
    expect(r2.images[0]!.triggeredRules[0]!.vulnerabilities.map((v) => v.id)).toEqual(['CVE-2023-38545']);
  });
});

describe('exemptions', () => {
  const withExemption = (e: Record<string, unknown>) =>
    denyCritical({ exemptions: [{ reason: 'accepted risk', match: 'Equals', ...e }] });

  it('a CVE exemption removes that vulnerability from the rule and is recorded', () => {
    const r = run({ object: web(), rules: [withExemption({ type: 'CVE', value: 'CVE-2023-38545' })], scans });
    expect(r.decision).toBe('Allowed');
    expect(r.images[0]!.exemptions).toMatchObject([{ type: 'CVE', cves: ['CVE-2023-38545'] }]);
  });

  it.each([
    ['Namespace', 'Equals', 'PAYMENTS'],
    ['Deployment', 'Equals', 'web'],
    ['Image', 'Equals', D1],
    ['Registry', 'Equals', 'docker.io'],
    ['Repository', 'StartsWith', 'library/'],
    ['Pod', 'StartsWith', 'we'],
  ])('a %s exemption takes the image out of the rule', (type, match, value) => {
    const r = run({ object: web(), rules: [withExemption({ type, match, value })], scans });
    expect(r.decision).toBe('Allowed');
    expect(r.images[0]!.exemptions[0]!.type).toBe(type);
  });

  it('holds through the end of its expiry day, UTC, and not after', () => {
    const today = withExemption({ type: 'Namespace', value: 'payments', expiresOn: '2026-11-26' });
    expect(
      run({ object: web(), rules: [today], scans, now: new Date('2026-11-26T23:59:59Z') }).decision,
    ).toBe('Allowed');
    expect(
      run({ object: web(), rules: [today], scans, now: new Date('2026-11-27T00:00:00Z') }).decision,
    ).toBe('Denied');
  });

  it('an expired exemption no longer applies', () => {
    const expired = withExemption({ type: 'CVE', value: 'CVE-2023-38545', expiresOn: '2026-11-01' });
    expect(run({ object: web(), rules: [expired], scans }).decision).toBe('Denied');
  });

  it('an exemption for another namespace does not apply', () => {
    const other = withExemption({ type: 'Namespace', value: 'checkout' });
    expect(run({ object: web(), rules: [other], scans }).decision).toBe('Denied');
  });
});

describe('unscanned images', () => {
  const unscanned = 'registry.example.com/team/app:2.0';

  it('are not gated by a rule without applyToUnscannedImages, and monitoring says so', () => {
    const r = run({ object: web('payments', [unscanned]), rules: [denyCritical()] });
    expect(r.decision).toBe('Allowed');
    expect(r.images[0]!.scanState).toBe('NotFound');
    expect(r.images[0]!.notes.join()).toContain('no usable scan (NotFound)');
  });

  it('trigger a rule with applyToUnscannedImages, with the reason in the message', () => {
    const r = run({
      object: web('payments', [unscanned]),
      rules: [denyCritical({ applyToUnscannedImages: true })],
    });
    expect(r.decision).toBe('Denied');
    expect(r.message).toContain('never been scanned (NotFound)');
  });

  it.each(['Pending', 'Failed', 'Unsupported'] as const)('tell %s apart', (status) => {
    const s = scan(unscanned, D2, [], { status });
    const r = run({
      object: web('payments', [unscanned]),
      rules: [denyCritical({ applyToUnscannedImages: true })],
      scans: { [unscanned]: s },
    });
    expect(r.decision).toBe('Denied');
    expect(r.images[0]!.triggeredRules[0]!.scanState).toBe(status);
  });

  it('treat a scan older than maxScanAgeDays as Stale', () => {
    const old = { [NGINX]: { ...nginxScan, scannedAt: '2026-10-01T00:00:00Z', vulnerabilities: [] } };
    const stale = rule({
      action: 'Deny',
      conditions: { severities: ['Critical'] },
      applyToUnscannedImages: true,
      maxScanAgeDays: 30,
    });
    const r = run({ object: web(), rules: [stale], scans: old });
    expect(r.decision).toBe('Denied');
    expect(r.message).toContain('(Stale)');
  });
});

describe('enforceFrom', () => {
  it('audits before the day, saying when Deny begins', () => {
    const r = run({ object: web(), rules: [denyCritical({ enforceFrom: '2027-01-01' })], scans });
    expect(r.decision).toBe('Audited');
    expect(r.warnings[0]).toContain('DENIED from 2027-01-01');
  });

  it('denies from the day on', () => {
    const r = run({ object: web(), rules: [denyCritical({ enforceFrom: '2026-11-26' })], scans });
    expect(r.decision).toBe('Denied');
  });
});

describe('scope', () => {
  const cases: [string, Record<string, unknown>, boolean][] = [
    ['Namespace Equals', { type: 'Namespace', match: 'Equals', value: 'Payments' }, true],
    ['Namespace NotEquals', { type: 'Namespace', match: 'NotEquals', value: 'payments' }, false],
    ['Namespace StartsWith', { type: 'Namespace', match: 'StartsWith', value: 'pay' }, true],
    ['Cluster EndsWith', { type: 'Cluster', match: 'EndsWith', value: '-eks' }, true],
    ['Cluster Equals other', { type: 'Cluster', match: 'Equals', value: 'dev-aks' }, false],
    ['Deployment Equals', { type: 'Deployment', match: 'Equals', value: 'web' }, true],
    ['Pod Contains', { type: 'Pod', match: 'Contains', value: 'eb' }, true],
    ['Image Equals short form', { type: 'Image', match: 'Equals', value: 'nginx:1.25' }, true],
    ['Image StartsWith registry', { type: 'Image', match: 'StartsWith', value: 'docker.io/library/' }, true],
    ['Image Contains other', { type: 'Image', match: 'Contains', value: 'redis' }, false],
    [
      'LabelSelector equality',
      { type: 'LabelSelector', match: 'Equals', value: 'app=web,tier in (frontend,edge)' },
      true,
    ],
    ['LabelSelector NotEquals', { type: 'LabelSelector', match: 'NotEquals', value: 'app=web' }, false],
    ['LabelSelector missing key', { type: 'LabelSelector', match: 'Equals', value: '!tier' }, false],
  ];
  it.each(cases)('%s', (_name, resource, applies) => {
    const r = run({
      object: web('payments', [NGINX], { tier: 'frontend' }),
      rules: [denyCritical({ scope: { resources: [resource] } })],
      scans,
    });
    expect(r.decision).toBe(applies ? 'Denied' : 'Allowed');
  });

  it('requires every resource scope to hold (AND)', () => {
    const both = {
      resources: [
        { type: 'Namespace', value: 'payments' },
        { type: 'Deployment', value: 'api' },
      ],
    };
    expect(run({ object: web(), rules: [denyCritical({ scope: both })], scans }).decision).toBe('Allowed');
  });

  it.each([
    [{ provider: 'aws', accounts: [] }, true],
    [{ provider: 'aws', accounts: ['123456789012'] }, true],
    [{ provider: 'aws', accounts: ['999999999999'] }, false],
    [{ provider: 'azure', accounts: [] }, false],
  ])('cloud scope %j', (cloud, applies) => {
    const r = run({ object: web(), rules: [denyCritical({ scope: { cloud } })], scans, cluster: CLUSTER });
    expect(r.decision).toBe(applies ? 'Denied' : 'Allowed');
  });

  it('derives the owning Deployment of a ReplicaSet', () => {
    const rs = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name: 'web-5d8f7c9b6d',
        namespace: 'payments',
        labels: { app: 'web', 'pod-template-hash': '5d8f7c9b6d' },
        ownerReferences: [
          { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'x', controller: true },
        ],
      },
      spec: {
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'c', image: NGINX }] },
        },
      },
    };
    const scoped = denyCritical({ scope: { resources: [{ type: 'Deployment', value: 'web' }] } });
    expect(run({ object: rs, rules: [scoped], scans }).decision).toBe('Denied');
  });
});

describe('updates', () => {
  it('does not gate an image an UPDATE left unchanged, but records it', () => {
    const before = web();
    const after = { ...web(), metadata: { ...web().metadata, labels: { app: 'web', touched: 'yes' } } };
    const r = run({ object: after, oldObject: before, rules: [denyCritical()], scans });
    expect(r.decision).toBe('Allowed');
    expect(r.images[0]!.gated).toBe(false);
    expect(r.images[0]!.action).toBe('Deny');
  });

  it('gates an image an UPDATE changes', () => {
    const r = run({
      object: web(),
      oldObject: web('payments', ['nginx:1.24']),
      rules: [denyCritical()],
      scans,
    });
    expect(r.decision).toBe('Denied');
  });
});

describe('bad references', () => {
  it('treats an unparsable image as never scanned instead of failing', () => {
    const r = run({
      object: web('payments', ['Not A Valid Ref']),
      rules: [denyCritical({ applyToUnscannedImages: true })],
    });
    expect(r.decision).toBe('Denied');
    expect(r.images[0]!.notes[0]).toContain('could not be parsed');
  });
});

describe('warnings', () => {
  it('count what triggered the rule, not the whole image, and never split an id', () => {
    const many = scan(NGINX, D1, [
      ...Array.from({ length: 30 }, (_, i) => vuln(`CVE-2024-${10000 + i}`, 'High')),
      vuln('CVE-2023-5678', 'Medium'),
    ]);
    const r = run({
      object: web(),
      rules: [
        rule({
          name: 'audit-high-with-a-long-descriptive-name',
          action: 'Audit',
          conditions: { severities: ['High'] },
        }),
      ],
      scans: { [NGINX]: many },
    });
    expect(r.warnings[0]).toContain('30 High (');
    expect(r.warnings[0]).not.toContain('Medium');
    expect(r.warnings[0]!.length).toBeLessThanOrEqual(120);
    expect(r.warnings[0]).toMatch(/(CVE-\d{4}-\d{5}|more\))…?$/);
  });
});
