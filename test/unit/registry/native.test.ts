import { describe, expect, it } from 'vitest';
import { grypeReportToScans } from '../../../adapters/registry/grype.js';
import { nativeReportToScans } from '../../../adapters/registry/native.js';
import {
  DIGEST_A,
  DIGEST_B,
  detailPaths,
  expectValidScans,
  loadScanFixture,
  NOW,
  validationError,
} from './helpers.js';

const entry = (more: Record<string, unknown> = {}) => ({
  registry: 'ghcr.io',
  repository: 'acme/api',
  digest: DIGEST_A,
  tags: ['1.4', 'latest'],
  vulnerabilities: [],
  ...more,
});

describe('nativeReportToScans', () => {
  it('converts entries with normalized severities and computed counts, ignoring counts sent in', () => {
    const scans = nativeReportToScans(
      {
        images: [
          entry({
            status: 'Scanned',
            scannedAt: '2025-05-30T08:00:00+02:00',
            counts: { Critical: 99, High: 0, Medium: 0, Low: 0, Negligible: 0 },
            vulnerabilities: [
              {
                id: 'CVE-2023-38545',
                severity: 'CRITICAL',
                package: 'curl',
                version: '8.3.0',
                fixedVersion: '8.4.0',
              },
              { id: 'CVE-2023-38545', severity: 'high', package: 'libcurl' },
              { id: 'CVE-2019-3462', severity: 'Moderate', package: 'apt', fixAvailable: false },
              { id: 'ALAS-1', severity: 'UNTRIAGED' },
            ],
          }),
        ],
      },
      { now: NOW },
    );
    expectValidScans(scans);
    expect(scans).toHaveLength(1);
    expect(scans[0]).toMatchObject({
      registry: 'ghcr.io',
      repository: 'acme/api',
      source: 'native',
      status: 'Scanned',
      scannedAt: '2025-05-30T06:00:00.000Z',
      counts: { Critical: 1, High: 0, Medium: 1, Low: 0, Negligible: 1 },
    });
    expect(scans[0]!.vulnerabilities).toEqual([
      {
        id: 'CVE-2023-38545',
        severity: 'Critical',
        package: 'curl',
        version: '8.3.0',
        fixedVersion: '8.4.0',
        fixAvailable: true,
      },
      { id: 'CVE-2023-38545', severity: 'High', package: 'libcurl' },
      {
        id: 'CVE-2019-3462',
        severity: 'Medium',
        originalSeverity: 'Moderate',
        package: 'apt',
        fixAvailable: false,
      },
      { id: 'ALAS-1', severity: 'Negligible', originalSeverity: 'UNTRIAGED' },
    ]);
  });

  it('defaults status to Scanned, scannedAt to now, tags and vulnerabilities to empty', () => {
    const [scan] = nativeReportToScans(
      { images: [{ registry: 'ghcr.io', repository: 'acme/api', digest: DIGEST_A }] },
      { now: NOW },
    );
    expect(scan).toMatchObject({
      status: 'Scanned',
      scannedAt: NOW.toISOString(),
      tags: [],
      vulnerabilities: [],
    });
  });

  it('keeps a Pending entry and its reason', () => {
    const [scan] = nativeReportToScans(
      { images: [entry({ status: 'Pending', statusReason: 'queued' })] },
      { now: NOW },
    );
    expect(scan).toMatchObject({ status: 'Pending', statusReason: 'queued' });
  });

  it('normalizes Docker Hub names the way admission does', () => {
    const [scan] = nativeReportToScans(
      { images: [entry({ registry: 'index.docker.io', repository: 'nginx' })] },
      { now: NOW },
    );
    expect(scan).toMatchObject({ registry: 'docker.io', repository: 'library/nginx' });
  });

  it('round-trips a scan as GET /images/{digest} returns it', () => {
    const [grype] = grypeReportToScans(loadScanFixture('grype-alpine-3.17.2.json'), { now: NOW });
    const [scan] = nativeReportToScans({ images: [grype] }, { now: NOW });
    expect(scan).toEqual({ ...grype, source: 'native' });
  });

  it.each([
    [{ images: [entry({ extra: 1 })] }, 'images.0'],
    [{ images: [entry()], more: true }, ''],
    [{ images: [entry({ digest: 'sha256:xyz' })] }, 'images.0.digest'],
    [{ images: [entry({ status: 'scanned' })] }, 'images.0.status'],
    [{ images: [entry({ tags: ['-bad'] })] }, 'images.0.tags.0'],
    [{ images: [entry({ scannedAt: 'yesterday' })] }, 'images.0.scannedAt'],
    [
      { images: [entry({ vulnerabilities: [{ id: 'CVE-1', severity: 'SEVERE' }] })] },
      'images.0.vulnerabilities.0.severity',
    ],
    [
      { images: [entry({ vulnerabilities: [{ id: 'CVE-1', severity: 'High', cvss: 11 }] })] },
      'images.0.vulnerabilities.0.cvss',
    ],
    [
      { images: [entry({ vulnerabilities: [{ id: ' ', severity: 'High' }] })] },
      'images.0.vulnerabilities.0.id',
    ],
    [{ images: [entry({ vulnerabilities: [{ severity: 'High' }] })] }, 'images.0.vulnerabilities.0.id'],
    [{ images: [entry({ registry: 'myregistry' })] }, 'images.0.registry'],
    [{ images: [entry({ repository: 'Acme/API' })] }, 'images.0.repository'],
    [{ images: [entry(), entry({ repository: 'acme/other' })] }, 'images.1.digest'],
    [{ images: null }, 'images'],
    [{}, 'images'],
  ])('rejects %j at %s', (body, path) => {
    const e = validationError(() => nativeReportToScans(body, { now: NOW }));
    expect(detailPaths(e)).toContain(path);
  });

  it('refuses the image option: each entry names its own image', () => {
    const e = validationError(() =>
      nativeReportToScans({ images: [entry()] }, { now: NOW, image: `x/y@${DIGEST_B}` }),
    );
    expect(detailPaths(e)).toEqual(['image']);
  });
});
