import { describe, expect, it } from 'vitest';
import { grafeasReportToScans, imageOfResourceUri } from '../../../adapters/registry/grafeas.js';
import { expectValidScans, loadCloudFixture, NOW, validationError } from './helpers.js';

describe('grafeasReportToScans', () => {
  it('takes effectiveSeverity (the distro rating), not the NVD severity', () => {
    const scans = grafeasReportToScans(loadCloudFixture('gcp/public-capture-sedg-gar-occurrence.json'), {
      now: NOW,
    });
    expectValidScans(scans);
    expect(scans).toEqual([
      {
        registry: 'us-docker.pkg.dev',
        repository: 'valid-proj/valid-repo/valid-name',
        digest: 'sha256:3fa5256ad34b31901ca30021c722fc7ba11a66ca070c8442862205696b908ddb',
        tags: [],
        source: 'gar',
        scannedAt: '2023-04-29T12:44:44.093Z',
        status: 'Scanned',
        vulnerabilities: [
          {
            id: 'CVE-2022-29458',
            severity: 'Medium',
            cvss: 7.1,
            package: 'ncurses',
            version: '6.2+20201114-2',
            fixedVersion: '6.2+20201114-2+deb11u1',
            fixAvailable: true,
          },
        ],
        counts: { Critical: 0, High: 0, Medium: 1, Low: 0, Negligible: 0 },
      },
    ]);
  });

  it('reads Container Registry (gcr.io) images', () => {
    const [scan] = grafeasReportToScans(loadCloudFixture('gcp/public-capture-binx-list-occurrences.json'), {
      now: NOW,
    });
    expect(scan).toMatchObject({
      registry: 'gcr.io',
      repository: 'binx-io-public/alpine',
      status: 'Scanned',
      vulnerabilities: [
        { id: 'CVE-2016-6301', severity: 'High', package: 'busybox', fixedVersion: '1.24.2-r1' },
      ],
    });
  });

  describe('with DISCOVERY occurrences', () => {
    const scans = grafeasReportToScans(loadCloudFixture('gcp/constructed-list-occurrences-discovery.json'), {
      now: NOW,
    });

    it('gives every image its status from analysisStatus', () => {
      expectValidScans(scans);
      expect(scans.map((s) => [s.repository, s.status, s.statusReason, s.vulnerabilities.length])).toEqual([
        ['acme-prod/apps/payments/api', 'Scanned', undefined, 2],
        ['acme-prod/apps/reports/worker', 'Pending', 'SCANNING', 0],
        ['acme-prod/legacy/windows-app', 'Unsupported', 'FINISHED_UNSUPPORTED: Unsupported OS: windows', 0],
        ['acme-prod/apps/clean', 'Scanned', undefined, 0],
        ['acme-prod/apps/broken', 'Failed', 'FINISHED_FAILED: failed to extract image layers', 0],
      ]);
    });

    it('dates a scan by the discovery lastScanTime', () => {
      expect(scans[0]!.scannedAt).toBe('2024-06-02T07:09:58.000Z');
      expect(scans[3]!.scannedAt).toBe('2024-06-02T06:00:00.000Z');
    });

    it('reads a MAXIMUM fixed version and an omitted fixAvailable as no fix', () => {
      const tar = scans[0]!.vulnerabilities.find((v) => v.id === 'CVE-2005-2541')!;
      expect(tar).toEqual({
        id: 'CVE-2005-2541',
        severity: 'Negligible',
        originalSeverity: 'MINIMAL',
        cvss: 10,
        package: 'tar',
        version: '1.34+dfsg-1.2+deb12u1',
        fixAvailable: false,
      });
      expect(scans[0]!.counts).toEqual({ Critical: 0, High: 1, Medium: 0, Low: 0, Negligible: 1 });
    });
  });

  it('reads gcloud describe --show-package-vulnerability output', () => {
    const list = loadCloudFixture('gcp/constructed-list-occurrences-discovery.json') as {
      occurrences: unknown[];
    };
    const [discovery, high, critical] = list.occurrences;
    const describe = {
      image_summary: { digest: 'sha256:eeee', registry: 'europe-west1-docker.pkg.dev' },
      package_vulnerability_summary: { vulnerabilities: { HIGH: [high], CRITICAL: [critical] } },
      discovery_summary: { discovery: [discovery] },
    };
    expect(grafeasReportToScans(describe, { now: NOW })).toEqual([
      grafeasReportToScans({ occurrences: [discovery, high, critical] }, { now: NOW })[0],
    ]);
  });

  it('takes an empty answer as no images', () => {
    expect(grafeasReportToScans({}, { now: NOW })).toEqual([]);
    expect(grafeasReportToScans({ occurrences: [] }, { now: NOW })).toEqual([]);
  });

  it.each([null, 3, 'x', { occurrences: 'none' }, { something: 1 }])('rejects %j', (body) => {
    validationError(() => grafeasReportToScans(body, { now: NOW }));
  });
});

describe('imageOfResourceUri', () => {
  it.each([
    [
      'https://us-docker.pkg.dev/p/r/img@sha256:3fa5256ad34b31901ca30021c722fc7ba11a66ca070c8442862205696b908ddb',
      { registry: 'us-docker.pkg.dev', repository: 'p/r/img' },
    ],
    [
      'https://europe-west1-docker.pkg.dev/p/r/team/app@sha256:3fa5256ad34b31901ca30021c722fc7ba11a66ca070c8442862205696b908ddb',
      { registry: 'europe-west1-docker.pkg.dev', repository: 'p/r/team/app' },
    ],
  ])('parses %s', (uri, expected) => {
    expect(imageOfResourceUri(uri)).toMatchObject(expected);
  });

  it.each([
    'https://us-docker.pkg.dev/p/r/img:latest',
    'https://github.com/acme/repo',
    'maven://com.acme:lib:1.0',
    '',
  ])('is not an image: %s', (uri) => {
    expect(imageOfResourceUri(uri)).toBeUndefined();
  });
});
