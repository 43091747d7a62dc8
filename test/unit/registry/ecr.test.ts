import { describe, expect, it } from 'vitest';
import { ecrReportToScans, ecrScanStatus } from '../../../adapters/registry/ecr.js';
import { detailPaths, expectValidScans, loadCloudFixture, NOW, validationError } from './helpers.js';

const SAMPLE_DIGEST = 'sha256:74b2c688c700ec95a93e478cdb959737c148df3fbf5ea706abe0318726e885e6';

describe('ecrReportToScans: basic scanning', () => {
  it('converts the CLI example, building the host from registryId and the region option', () => {
    const scans = ecrReportToScans(loadCloudFixture('ecr/official-example-basic-cli-output.json'), {
      now: NOW,
      region: 'eu-west-1',
    });
    expectValidScans(scans);
    expect(scans).toEqual([
      {
        registry: '123456789012.dkr.ecr.eu-west-1.amazonaws.com',
        repository: 'sample-repo',
        digest: SAMPLE_DIGEST,
        tags: [],
        source: 'ecr',
        // imageScanCompletedAt arrives as epoch seconds (1579839105.0).
        scannedAt: '2020-01-24T04:11:45.000Z',
        status: 'Scanned',
        vulnerabilities: [
          {
            id: 'CVE-2019-5188',
            severity: 'Medium',
            cvss: 4.6,
            package: 'e2fsprogs',
            version: '1.44.1-1ubuntu1.1',
          },
        ],
        counts: { Critical: 0, High: 0, Medium: 1, Low: 0, Negligible: 0 },
      },
    ]);
  });

  it('asks for the region, which the payload does not name', () => {
    const e = validationError(() =>
      ecrReportToScans(loadCloudFixture('ecr/official-example-basic-cli-output.json'), { now: NOW }),
    );
    expect(e.message).toContain('region=');
    expect(detailPaths(e)).toEqual(['region']);
  });

  it('rejects a region that is not one', () => {
    const e = validationError(() =>
      ecrReportToScans(loadCloudFixture('ecr/official-example-basic-cli-output.json'), {
        now: NOW,
        region: 'europe',
      }),
    );
    expect(detailPaths(e)).toEqual(['region']);
  });

  it('uses amazonaws.com.cn in China regions', () => {
    const [scan] = ecrReportToScans(loadCloudFixture('ecr/official-example-basic-cli-output.json'), {
      now: NOW,
      region: 'cn-north-1',
    });
    expect(scan!.registry).toBe('123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn');
  });

  it('merges API pages of one image, prefers CVSS3 and keeps INFORMATIONAL as Negligible', () => {
    const page1 = loadCloudFixture('ecr/official-example-basic-cli-output.json');
    const page2 = loadCloudFixture('ecr/constructed-describe-image-scan-findings-basic-page2.json');
    const scans = ecrReportToScans([page1, page2], { now: NOW, region: 'us-east-1' });
    expectValidScans(scans);
    expect(scans).toHaveLength(1);
    expect(scans[0]!.vulnerabilities.map((v) => [v.id, v.severity, v.originalSeverity, v.cvss])).toEqual([
      ['CVE-2019-5188', 'Medium', undefined, 4.6],
      ['CVE-2023-38545', 'Critical', undefined, 9.8],
      ['CVE-2011-3374', 'Negligible', 'INFORMATIONAL', undefined],
    ]);
    // Counts come from the findings, never from the repeated findingSeverityCounts.
    expect(scans[0]!.counts).toEqual({ Critical: 1, High: 0, Medium: 1, Low: 0, Negligible: 1 });
  });

  it('tells Pending, Failed and Unsupported apart from a clean Scanned image', () => {
    const scans = ecrReportToScans(
      loadCloudFixture('ecr/constructed-describe-image-scan-findings-statuses.json'),
      { now: NOW, region: 'us-east-1' },
    );
    expectValidScans(scans);
    expect(scans.map((s) => [s.digest.slice(7, 11), s.status, s.statusReason, s.tags])).toEqual([
      ['1111', 'Failed', 'Unable to retrieve image manifest.', ['v1']],
      ['2222', 'Unsupported', 'The operating system and/or package manager are not supported.', []],
      ['3333', 'Pending', 'The scan is in progress.', []],
      ['4444', 'Scanned', undefined, ['clean']],
      ['5555', 'Failed', 'The configured scan duration has lapsed for this image.', []],
    ]);
    const clean = scans[3]!;
    expect(clean.vulnerabilities).toEqual([]);
    expect(clean.scannedAt).toBe('2024-06-01T10:00:00.512Z');
    // No scan time on a failed scan: the import time stands in.
    expect(scans[0]!.scannedAt).toBe(NOW.toISOString());
  });
});

describe('ecrReportToScans: enhanced scanning', () => {
  it('converts the API reference example, taking the region from the finding ARN', () => {
    const scans = ecrReportToScans(loadCloudFixture('ecr/official-example-enhanced-api-reference.json'), {
      now: NOW,
    });
    expectValidScans(scans);
    expect(scans).toHaveLength(1);
    const scan = scans[0]!;
    expect(scan).toMatchObject({
      registry: '123456789012.dkr.ecr.us-west-2.amazonaws.com',
      repository: 'sample-repo',
      digest: SAMPLE_DIGEST,
      tags: ['latest'],
      source: 'ecr',
      status: 'Scanned',
      scannedAt: '2025-06-09T07:08:40.144Z',
    });
    expect(scan.vulnerabilities).toEqual([
      {
        id: 'CVE-2022-49043',
        severity: 'High',
        cvss: 8.1,
        package: 'libxml2',
        // version + release, as dpkg spells it; fixedInVersion "NotAvailable" is no fix.
        version: '2.9.14+dfsg-1.3~deb12u1',
        fixAvailable: false,
        title: 'CVE-2022-49043 - libxml2',
      },
    ]);
  });

  it('finds the digest in the findings when the image was asked for by tag, and keeps UNTRIAGED', () => {
    const scans = ecrReportToScans(loadCloudFixture('ecr/public-capture-enhanced-moto-test.json'), {
      now: NOW,
    });
    expectValidScans(scans);
    const scan = scans[0]!;
    expect(scan.digest).toBe('sha256:9c7d02b8b260fa42b14a85cc1221f942f2029b5bf1132fc300ec479273406f5d');
    expect(scan.registry).toBe('123456789012.dkr.ecr.eu-west-1.amazonaws.com');
    expect(scan.repository).toBe('reponame');
    // The tag asked for; the findings' tags belong to another repository name.
    expect(scan.tags).toEqual(['latest']);
    const untriaged = scan.vulnerabilities.find((v) => v.id === 'CVE-2025-24528')!;
    expect(untriaged).toMatchObject({
      severity: 'Negligible',
      originalSeverity: 'UNTRIAGED',
      package: 'krb5',
    });
    // score 0.0 with no CVSS entries means "not scored", not CVSS 0.
    expect(untriaged.cvss).toBeUndefined();
    expect(scan.counts).toEqual({ Critical: 0, High: 0, Medium: 1, Low: 0, Negligible: 1 });
  });

  it('asks for a digest when neither imageId nor any finding names one', () => {
    const e = validationError(() =>
      ecrReportToScans(
        { registryId: '123456789012', repositoryName: 'r', imageId: { imageTag: 'latest' } },
        { now: NOW, region: 'us-east-1' },
      ),
    );
    expect(detailPaths(e)).toEqual(['imageId.imageDigest']);
  });
});

describe('ecrReportToScans: bad input', () => {
  it.each([null, 42, 'x', {}, { imageScanFindings: {} }, [{}], { registryId: '12', repositoryName: 'r' }])(
    'rejects %j with a ValidationError',
    (body) => {
      validationError(() =>
        ecrReportToScans(body, {
          now: NOW,
          region: 'us-east-1',
        }),
      );
    },
  );
});

describe('ecrScanStatus', () => {
  it.each([
    ['COMPLETE', 'Scanned'],
    ['ACTIVE', 'Scanned'],
    ['IN_PROGRESS', 'Pending'],
    ['PENDING', 'Pending'],
    ['FAILED', 'Failed'],
    ['SCAN_ELIGIBILITY_EXPIRED', 'Failed'],
    ['FINDINGS_UNAVAILABLE', 'Failed'],
    ['UNSUPPORTED_IMAGE', 'Unsupported'],
    ['complete', 'Scanned'],
  ] as const)('maps %s to %s', (status, expected) => {
    expect(ecrScanStatus(status).status).toBe(expected);
  });

  it('keeps the status word when ECR gives no description, and flags an unknown status', () => {
    expect(ecrScanStatus('PENDING')).toEqual({ status: 'Pending', statusReason: 'PENDING' });
    expect(ecrScanStatus('SOMETHING_NEW', 'why')).toEqual({
      status: 'Failed',
      statusReason: 'ECR scan status SOMETHING_NEW: why',
    });
  });
});
