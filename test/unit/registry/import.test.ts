import { describe, expect, it } from 'vitest';
import { IMPORT_FORMATS, parseReport } from '../../../adapters/registry/import.js';
import { ValidationError } from '../../../core/errors.js';
import {
  DIGEST_A,
  detailPaths,
  expectValidScans,
  loadCloudFixture,
  loadScanFixture,
  NOW,
  validationError,
} from './helpers.js';

const image = `ghcr.io/acme/api:1.4@${DIGEST_A}`;

describe('parseReport', () => {
  it('lists the formats it accepts', () => {
    expect(IMPORT_FORMATS).toEqual([
      'native',
      'trivy',
      'grype',
      'ecr',
      'inspector2',
      'azure-resource-graph',
      'grafeas',
    ]);
  });

  it('dispatches by format, case-insensitively', () => {
    const [trivy] = parseReport('Trivy', loadScanFixture('trivy-legacy-debian-10.8.json'), {
      now: NOW,
      image,
    });
    expect(trivy!.source).toBe('trivy');
    const [grype] = parseReport('grype', loadScanFixture('grype-alpine-3.17.2.json'), {
      now: NOW,
      region: 'eu-west-1',
    });
    expect(grype!.source).toBe('grype');
    const native = parseReport('native', { images: [] }, { now: NOW });
    expect(native).toEqual([]);
  });

  it.each([
    ['ecr', 'ecr/official-example-basic-cli-output.json', 'ecr'],
    ['ECR', 'ecr/official-example-enhanced-api-reference.json', 'ecr'],
    ['inspector2', 'inspector/constructed-list-findings-ecr.json', 'inspector2'],
    ['azure-resource-graph', 'azure/official-example-subassessment-rows-gcp-registry.json', 'acr'],
    ['grafeas', 'gcp/public-capture-sedg-gar-occurrence.json', 'gar'],
  ])('dispatches the cloud format %s', (format, fixture, source) => {
    const scans = parseReport(format, loadCloudFixture(fixture), { now: NOW, region: ' eu-west-1 ' });
    expect(scans.length).toBeGreaterThan(0);
    expectValidScans(scans);
    for (const scan of scans) expect(scan.source).toBe(source);
  });

  it('passes the region through to ecr, which needs it', () => {
    const body = loadCloudFixture('ecr/official-example-basic-cli-output.json');
    expect(parseReport('ecr', body, { now: NOW, region: 'ap-south-1' })[0]!.registry).toBe(
      '123456789012.dkr.ecr.ap-south-1.amazonaws.com',
    );
    expect(detailPaths(validationError(() => parseReport('ecr', body, { now: NOW, region: ' ' })))).toEqual([
      'region',
    ]);
  });

  it('treats a blank image option as absent', () => {
    const e = validationError(() =>
      parseReport('trivy', loadScanFixture('trivy-legacy-debian-10.8.json'), { now: NOW, image: ' ' }),
    );
    expect(e.message).toContain('pass image=REGISTRY/REPO:TAG@sha256:...');
  });

  it.each(['sarif', 'ecr-basic', '', 'toString', '__proto__'])('rejects the unknown format %j', (format) => {
    const e = validationError(() => parseReport(format, {}, { now: NOW }));
    expect(e.message).toMatch(/unknown import format/);
    expect(detailPaths(e)).toEqual(['format']);
  });

  it('does not mistake one format for another', () => {
    expect(() =>
      parseReport('grype', loadScanFixture('trivy-v2-alpine-3.10.2.golden.json'), { now: NOW, image }),
    ).toThrow(ValidationError);
    expect(() =>
      parseReport('trivy', loadScanFixture('grype-alpine-3.17.2.json'), { now: NOW, image }),
    ).toThrow(ValidationError);
    expect(() => parseReport('native', loadScanFixture('grype-alpine-3.17.2.json'), { now: NOW })).toThrow(
      ValidationError,
    );
  });
});

/** Bodies that are not reports, or barely are. Each must give a ValidationError or a valid scan. */
const HOSTILE: unknown[] = [
  null,
  undefined,
  42,
  'a string',
  true,
  [],
  [null],
  [42],
  {},
  { Results: [] },
  { SchemaVersion: 3, Results: [] },
  { SchemaVersion: '2', Results: [] },
  { SchemaVersion: 2 },
  { SchemaVersion: 2, Results: null },
  { SchemaVersion: 2, Results: 'none' },
  { SchemaVersion: 2, Results: [null] },
  { SchemaVersion: 2, Results: [{ Vulnerabilities: null }] },
  { SchemaVersion: 2, Results: [{ Vulnerabilities: {} }] },
  { SchemaVersion: 2, Results: [{ Vulnerabilities: [null] }] },
  { SchemaVersion: 2, Results: [{ Vulnerabilities: [{}] }] },
  { SchemaVersion: 2, Results: [{ Vulnerabilities: [{ VulnerabilityID: 'CVE-1', Severity: 5 }] }] },
  {
    SchemaVersion: 2,
    Results: [{ Vulnerabilities: [{ VulnerabilityID: 'CVE-1', Severity: 'constructor' }] }],
  },
  { SchemaVersion: 2, Results: [{ Vulnerabilities: [{ VulnerabilityID: 'CVE-1', CVSS: { nvd: 'x' } }] }] },
  {
    SchemaVersion: 2,
    Results: [
      { Vulnerabilities: [{ VulnerabilityID: 'CVE-1', CVSS: { nvd: null, __proto__: { V3Score: 9 } } }] },
    ],
  },
  { SchemaVersion: 2, Metadata: { RepoDigests: [42, null, '@@@'] }, Results: [] },
  {
    SchemaVersion: 2,
    Results: [{ ExperimentalModifiedFindings: [{ Type: 'vulnerability', Finding: null }] }],
  },
  [{ Target: 'x', Vulnerabilities: null }],
  { matches: null },
  { matches: [] },
  { matches: [{}] },
  { matches: [null] },
  { matches: [], source: { target: 42 } },
  { matches: [], source: null, descriptor: { timestamp: 'not a time' } },
  { Content: null },
  { Content: 'not json' },
  { Content: '[]' },
  { Content: { matches: 'x' }, ID: 42 },
  { images: [null] },
  { images: 'x' },
  { images: [{ registry: {}, repository: [], digest: 1 }] },
];

describe.each(['trivy', 'grype', 'native'])('parseReport(%j) on hostile input', (format) => {
  it.each(HOSTILE.map((body) => [JSON.stringify(body) ?? String(body), body]))(
    'answers %s with a ValidationError or a valid scan, never a TypeError',
    (_, body) => {
      const options = format === 'native' ? { now: NOW } : { now: NOW, image };
      let scans: unknown;
      try {
        scans = parseReport(format, body, options);
      } catch (e) {
        expect(e).toBeInstanceOf(ValidationError);
        expect((e as ValidationError).message.length).toBeGreaterThan(0);
        return;
      }
      expect(Array.isArray(scans)).toBe(true);
      expectValidScans(scans as never);
    },
  );
});

/** Near misses of the cloud payloads: wrong types where the real ones have objects, arrays or strings. */
const HOSTILE_CLOUD: unknown[] = [
  ...HOSTILE,
  { registryId: 123, repositoryName: 'r' },
  { registryId: '123456789012', repositoryName: 'r', imageId: { imageDigest: 'sha256:zz' } },
  {
    registryId: '123456789012',
    repositoryName: 'r',
    imageScanFindings: { findings: [{ name: 'CVE-1', attributes: 'x' }] },
  },
  {
    registryId: '123456789012',
    repositoryName: 'r',
    imageScanFindings: { enhancedFindings: [{ resources: 'x' }] },
  },
  {
    findings: [
      { severity: 'HIGH', packageVulnerabilityDetails: { vulnerabilityId: 'CVE-1' }, resources: [{}] },
    ],
  },
  {
    findings: [
      {
        severity: 'HIGH',
        packageVulnerabilityDetails: { vulnerabilityId: 'CVE-1', vulnerablePackages: [{ name: 5 }] },
        resources: [{ details: { awsEcrContainerImage: { imageHash: 'sha256:1', repositoryName: 'r' } } }],
      },
    ],
  },
  { 'detail-type': 'Inspector2 Finding', detail: null },
  { data: [{ properties: { additionalData: { artifactDetails: { digest: 'sha256:1', tags: 'x' } } } }] },
  {
    data: [{ properties: { additionalData: { artifactDetails: { digest: 'nope', registryHost: 'a.io' } } } }],
  },
  { data: { columns: 'x', rows: [] } },
  { occurrences: [{ resourceUri: 'https://a.io/r@sha256:1', kind: 'VULNERABILITY', vulnerability: 'x' }] },
  { occurrences: [{ resourceUri: 42 }] },
  { package_vulnerability_summary: { vulnerabilities: { HIGH: 'x' } } },
];

describe.each(['ecr', 'inspector2', 'azure-resource-graph', 'grafeas'])(
  'parseReport(%j) on hostile input',
  (format) => {
    it.each(HOSTILE_CLOUD.map((body) => [JSON.stringify(body) ?? String(body), body]))(
      'answers %s with a ValidationError or valid scans, never a TypeError',
      (_, body) => {
        let scans: unknown;
        try {
          scans = parseReport(format, body, { now: NOW, region: 'us-east-1' });
        } catch (e) {
          expect(e).toBeInstanceOf(ValidationError);
          return;
        }
        expect(Array.isArray(scans)).toBe(true);
        expectValidScans(scans as never);
      },
    );
  },
);

describe('clean targets and empty reports', () => {
  it.each([
    [
      'trivy',
      {
        SchemaVersion: 2,
        ArtifactName: 'alpine:3.19',
        Results: [{ Target: 'alpine', Vulnerabilities: null }],
      },
    ],
    ['trivy', { SchemaVersion: 2, ArtifactName: 'alpine:3.19' }],
    ['trivy', [{ Target: 'alpine (alpine 3.19)', Type: 'alpine', Vulnerabilities: null }]],
    ['trivy', []],
    ['grype', { matches: [] }],
    ['grype', { matches: null }],
  ])('%s %j is a scan with no vulnerabilities', (format, body) => {
    const [scan] = parseReport(format, body, { now: NOW, image });
    expect(scan).toMatchObject({ digest: DIGEST_A, status: 'Scanned', vulnerabilities: [] });
    expect(scan!.counts).toEqual({ Critical: 0, High: 0, Medium: 0, Low: 0, Negligible: 0 });
  });

  it.each([
    [
      'trivy',
      { SchemaVersion: 2, Results: [{ Vulnerabilities: [{}] }] },
      'Results.0.Vulnerabilities.0.VulnerabilityID',
    ],
    [
      'trivy',
      {
        SchemaVersion: 2,
        Results: [{ Vulnerabilities: [{ VulnerabilityID: 'CVE-1', Severity: 'SEVERE' }] }],
      },
      'Results.0.Vulnerabilities.0.Severity',
    ],
    [
      'trivy',
      {
        SchemaVersion: 2,
        Results: [
          { ExperimentalModifiedFindings: [{ Type: 'vulnerability', Finding: { Severity: 'LOW' } }] },
        ],
      },
      'Results.0.ExperimentalModifiedFindings.0.Finding.VulnerabilityID',
    ],
    ['trivy', { SchemaVersion: 3 }, 'SchemaVersion'],
    ['trivy', [{ Vulnerabilities: 'none' }], '0.Vulnerabilities'],
    ['grype', { matches: [{ vulnerability: { id: 'CVE-1', severity: 'High' } }] }, 'matches.0.artifact'],
    ['grype', { Content: { matches: [{}] } }, 'matches.0.vulnerability'],
  ])('%s: names the offending field of %j', (format, body, path) => {
    const e = validationError(() => parseReport(format, body, { now: NOW, image }));
    expect(detailPaths(e)).toContain(path);
    expect(e.message).toContain(path);
  });
});
