import { DescribeRepositoriesCommand, ECRClient } from '@aws-sdk/client-ecr';
import {
  type CoveredResource,
  Inspector2Client,
  ListCoverageCommand,
  type ListCoverageCommandInput,
  ListFindingsCommand,
  type ListFindingsCommandInput,
} from '@aws-sdk/client-inspector2';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEcrConnector } from '../../../adapters/registry/connectors/ecr.js';
import { coverageStatus, imageFromArn } from '../../../adapters/registry/connectors/inspector.js';
import { RegistryApiError } from '../../../adapters/registry/connectors/retry.js';
import { parseReport } from '../../../adapters/registry/import.js';
import { expectValidScans, loadCloudFixture } from './helpers.js';
import {
  byDigest,
  expectWellFormedBatches,
  instantRetry,
  registryConfig,
  runSync,
  SYNC_NOW,
} from './sync-helpers.js';

const ACCOUNT = '111122223333';
const API = 'sha256:aaaa000000000000000000000000000000000000000000000000000000000001';
const WORKER = 'sha256:bbbb000000000000000000000000000000000000000000000000000000000002';
const d = (c: string) => `sha256:${c.repeat(64)}`;
const [PENDING, UNSUPPORTED, CLEAN, GONE, DELETED] = ['1', '2', '3', '4', '5'].map(d) as [
  string,
  string,
  string,
  string,
  string,
];

const SETTINGS = { region: 'us-east-1', registryId: ACCOUNT, scanning: 'enhanced' };
const arn = (repo: string, digest: string) => `arn:aws:ecr:us-east-1:${ACCOUNT}:repository/${repo}/${digest}`;

type Json = Record<string, unknown>;

/** The ListFindings fixture as the SDK returns it: epoch seconds become Dates. */
function sdkFindings(): Json[] {
  const revive = (value: unknown, key = ''): unknown => {
    if (Array.isArray(value)) return value.map((v) => revive(v));
    if (typeof value === 'object' && value !== null) {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, revive(v, k)]));
    }
    return typeof value === 'number' && /(At)$/.test(key) ? new Date(value * 1000) : value;
  };
  const fixture = loadCloudFixture('inspector/constructed-list-findings-ecr.json') as { findings: Json[] };
  return revive(fixture.findings) as Json[];
}

function covered(repo: string, digest: string, extra: Partial<CoveredResource>): CoveredResource {
  return {
    resourceType: 'AWS_ECR_CONTAINER_IMAGE',
    resourceId: arn(repo, digest),
    accountId: ACCOUNT,
    scanType: 'PACKAGE',
    scanStatus: { statusCode: 'ACTIVE', reason: 'SUCCESSFUL' },
    ...extra,
  };
}

function coverageOf(): Record<string, CoveredResource[]> {
  return {
    'payments/api': [
      covered('payments/api', API, {
        lastScannedAt: new Date('2024-06-01T23:00:00Z'),
        resourceMetadata: { ecrImage: { tags: ['1.4.2', 'stable'] } },
      }),
      covered('payments/api', PENDING, {
        scanStatus: { statusCode: 'ACTIVE', reason: 'PENDING_INITIAL_SCAN' },
      }),
      covered('payments/api', UNSUPPORTED, {
        scanStatus: { statusCode: 'INACTIVE', reason: 'UNSUPPORTED_OS' },
        resourceMetadata: { ecrImage: { tags: ['windows'] } },
      }),
    ],
    'reports/worker': [
      covered('reports/worker', WORKER, {
        lastScannedAt: new Date('2024-05-23T21:33:20Z'),
        resourceMetadata: { ecrImage: { tags: ['2024-06-01'] } },
      }),
      covered('reports/worker', CLEAN, { lastScannedAt: new Date('2024-06-02T01:00:00Z') }),
      covered('reports/worker', GONE, {
        scanStatus: { statusCode: 'INACTIVE', reason: 'RESOURCE_TERMINATED' },
      }),
    ],
  };
}

describe('ECR connector, enhanced scanning through Inspector', () => {
  const ecr = mockClient(ECRClient);
  const inspector = mockClient(Inspector2Client);
  let findings: Json[];
  let changed: Json[];
  let coverage: Record<string, CoveredResource[]>;
  let failCoverageOf: string | undefined;
  let throttleCoverageOnce: boolean;

  const hashOf = (f: Json) =>
    ((f.resources as Json[])[0]?.details as { awsEcrContainerImage?: { imageHash: string } } | undefined)
      ?.awsEcrContainerImage?.imageHash;

  beforeEach(() => {
    findings = sdkFindings();
    changed = [];
    coverage = coverageOf();
    failCoverageOf = undefined;
    throttleCoverageOnce = false;
    ecr.reset();
    inspector.reset();
    ecr.on(DescribeRepositoriesCommand).resolves({
      repositories: [
        { repositoryName: 'reports/worker', registryId: ACCOUNT },
        { repositoryName: 'payments/api', registryId: ACCOUNT },
      ],
    });
    inspector.on(ListFindingsCommand).callsFake((input: ListFindingsCommandInput) => {
      const criteria = input.filterCriteria ?? {};
      const hash = criteria.ecrImageHash?.[0]?.value;
      const all = criteria.updatedAt
        ? changed
        : findings.filter((f) => hash !== undefined && hashOf(f) === hash);
      // Two findings a page, to make the per-image listing page.
      const start = Number(input.nextToken ?? 0);
      const next = start + 2 < all.length ? String(start + 2) : undefined;
      return { findings: all.slice(start, start + 2), nextToken: next };
    });
    inspector.on(ListCoverageCommand).callsFake((input: ListCoverageCommandInput) => {
      const repo = input.filterCriteria?.ecrRepositoryName?.[0]?.value ?? '';
      if (repo === failCoverageOf) {
        throw Object.assign(new Error('not authorized'), {
          name: 'AccessDeniedException',
          $metadata: { httpStatusCode: 403 },
        });
      }
      if (throttleCoverageOnce) {
        throttleCoverageOnce = false;
        throw Object.assign(new Error('Rate exceeded'), {
          name: 'ThrottlingException',
          $metadata: { httpStatusCode: 429 },
        });
      }
      if (input.nextToken !== undefined && !/^\d+$/.test(input.nextToken)) {
        throw Object.assign(new Error('The provided nextToken is expired or invalid'), {
          name: 'ValidationException',
          $metadata: { httpStatusCode: 400 },
        });
      }
      const all = coverage[repo] ?? [];
      const start = Number(input.nextToken ?? 0);
      return {
        coveredResources: all.slice(start, start + 2),
        nextToken: start + 2 < all.length ? String(start + 2) : undefined,
      };
    });
  });

  afterEach(() => {
    ecr.reset();
    inspector.reset();
  });

  const connector = (retry = instantRetry()) =>
    createEcrConnector(registryConfig('ecr', SETTINGS), {
      ecr: new ECRClient({ region: 'us-east-1' }),
      inspector: new Inspector2Client({ region: 'us-east-1' }),
      retry,
    });

  it('makes complete scans from every finding of each covered image, and reports coverage status', async () => {
    throttleCoverageOnce = true;
    const retry = instantRetry();
    const out = await runSync(connector(retry));
    expect(out.error).toBeUndefined();
    expect(retry.waits).toHaveLength(1);
    expectValidScans(out.scans);
    expectWellFormedBatches(out.batches);
    const scans = byDigest(out.scans);
    expect(
      [...scans.values()].map((s) => [s.repository, s.digest, s.status, s.statusReason, s.source]),
    ).toEqual([
      ['payments/api', API, 'Scanned', undefined, 'inspector2'],
      ['payments/api', PENDING, 'Pending', 'PENDING_INITIAL_SCAN', 'inspector2'],
      ['payments/api', UNSUPPORTED, 'Unsupported', 'UNSUPPORTED_OS', 'inspector2'],
      ['reports/worker', WORKER, 'Scanned', undefined, 'inspector2'],
      ['reports/worker', CLEAN, 'Scanned', undefined, 'inspector2'],
    ]);
    const api = scans.get(API)!;
    // Three findings over two pages: curl and libcurl4, libc6 and libc-bin, and the suppressed apt.
    expect(api.vulnerabilities).toHaveLength(5);
    expect(api.counts).toEqual({ Critical: 1, High: 0, Medium: 1, Low: 0, Negligible: 0 });
    expect(scans.get(CLEAN)).toMatchObject({ vulnerabilities: [], scannedAt: '2024-06-02T01:00:00.000Z' });
    expect(scans.get(UNSUPPORTED)!.tags).toEqual(['windows']);
    // A full sync needs no "changed since" listing.
    expect(
      inspector.commandCalls(ListFindingsCommand).some((c) => c.args[0].input.filterCriteria?.updatedAt),
    ).toBe(false);
  });

  it('yields the same scans as importing the same ListFindings output', async () => {
    const out = await runSync(connector());
    const synced = byDigest(out.scans);
    const imported = parseReport(
      'inspector2',
      loadCloudFixture('inspector/constructed-list-findings-ecr.json'),
      {
        now: SYNC_NOW,
      },
    );
    expect(imported.map((s) => s.digest)).toEqual([API, WORKER]);
    for (const scan of imported) expect(synced.get(scan.digest)).toEqual(scan);
  });

  it('on the next run fetches images whose findings changed or that were rescanned, and no others', async () => {
    const first = await runSync(connector());
    inspector.resetHistory();
    // A suppression rule hides the glibc finding of the API image: no scan time moves.
    const glibc = findings.find(
      (f) => (f.packageVulnerabilityDetails as Json).vulnerabilityId === 'CVE-2023-99999',
    )!;
    glibc.status = 'SUPPRESSED';
    glibc.updatedAt = new Date('2024-06-02T12:05:00Z');
    changed = [glibc];
    const second = await runSync(connector(), {
      checkpoint: first.checkpoint!,
      now: new Date('2024-06-02T12:15:00Z'),
    });
    expect(second.error).toBeUndefined();
    expect(second.scans.map((s) => [s.digest, s.status])).toEqual([
      [API, 'Scanned'],
      [PENDING, 'Pending'],
      [UNSUPPORTED, 'Unsupported'],
    ]);
    expect(second.scans[0]!.counts).toEqual({ Critical: 1, High: 0, Medium: 0, Low: 0, Negligible: 0 });
    const updated = inspector
      .commandCalls(ListFindingsCommand)
      .find((c) => c.args[0].input.filterCriteria?.updatedAt);
    expect(updated?.args[0].input.filterCriteria).toMatchObject({
      resourceType: [{ comparison: 'EQUALS', value: 'AWS_ECR_CONTAINER_IMAGE' }],
      ecrImageRegistry: [{ comparison: 'EQUALS', value: ACCOUNT }],
      updatedAt: [{ startInclusive: new Date('2024-06-02T11:50:00Z') }],
    });
  });

  it('on the next run reports the current tags of unchanged images, so that a moved tag is seen', async () => {
    const first = await runSync(connector());
    // `stable` moves from the API image to the clean worker image: no finding, no scan changes.
    coverage['payments/api']![0]!.resourceMetadata = { ecrImage: { tags: ['1.4.2'] } };
    coverage['reports/worker']![1]!.resourceMetadata = { ecrImage: { tags: ['stable'] } };
    const second = await runSync(connector(), {
      checkpoint: first.checkpoint!,
      now: new Date('2024-06-02T12:15:00Z'),
    });
    expect(second.error).toBeUndefined();
    const host = `${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`;
    expect(second.batches.flatMap((b) => b.tags ?? [])).toEqual([
      { registry: host, repository: 'payments/api', digest: API, source: 'inspector2', tags: ['1.4.2'] },
      {
        registry: host,
        repository: 'reports/worker',
        digest: WORKER,
        source: 'inspector2',
        tags: ['2024-06-01'],
      },
      { registry: host, repository: 'reports/worker', digest: CLEAN, source: 'inspector2', tags: ['stable'] },
    ]);
    expect(second.scans.map((s) => s.status)).toEqual(['Pending', 'Unsupported']);
  });

  it('delivers an image whose findings changed after it left coverage', async () => {
    const deleted = structuredClone(findings[3]!) as Json;
    (((deleted.resources as Json[])[0]!.details as Json).awsEcrContainerImage as Json).imageHash = DELETED;
    (deleted.resources as Json[])[0]!.id = arn('reports/worker', DELETED);
    findings.push(deleted);
    changed = [deleted];
    const since = JSON.stringify({ v: 1, since: '2024-06-02T00:00:00.000Z' });
    const out = await runSync(connector(), { checkpoint: since });
    expect(out.scans.find((s) => s.digest === DELETED)).toMatchObject({
      status: 'Scanned',
      repository: 'reports/worker',
    });
  });

  it('delivers many such images in bounded batches', async () => {
    for (let i = 0; i < 450; i++) {
      const f = structuredClone(findings[3]!) as Json;
      const hash = `sha256:${(0x9000 + i).toString(16).padStart(64, '0')}`;
      (((f.resources as Json[])[0]!.details as Json).awsEcrContainerImage as Json).imageHash = hash;
      (f.resources as Json[])[0]!.id = arn('reports/worker', hash);
      findings.push(f);
      changed.push(f);
    }
    const out = await runSync(connector(), {
      checkpoint: JSON.stringify({ v: 1, since: '2024-06-02T00:00:00.000Z' }),
    });
    expect(out.error).toBeUndefined();
    expectWellFormedBatches(out.batches);
    const left = (b: { scans: { digest: string }[] }) =>
      b.scans.filter((s) => /^sha256:0{60}9/.test(s.digest));
    expect(out.batches.flatMap(left)).toHaveLength(450);
    // Between the batches of those images no checkpoint is saved: the repository is not done.
    expect(
      out.batches.filter((b) => left(b).length > 0).map((b) => [left(b).length, b.checkpoint !== undefined]),
    ).toEqual([
      [200, false],
      [200, false],
      [50, true],
    ]);
  });

  it('fails mid-run, then resumes with the repositories it had not finished', async () => {
    failCoverageOf = 'reports/worker';
    const failed = await runSync(connector());
    expect(failed.error).toBeInstanceOf(RegistryApiError);
    expect((failed.error as Error).message).toContain('Inspector ListCoverage (reports/worker) failed');
    failCoverageOf = undefined;
    inspector.resetHistory();
    const resumed = await runSync(connector(), { checkpoint: failed.lastSaved! });
    expect(resumed.error).toBeUndefined();
    expect(resumed.scans.map((s) => s.repository)).toEqual(['reports/worker', 'reports/worker']);
    expect(
      inspector
        .commandCalls(ListCoverageCommand)
        .map((c) => c.args[0].input.filterCriteria?.ecrRepositoryName?.[0]?.value),
    ).toEqual(['reports/worker', 'reports/worker']);
  });

  it('starts a repository over when the page token a run saved has expired', async () => {
    const saved = JSON.stringify({
      v: 1,
      startedAt: '2024-06-02T11:00:00.000Z',
      cursor: { unit: 'payments/api', token: 'expired-token' },
    });
    const out = await runSync(connector(), { checkpoint: saved });
    expect(out.error).toBeUndefined();
    // The whole of payments/api, then reports/worker: nothing of the repository is skipped.
    expect(out.scans.filter((s) => s.repository === 'payments/api').map((s) => s.digest)).toEqual([
      API,
      PENDING,
      UNSUPPORTED,
    ]);
    expect(
      inspector
        .commandCalls(ListCoverageCommand)
        .map((c) => [
          c.args[0].input.filterCriteria?.ecrRepositoryName?.[0]?.value,
          c.args[0].input.nextToken,
        ]),
    ).toEqual([
      ['payments/api', 'expired-token'],
      ['payments/api', undefined],
      ['payments/api', '2'],
      ['reports/worker', undefined],
      ['reports/worker', '2'],
    ]);
  });

  it('needs an Inspector client', () => {
    const c = createEcrConnector(registryConfig('ecr', SETTINGS), {
      ecr: new ECRClient({ region: 'us-east-1' }),
    });
    expect(() => c.sync({ signal: new AbortController().signal, now: SYNC_NOW })).toThrow(/Inspector client/);
  });
});

describe('coverageStatus', () => {
  it.each([
    ['ACTIVE', 'SUCCESSFUL', 'Scanned'],
    ['ACTIVE', 'SCAN_FREQUENCY_SCAN_ON_PUSH', 'Scanned'],
    ['ACTIVE', 'PENDING_INITIAL_SCAN', 'Pending'],
    ['ACTIVE', 'SCAN_IN_PROGRESS', 'Pending'],
    ['INACTIVE', 'UNSUPPORTED_OS', 'Unsupported'],
    ['INACTIVE', 'UNSUPPORTED_MEDIA_TYPE', 'Unsupported'],
    ['INACTIVE', 'SCAN_ELIGIBILITY_EXPIRED', 'Failed'],
    ['INACTIVE', 'ACCESS_DENIED', 'Failed'],
  ] as const)('%s / %s is %s', (statusCode, reason, status) => {
    expect(coverageStatus({ statusCode, reason })?.status).toBe(status);
  });

  it('has nothing to say of a terminated image', () => {
    expect(coverageStatus({ statusCode: 'INACTIVE', reason: 'RESOURCE_TERMINATED' })).toBeUndefined();
  });
});

describe('imageFromArn', () => {
  it('reads repository paths with slashes', () => {
    expect(imageFromArn(arn('team/sub/app', API))).toEqual({
      repository: 'team/sub/app',
      digest: API,
      region: 'us-east-1',
    });
    expect(imageFromArn('i-0123456789abcdef0')).toBeUndefined();
  });
});
