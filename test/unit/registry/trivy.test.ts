import { describe, expect, it } from 'vitest';
import { trivyReportToScans, trivyVulnerabilityToVulnerability } from '../../../adapters/registry/trivy.js';
import {
  DIGEST_A,
  DIGEST_B,
  detailPaths,
  expectValidScans,
  loadScanFixture,
  NOW,
  validationError,
} from './helpers.js';

const V2 = 'trivy-v2-alpine-3.10.2.golden.json';
const LEGACY = 'trivy-legacy-debian-10.8.json';

/** A minimal schema-2 report around the given results and metadata. */
function v2Report(
  results: unknown,
  metadata: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
) {
  return {
    SchemaVersion: 2,
    ArtifactName: 'alpine:3.19',
    ArtifactType: 'container_image',
    Metadata: metadata,
    Results: results,
    ...extra,
  };
}

const vuln = (id: string, pkg: string, severity: string, more: Record<string, unknown> = {}) => ({
  VulnerabilityID: id,
  PkgName: pkg,
  InstalledVersion: '1.0',
  Severity: severity,
  ...more,
});

describe('trivyReportToScans: schema 2 fixture (alpine 3.10.2)', () => {
  const image = `ghcr.io/aquasecurity/trivy-test-images@${DIGEST_A}`;

  it('has no repository digest (a tarball scan), so it asks for image=', () => {
    const e = validationError(() => trivyReportToScans(loadScanFixture(V2), { now: NOW }));
    expect(e.message).toContain('image=REGISTRY/REPO:TAG@sha256:...');
    // The hint is built from RepoTags, not from the tarball path or the config digest (ImageID).
    expect(e.message).toContain('image=ghcr.io/aquasecurity/trivy-test-images:alpine-310@sha256:');
    expect(e.message).not.toContain('961769676411');
    expect(detailPaths(e)).toEqual(['image']);
  });

  it('a tag-only image is not enough when the report has no digest either', () => {
    const e = validationError(() =>
      trivyReportToScans(loadScanFixture(V2), {
        now: NOW,
        image: 'ghcr.io/aquasecurity/trivy-test-images:alpine-310',
      }),
    );
    expect(e.message).toContain('image=REGISTRY/REPO:TAG@sha256:...');
  });

  it('converts with an image that carries the digest, keeping RepoTags of that repository', () => {
    const scans = trivyReportToScans(loadScanFixture(V2), { now: NOW, image });
    expectValidScans(scans);
    expect(scans).toHaveLength(1);
    const [scan] = scans;
    expect(scan).toMatchObject({
      registry: 'ghcr.io',
      repository: 'aquasecurity/trivy-test-images',
      digest: DIGEST_A,
      tags: ['alpine-310'],
      source: 'trivy',
      status: 'Scanned',
      scannedAt: '2021-08-25T12:20:30.000Z', // CreatedAt, nanoseconds cut to milliseconds
      counts: { Critical: 0, High: 0, Medium: 2, Low: 0, Negligible: 0 },
    });
    expect(scan!.vulnerabilities).toHaveLength(4); // 2 CVEs x libcrypto1.1 and libssl1.1
    expect(scan!.vulnerabilities[0]).toEqual({
      id: 'CVE-2019-1549',
      severity: 'Medium',
      cvss: 5.3, // SeveritySource nvd: nvd V3 5.3, not redhat's 4.8
      package: 'libcrypto1.1',
      version: '1.1.1c-r0',
      fixedVersion: '1.1.1d-r0',
      fixAvailable: true,
      title: 'openssl: information disclosure in fork()',
    });
  });

  it('drops RepoTags of other repositories and takes the tag of the image option', () => {
    const [scan] = trivyReportToScans(loadScanFixture(V2), {
      now: NOW,
      image: `registry.example.com/mirror/alpine:3.10.2@${DIGEST_B}`,
    });
    expect(scan).toMatchObject({
      registry: 'registry.example.com',
      repository: 'mirror/alpine',
      digest: DIGEST_B,
      tags: ['3.10.2'],
    });
  });

  it("reports a malformed image option as the caller's mistake", () => {
    const e = validationError(() =>
      trivyReportToScans(loadScanFixture(V2), { now: NOW, image: 'Not An Image!' }),
    );
    expect(e.message).toMatch(/^image "Not An Image!" is not an image reference/);
    expect(detailPaths(e)).toEqual(['image']);
  });
});

describe('trivyReportToScans: legacy array fixture (debian 10.8)', () => {
  const [scan] = trivyReportToScans(loadScanFixture(LEGACY), { now: NOW, image: `debian:10.8@${DIGEST_A}` });

  it('needs image= and names the image from the OS target in the hint', () => {
    const e = validationError(() => trivyReportToScans(loadScanFixture(LEGACY), { now: NOW }));
    expect(e.message).toContain('image=REGISTRY/REPO:TAG@sha256:...');
    expect(e.message).toContain('image=docker.io/library/debian:10.8@sha256:');
  });

  it('counts distinct ids at their highest severity (93 records, 60 ids)', () => {
    expectValidScans([scan!]);
    expect(scan).toMatchObject({
      registry: 'docker.io',
      repository: 'library/debian',
      digest: DIGEST_A,
      tags: ['10.8'],
    });
    expect(scan!.vulnerabilities).toHaveLength(93);
    expect(scan!.counts).toEqual({ Critical: 0, High: 9, Medium: 6, Low: 44, Negligible: 1 });
    // No scan time in the legacy format.
    expect(scan!.scannedAt).toBe(NOW.toISOString());
  });

  it('keeps UNKNOWN as the original label of a Negligible finding', () => {
    const unknown = scan!.vulnerabilities.find((v) => v.id === 'TEMP-0981404-911A2F');
    expect(unknown).toEqual({
      id: 'TEMP-0981404-911A2F',
      severity: 'Negligible',
      originalSeverity: 'UNKNOWN',
      package: 'libzstd1',
      version: '1.3.8+dfsg-3',
      fixAvailable: false,
    });
    expect(unknown).not.toHaveProperty('cvss');
  });

  it('chooses CVSS: the severity source first, else the highest V3, else the highest V2', () => {
    const cvss = (id: string, pkg: string) =>
      scan!.vulnerabilities.find((v) => v.id === id && v.package === pkg)?.cvss;
    expect(cvss('CVE-2020-10029', 'libc6')).toBe(5.5); // nvd 5.5 although redhat says 5.7
    expect(cvss('CVE-2012-2663', 'libxtables12')).toBe(7.5); // source debian has no CVSS; V2 only
    expect(cvss('CVE-2005-2541', 'tar')).toBe(10);
  });

  it('has no fixed versions, so nothing is fixable', () => {
    expect(scan!.vulnerabilities.filter((v) => v.fixAvailable)).toEqual([]);
  });
});

describe('trivyReportToScans: identity from RepoDigests', () => {
  const metadata = {
    RepoDigests: ['<none>@<none>', `alpine@${DIGEST_A}`, `ghcr.io/mirror/alpine@${DIGEST_A}`],
    RepoTags: ['alpine:3.19', 'alpine:latest', 'ghcr.io/mirror/alpine:3.19', '<none>:<none>'],
  };

  it('normalizes a Docker Hub repo digest and keeps the tags of that repository only', () => {
    const [scan] = trivyReportToScans(v2Report([], metadata), { now: NOW });
    expect(scan).toMatchObject({
      registry: 'docker.io',
      repository: 'library/alpine',
      digest: DIGEST_A,
      tags: ['3.19', 'latest'],
    });
  });

  it('prefers the repository that was scanned (ArtifactName)', () => {
    const [scan] = trivyReportToScans(
      v2Report([], metadata, { ArtifactName: 'ghcr.io/mirror/alpine:3.19' }),
      { now: NOW },
    );
    expect(scan).toMatchObject({ registry: 'ghcr.io', repository: 'mirror/alpine', tags: ['3.19'] });
  });

  it('lets a tag-only image name the repository while the report supplies the digest', () => {
    const [scan] = trivyReportToScans(v2Report([], metadata), {
      now: NOW,
      image: 'ghcr.io/mirror/alpine:stable',
    });
    expect(scan).toMatchObject({
      registry: 'ghcr.io',
      repository: 'mirror/alpine',
      digest: DIGEST_A,
      tags: ['stable', '3.19'],
    });
  });

  it('lets an image with a digest override the report', () => {
    const [scan] = trivyReportToScans(v2Report([], metadata), { now: NOW, image: `alpine@${DIGEST_B}` });
    expect(scan).toMatchObject({ repository: 'library/alpine', digest: DIGEST_B, tags: ['3.19', 'latest'] });
  });

  it('takes the digest of an ArtifactName pinned by digest', () => {
    const [scan] = trivyReportToScans(v2Report([], {}, { ArtifactName: `quay.io/org/app@${DIGEST_B}` }), {
      now: NOW,
    });
    expect(scan).toMatchObject({ registry: 'quay.io', repository: 'org/app', digest: DIGEST_B, tags: [] });
  });

  it('never takes the image config digest (ImageID / ArtifactID) for a repository digest', () => {
    const report = v2Report(
      [],
      { ImageID: DIGEST_A, RepoDigests: ['<none>@<none>'] },
      { ArtifactID: DIGEST_A },
    );
    expect(validationError(() => trivyReportToScans(report, { now: NOW })).message).toContain('image=');
  });

  it("treats Go's zero CreatedAt as no scan time", () => {
    const [scan] = trivyReportToScans(v2Report([], metadata, { CreatedAt: '0001-01-01T00:00:00Z' }), {
      now: NOW,
    });
    expect(scan!.scannedAt).toBe(NOW.toISOString());
  });
});

describe('trivyReportToScans: findings', () => {
  const opts = { now: NOW, image: `alpine@${DIGEST_A}` };

  it('normalizes mixed-case severities and counts each id once at its worst', () => {
    const [scan] = trivyReportToScans(
      v2Report([
        {
          Target: 'alpine (alpine 3.19)',
          Vulnerabilities: [
            vuln('CVE-1', 'a', 'critical'),
            vuln('CVE-2', 'a', 'High'),
            vuln('CVE-2', 'b', 'low'), // same id, another package: counted once, as High
            vuln('CVE-3', 'a', 'mEdIuM'),
            vuln('CVE-4', 'a', 'UNKNOWN'),
            vuln('CVE-5', 'a', 'negligible'),
          ],
        },
      ]),
      opts,
    );
    expect(scan!.counts).toEqual({ Critical: 1, High: 1, Medium: 1, Low: 0, Negligible: 2 });
    expect(scan!.vulnerabilities.map((v) => v.severity)).toEqual([
      'Critical',
      'High',
      'Low',
      'Medium',
      'Negligible',
      'Negligible',
    ]);
    expect(scan!.vulnerabilities.filter((v) => v.originalSeverity)).toEqual([
      expect.objectContaining({ id: 'CVE-4', originalSeverity: 'UNKNOWN' }),
    ]);
  });

  it('keeps one finding per (id, package) across targets, at the worst severity and CVSS', () => {
    const [scan] = trivyReportToScans(
      v2Report([
        {
          Target: 'app/a.jar',
          Class: 'lang-pkgs',
          Vulnerabilities: [vuln('CVE-9', 'log4j', 'MEDIUM', { CVSS: { nvd: { V3Score: 6 } } })],
        },
        {
          Target: 'app/b.jar',
          Class: 'lang-pkgs',
          Vulnerabilities: [vuln('CVE-9', 'log4j', 'CRITICAL', { FixedVersion: '2.17.1' })],
        },
      ]),
      opts,
    );
    expect(scan!.vulnerabilities).toEqual([
      {
        id: 'CVE-9',
        severity: 'Critical',
        cvss: 6,
        package: 'log4j',
        version: '1.0',
        fixedVersion: '2.17.1',
        fixAvailable: true,
      },
    ]);
  });

  it('uses the highest V3 over vendors when the severity source scored nothing', () => {
    const v = trivyVulnerabilityToVulnerability({
      VulnerabilityID: 'CVE-7',
      Severity: { severity: 'High' },
      SeveritySource: 'ghsa',
      CVSS: { nvd: { V2Score: 9.3, V3Score: 7.1 }, redhat: { V3Score: 7.8 } },
    });
    expect(v.cvss).toBe(7.8);
  });

  it('treats an empty FixedVersion as no fix', () => {
    const [scan] = trivyReportToScans(
      v2Report([{ Vulnerabilities: [vuln('CVE-8', 'x', 'LOW', { FixedVersion: '' })] }]),
      opts,
    );
    expect(scan!.vulnerabilities[0]).toMatchObject({ fixAvailable: false });
    expect(scan!.vulnerabilities[0]).not.toHaveProperty('fixedVersion');
  });

  it('keeps findings suppressed by .trivyignore or VEX for the record, without counting them', () => {
    const [scan] = trivyReportToScans(
      v2Report([
        {
          Target: 'alpine',
          Vulnerabilities: null,
          ExperimentalModifiedFindings: [
            {
              Type: 'vulnerability',
              Status: 'ignored',
              Source: '.trivyignore',
              Finding: vuln('CVE-6', 'a', 'CRITICAL'),
            },
            { Type: 'misconfiguration', Status: 'ignored', Finding: { ID: 'DS002' } },
          ],
        },
      ]),
      opts,
    );
    expect(scan!.vulnerabilities).toEqual([
      expect.objectContaining({ id: 'CVE-6', severity: 'Critical', state: 'Suppressed' }),
    ]);
    expect(scan!.counts.Critical).toBe(0);
  });
});
