import { describe, expect, it } from 'vitest';
import { inspector2ReportToScans } from '../../../adapters/registry/inspector2.js';
import { expectValidScans, loadCloudFixture, NOW, validationError } from './helpers.js';

const API = 'sha256:aaaa000000000000000000000000000000000000000000000000000000000001';
const WORKER = 'sha256:bbbb000000000000000000000000000000000000000000000000000000000002';

describe('inspector2ReportToScans', () => {
  const scans = inspector2ReportToScans(loadCloudFixture('inspector/constructed-list-findings-ecr.json'), {
    now: NOW,
  });

  it('makes one scan per ECR image and leaves findings on other resources out', () => {
    expectValidScans(scans);
    expect(scans.map((s) => [s.registry, s.repository, s.digest, s.tags, s.source])).toEqual([
      [
        '111122223333.dkr.ecr.us-east-1.amazonaws.com',
        'payments/api',
        API,
        ['1.4.2', 'stable'],
        'inspector2',
      ],
      [
        '111122223333.dkr.ecr.us-east-1.amazonaws.com',
        'reports/worker',
        WORKER,
        ['2024-06-01'],
        'inspector2',
      ],
    ]);
  });

  it('splits a finding per vulnerable package, with versions as the package manager writes them', () => {
    const api = scans[0]!;
    expect(api.vulnerabilities.filter((v) => v.id === 'CVE-2023-38545')).toEqual([
      {
        id: 'CVE-2023-38545',
        severity: 'Critical',
        cvss: 9.8,
        package: 'curl',
        version: '7.74.0-1.3+deb11u7',
        fixedVersion: '0:7.74.0-1.3+deb11u10',
        fixAvailable: true,
        title: 'CVE-2023-38545 - curl, libcurl4',
      },
      {
        id: 'CVE-2023-38545',
        severity: 'Critical',
        cvss: 9.8,
        package: 'libcurl4',
        version: '7.74.0-1.3+deb11u7',
        fixedVersion: '0:7.74.0-1.3+deb11u10',
        fixAvailable: true,
        title: 'CVE-2023-38545 - curl, libcurl4',
      },
    ]);
  });

  it('reads fixAvailable PARTIAL per package and a mixed-case severity', () => {
    const glibc = scans[0]!.vulnerabilities.filter((v) => v.id === 'CVE-2023-99999');
    expect(glibc.map((v) => [v.package, v.severity, v.fixAvailable, v.fixedVersion, v.cvss])).toEqual([
      ['libc6', 'Medium', true, '0:2.31-13+deb11u7', 6.5],
      ['libc-bin', 'Medium', false, undefined, 6.5],
    ]);
  });

  it('keeps SUPPRESSED and CLOSED findings with their state, and they do not count', () => {
    const [api, worker] = scans;
    expect(api!.vulnerabilities.find((v) => v.id === 'CVE-2019-3462')).toMatchObject({
      severity: 'High',
      state: 'Suppressed',
      fixAvailable: false,
    });
    expect(api!.counts).toEqual({ Critical: 1, High: 0, Medium: 1, Low: 0, Negligible: 0 });
    expect(worker!.vulnerabilities).toEqual([
      {
        id: 'GHSA-jfh8-c2jp-5v3q',
        severity: 'Negligible',
        originalSeverity: 'UNTRIAGED',
        package: 'log4j-core',
        version: '2.14.1',
        fixedVersion: '2.15.0',
        fixAvailable: true,
        state: 'Closed',
        title: 'GHSA-jfh8-c2jp-5v3q - log4j-core',
      },
    ]);
    expect(worker!.counts).toEqual({ Critical: 0, High: 0, Medium: 0, Low: 0, Negligible: 0 });
  });

  it('dates a scan by the last time Inspector observed its findings (epoch seconds on the wire)', () => {
    expect(scans[0]!.scannedAt).toBe('2024-06-02T00:00:00.456Z');
    expect(scans[1]!.scannedAt).toBe(new Date(1716500000 * 1000).toISOString());
  });

  it('reads an EventBridge event, with its "Wed Sep 04 16:55:38.411 UTC 2024" timestamps', () => {
    const event = loadCloudFixture('inspector/official-example-eventbridge-ecr-finding.json');
    const [scan] = inspector2ReportToScans(event, { now: NOW });
    expectValidScans([scan!]);
    expect(scan).toMatchObject({
      registry: '123456789012.dkr.ecr.eu-central-1.amazonaws.com',
      repository: 'inspector2',
      digest: 'sha256:84f507df33c6864d49c296fb734192696e4cb6f78166ac51ac8b9b118181085d',
      tags: ['ubuntu_latest'],
      scannedAt: '2024-09-04T16:55:38.411Z',
    });
    expect(scan!.vulnerabilities.map((v) => [v.package, v.version, v.fixedVersion])).toEqual([
      ['libssl3t64', '3.0.13-0ubuntu3.2', '0:3.0.13-0ubuntu3.4'],
      ['openssl', '3.0.13-0ubuntu3.2', '0:3.0.13-0ubuntu3.4'],
    ]);
    // The same finding as a bare array of findings gives the same scan.
    expect(inspector2ReportToScans([(event as { detail: unknown }).detail], { now: NOW })).toEqual([scan]);
  });

  it('accepts the findings of an empty account', () => {
    expect(inspector2ReportToScans({ findings: [] }, { now: NOW })).toEqual([]);
  });

  it.each([
    null,
    'findings',
    { findings: 'none' },
    { findings: [{ severity: 'SEVERE' }] },
    { 'detail-type': 'EC2 Instance State-change Notification', detail: {} },
    { findings: [{ severity: 'HIGH', packageVulnerabilityDetails: { vulnerabilityId: '' } }] },
  ])('rejects %j', (body) => {
    validationError(() => inspector2ReportToScans(body, { now: NOW }));
  });
});
