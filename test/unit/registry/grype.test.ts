import { describe, expect, it } from 'vitest';
import { grypeReportToScans } from '../../../adapters/registry/grype.js';
import { DIGEST_A, DIGEST_B, expectValidScans, loadScanFixture, NOW, validationError } from './helpers.js';

const ALPINE = 'grype-alpine-3.17.2.json';
const NGINX_KUBEVULN = 'grype-nginx-debian9.kubevuln-cvemanifest.json.gz';
const ALPINE_DIGEST = 'sha256:e2e16842c9b54d985bf1ef9242a313f36b856181f188de21313820e177002501';

/** A minimal Grype document with the given matches and image target. */
function grypeReport(
  matches: unknown,
  target: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
) {
  return { matches, source: { type: 'image', target: { userInput: '', tags: [], ...target } }, ...extra };
}

const match = (
  id: string,
  pkg: string,
  severity: string,
  vulnerability: Record<string, unknown> = {},
  more: Record<string, unknown> = {},
) => ({
  vulnerability: { id, severity, cvss: [], fix: { versions: [], state: 'not-fixed' }, ...vulnerability },
  relatedVulnerabilities: [],
  artifact: { name: pkg, version: '1.0', type: 'apk' },
  ...more,
});

describe('grypeReportToScans: alpine 3.17.2 fixture', () => {
  const [scan] = grypeReportToScans(loadScanFixture(ALPINE), { now: NOW });

  it('takes identity from repoDigests, index.docker.io normalized to docker.io/library', () => {
    expectValidScans([scan!]);
    expect(scan).toMatchObject({
      registry: 'docker.io',
      repository: 'library/alpine',
      digest: ALPINE_DIGEST,
      tags: [],
      source: 'grype',
      status: 'Scanned',
      scannedAt: '2023-12-13T18:15:07.449Z', // descriptor.timestamp, +02:00 turned to UTC
    });
  });

  it('counts 20 matches as 10 distinct ids: 2 High, 8 Medium', () => {
    expect(scan!.vulnerabilities).toHaveLength(20);
    expect(scan!.counts).toEqual({ Critical: 0, High: 2, Medium: 8, Low: 0, Negligible: 0 });
  });

  it('scores from the related NVD record when the distro record has no CVSS', () => {
    expect(scan!.vulnerabilities[0]).toEqual({
      id: 'CVE-2023-5363',
      severity: 'High',
      cvss: 7.5,
      package: 'libcrypto3',
      version: '3.0.8-r0',
      fixedVersion: '3.0.12-r0',
      fixAvailable: true,
    });
    expect(scan!.vulnerabilities.find((v) => v.id === 'CVE-2023-2650')?.cvss).toBe(6.5);
  });

  it('lets a tag-only image rename the repository and keeps the report digest', () => {
    const [renamed] = grypeReportToScans(loadScanFixture(ALPINE), {
      now: NOW,
      image: 'registry.example.com/mirror/alpine:3.17.2',
    });
    expect(renamed).toMatchObject({
      registry: 'registry.example.com',
      repository: 'mirror/alpine',
      digest: ALPINE_DIGEST,
      tags: ['3.17.2'],
    });
  });

  it('lets an image with a digest override the report', () => {
    const [overridden] = grypeReportToScans(loadScanFixture(ALPINE), {
      now: NOW,
      image: `ghcr.io/acme/alpine:3.17@${DIGEST_B}`,
    });
    expect(overridden).toMatchObject({
      registry: 'ghcr.io',
      repository: 'acme/alpine',
      digest: DIGEST_B,
      tags: ['3.17'],
    });
    expect(overridden!.counts).toEqual(scan!.counts);
  });
});

describe('grypeReportToScans: kubevuln CVE manifest (nginx, Debian 9, gzipped)', () => {
  const [scan] = grypeReportToScans(loadScanFixture(NGINX_KUBEVULN), { now: NOW });

  it('unwraps .Content and takes identity from the manifest ID (the Grype target is empty)', () => {
    expectValidScans([scan!]);
    expect(scan).toMatchObject({
      registry: 'docker.io',
      repository: 'library/nginx',
      digest: 'sha256:32fdf92b4e986e109e4db0865758020cb0c3b70d6ba80d02fe87bad5cc3dc228',
      scannedAt: NOW.toISOString(), // no descriptor.timestamp
    });
  });

  it('counts 456 matches as 287 ids', () => {
    expect(scan!.vulnerabilities).toHaveLength(456);
    expect(scan!.counts).toEqual({ Critical: 48, High: 81, Medium: 73, Low: 24, Negligible: 61 });
  });

  it('marks only fix state "fixed" as fixable (186), not wont-fix or not-fixed', () => {
    expect(scan!.vulnerabilities.filter((v) => v.fixAvailable)).toHaveLength(186);
    expect(scan!.vulnerabilities.find((v) => v.id === 'CVE-2005-2541')).toEqual({
      id: 'CVE-2005-2541',
      severity: 'Negligible', // Grype's own word: nothing to keep
      package: 'tar',
      version: '1.29b-1.1',
      fixAvailable: false,
    });
  });

  it('accepts the wrapper with Content as a JSON string', () => {
    const wrapper = loadScanFixture(NGINX_KUBEVULN) as { Content: unknown };
    const [again] = grypeReportToScans(
      { ...wrapper, Content: JSON.stringify(wrapper.Content) },
      { now: NOW },
    );
    expect(again!.counts).toEqual(scan!.counts);
  });
});

describe('grypeReportToScans: identity', () => {
  it('pairs a tagged userInput with manifestDigest when there are no repoDigests', () => {
    const [scan] = grypeReportToScans(
      grypeReport([], { userInput: 'alpine:3.17', manifestDigest: DIGEST_A, tags: ['alpine:3.17'] }),
      { now: NOW },
    );
    expect(scan).toMatchObject({
      registry: 'docker.io',
      repository: 'library/alpine',
      digest: DIGEST_A,
      tags: ['3.17'],
    });
  });

  it('reads registry:2 as the registry image, and strips a registry: scheme before a path', () => {
    const [hub] = grypeReportToScans(grypeReport([], { userInput: 'registry:2', manifestDigest: DIGEST_A }), {
      now: NOW,
    });
    expect(hub).toMatchObject({ repository: 'library/registry', tags: ['2'] });
    const [ghcr] = grypeReportToScans(
      grypeReport([], { userInput: 'registry:ghcr.io/acme/api:1.4', manifestDigest: DIGEST_A }),
      { now: NOW },
    );
    expect(ghcr).toMatchObject({ registry: 'ghcr.io', repository: 'acme/api', tags: ['1.4'] });
  });

  it('does not trust the made-up manifest digest of an archive scan', () => {
    const report = grypeReport([], {
      userInput: 'docker-archive:/tmp/app.tar',
      manifestDigest: DIGEST_A,
      imageID: DIGEST_B,
    });
    const e = validationError(() => grypeReportToScans(report, { now: NOW }));
    expect(e.message).toContain('image=REGISTRY/REPO:TAG@sha256:...');
    const [scan] = grypeReportToScans(report, { now: NOW, image: `ghcr.io/acme/app:1@${DIGEST_B}` });
    expect(scan).toMatchObject({ repository: 'acme/app', digest: DIGEST_B });
  });

  it('asks for image= for a directory scan (a string target)', () => {
    const report = { matches: [], source: { type: 'directory', target: '/src' } };
    expect(validationError(() => grypeReportToScans(report, { now: NOW })).message).toContain(
      'image=REGISTRY/REPO:TAG@sha256:...',
    );
  });
});

describe('grypeReportToScans: findings', () => {
  const opts = { now: NOW, image: `alpine@${DIGEST_A}` };

  it('maps Unknown to Negligible with its label, and mixed case', () => {
    const [scan] = grypeReportToScans(
      grypeReport([
        match('CVE-1', 'a', 'Unknown'),
        match('CVE-2', 'a', 'CRITICAL'),
        match('CVE-3', 'a', 'low'),
      ]),
      opts,
    );
    expect(scan!.vulnerabilities.map((v) => [v.severity, v.originalSeverity])).toEqual([
      ['Negligible', 'Unknown'],
      ['Critical', undefined],
      ['Low', undefined],
    ]);
    expect(scan!.counts).toEqual({ Critical: 1, High: 0, Medium: 0, Low: 1, Negligible: 1 });
  });

  it('prefers the highest CVSS v3 score over a higher v2 one', () => {
    const cvss = [
      { version: '2.0', metrics: { baseScore: 9.3 } },
      { version: '3.1', metrics: { baseScore: 7.1 } },
      { version: '3.0', metrics: { baseScore: 7.4 } },
    ];
    const [scan] = grypeReportToScans(grypeReport([match('CVE-1', 'a', 'High', { cvss })]), opts);
    expect(scan!.vulnerabilities[0]!.cvss).toBe(7.4);
  });

  it('joins several fixed versions', () => {
    const fix = { state: 'fixed', versions: ['1.2.3', '2.0.1'] };
    const [scan] = grypeReportToScans(grypeReport([match('GHSA-xxxx', 'lib', 'Medium', { fix })]), opts);
    expect(scan!.vulnerabilities[0]).toMatchObject({ fixedVersion: '1.2.3, 2.0.1', fixAvailable: true });
  });

  it('keeps ignoredMatches as Suppressed without counting them', () => {
    const [scan] = grypeReportToScans(
      grypeReport(
        [match('CVE-1', 'a', 'Low')],
        {},
        {
          ignoredMatches: [
            { ...match('CVE-2', 'a', 'Critical'), appliedIgnoreRules: [{ vulnerability: 'CVE-2' }] },
          ],
        },
      ),
      opts,
    );
    expect(scan!.vulnerabilities.map((v) => [v.id, v.state])).toEqual([
      ['CVE-1', undefined],
      ['CVE-2', 'Suppressed'],
    ]);
    expect(scan!.counts).toEqual({ Critical: 0, High: 0, Medium: 0, Low: 1, Negligible: 0 });
  });
});
