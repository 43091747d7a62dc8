import {
  DescribeImageScanFindingsCommand,
  type DescribeImageScanFindingsCommandInput,
  DescribeImagesCommand,
  type DescribeImagesCommandInput,
  DescribeRepositoriesCommand,
  ECRClient,
  type ImageDetail,
  ScanNotFoundException,
} from '@aws-sdk/client-ecr';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEcrConnector } from '../../../adapters/registry/connectors/ecr.js';
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
const HOST = `${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`;
const d = (c: string) => `sha256:${c.repeat(64)}`;
const [A, B, C, D, E, F] = ['a', 'b', 'c', 'd', 'e', 'f'].map(d) as [
  string,
  string,
  string,
  string,
  string,
  string,
];

const SETTINGS = { region: 'us-east-1', repositories: ['payments/', 'reports/'], scanning: 'basic' };

function awsError(name: string, status: number, message = name): Error {
  return Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status }, $fault: 'client' });
}

/** Two pages of DescribeImageScanFindings for image A: the CLI example, then more findings. */
function findingsPagesOfA(): Record<string, unknown>[] {
  const page1 = loadCloudFixture('ecr/official-example-basic-cli-output.json') as Record<string, unknown>;
  const page2 = loadCloudFixture('ecr/constructed-describe-image-scan-findings-basic-page2.json') as Record<
    string,
    unknown
  >;
  for (const p of [page1, page2]) {
    p.registryId = ACCOUNT;
    p.repositoryName = 'payments/api';
    p.imageId = { imageDigest: A };
  }
  // A lower-case label, as a hand-made or future payload might carry it.
  const findings = (page2.imageScanFindings as { findings: { severity: string }[] }).findings;
  findings[0]!.severity = 'critical';
  return [
    { ...page1, nextToken: 'findings-page-2' },
    { ...page2, nextToken: undefined },
  ];
}

/** What the SDK returns: Dates where the wire had epoch seconds. */
function asSdk(page: Record<string, unknown>): Record<string, unknown> {
  const findings = page.imageScanFindings as Record<string, unknown>;
  return {
    ...page,
    imageScanFindings: {
      ...findings,
      imageScanCompletedAt: new Date((findings.imageScanCompletedAt as number) * 1000),
      vulnerabilitySourceUpdatedAt: new Date((findings.vulnerabilitySourceUpdatedAt as number) * 1000),
    },
  };
}

function image(digest: string, extra: Partial<ImageDetail>): ImageDetail {
  return {
    registryId: ACCOUNT,
    imageDigest: digest,
    imagePushedAt: new Date('2024-05-01T00:00:00Z'),
    ...extra,
  };
}

const COMPLETED = new Date(1579839105 * 1000);

function imagesOf(): Record<string, ImageDetail[][]> {
  return {
    'payments/api': [
      [
        image(A, {
          imageTags: ['1.4.2', 'stable'],
          imageScanStatus: { status: 'COMPLETE', description: 'The scan was completed successfully.' },
          imageScanFindingsSummary: { imageScanCompletedAt: COMPLETED, findingSeverityCounts: { MEDIUM: 1 } },
        }),
        image(B, { imageTags: ['next'], imageScanStatus: { status: 'IN_PROGRESS' } }),
      ],
      [
        image(C, {
          imageScanStatus: {
            status: 'UNSUPPORTED_IMAGE',
            description: 'The operating system and/or package manager are not supported.',
          },
        }),
        // Pushed an hour ago, never scanned: ECR answers ScanNotFoundException.
        image(D, { imagePushedAt: new Date('2024-06-02T11:00:00Z') }),
      ],
    ],
    'reports/worker': [
      [
        image(E, {
          imageTags: ['2024-06-01'],
          imageScanStatus: { status: 'COMPLETE' },
          imageScanFindingsSummary: { imageScanCompletedAt: new Date('2024-06-01T10:00:00Z') },
        }),
        image(F, {
          imageScanStatus: { status: 'FAILED', description: 'Unable to retrieve image manifest.' },
        }),
      ],
    ],
  };
}

describe('ECR connector, basic scanning', () => {
  const ecr = mockClient(ECRClient);
  let images: Record<string, ImageDetail[][]>;
  let failImagesOf: string | undefined;
  let throttleFindingsOnce: boolean;

  beforeEach(() => {
    images = imagesOf();
    failImagesOf = undefined;
    throttleFindingsOnce = true;
    ecr.reset();
    ecr.on(DescribeRepositoriesCommand).callsFake(() => ({
      repositories: ['tools/ci', 'reports/worker', 'payments/api'].map((repositoryName) => ({
        repositoryName,
        registryId: ACCOUNT,
      })),
    }));
    ecr.on(DescribeImagesCommand).callsFake((input: DescribeImagesCommandInput) => {
      const name = input.repositoryName ?? '';
      if (name === failImagesOf) throw awsError('AccessDeniedException', 403, 'not authorized');
      const pages = images[name] ?? [];
      if (input.nextToken !== undefined && !input.nextToken.startsWith('page-')) {
        throw awsError('InvalidParameterException', 400, 'Invalid NextToken');
      }
      const index = input.nextToken === undefined ? 0 : Number(input.nextToken.slice(5));
      return {
        imageDetails: pages[index] ?? [],
        nextToken: index + 1 < pages.length ? `page-${index + 1}` : undefined,
      };
    });
    ecr.on(DescribeImageScanFindingsCommand).callsFake((input: DescribeImageScanFindingsCommandInput) => {
      const digest = input.imageId?.imageDigest;
      if (digest === A) {
        if (throttleFindingsOnce) {
          throttleFindingsOnce = false;
          throw awsError('ThrottlingException', 400, 'Rate exceeded');
        }
        const [p1, p2] = findingsPagesOfA().map(asSdk);
        return input.nextToken === 'findings-page-2' ? p2 : p1;
      }
      if (digest === E) {
        return {
          registryId: ACCOUNT,
          repositoryName: 'reports/worker',
          imageId: { imageDigest: E },
          imageScanStatus: { status: 'COMPLETE', description: 'The scan was completed successfully.' },
          imageScanFindings: { findings: [], imageScanCompletedAt: new Date('2024-06-01T10:00:00Z') },
        };
      }
      throw new ScanNotFoundException({
        message: `Image scan does not exist for the image with '{imageDigest:'${digest}'}'`,
        $metadata: {},
      });
    });
  });

  afterEach(() => ecr.reset());

  function connector(retry = instantRetry()) {
    return createEcrConnector(registryConfig('ecr', SETTINGS), {
      ecr: new ECRClient({ region: 'us-east-1' }),
      retry,
      pageSize: 2,
    });
  }

  it('delivers complete scans, page by page, telling every status apart', async () => {
    const retry = instantRetry();
    const out = await runSync(connector(retry));
    expect(out.error).toBeUndefined();
    expectValidScans(out.scans);
    expectWellFormedBatches(out.batches, 2);
    const scans = byDigest(out.scans);
    expect(
      [...scans.values()].map((s) => [s.repository, s.digest.slice(7, 8), s.status, s.statusReason]),
    ).toEqual([
      ['payments/api', 'a', 'Scanned', undefined],
      ['payments/api', 'b', 'Pending', 'IN_PROGRESS'],
      ['payments/api', 'c', 'Unsupported', 'The operating system and/or package manager are not supported.'],
      ['payments/api', 'd', 'Pending', 'ScanNotFoundException: no scan yet'],
      ['reports/worker', 'e', 'Scanned', undefined],
      ['reports/worker', 'f', 'Failed', 'Unable to retrieve image manifest.'],
    ]);
    const a = scans.get(A)!;
    expect(a).toMatchObject({
      registry: HOST,
      tags: ['1.4.2', 'stable'],
      source: 'ecr',
      scannedAt: COMPLETED.toISOString(),
    });
    // Both pages of findings, and the lower-case "critical".
    expect(a.vulnerabilities.map((v) => [v.id, v.severity])).toEqual([
      ['CVE-2019-5188', 'Medium'],
      ['CVE-2023-38545', 'Critical'],
      ['CVE-2011-3374', 'Negligible'],
    ]);
    const e = scans.get(E)!;
    expect(e).toMatchObject({ status: 'Scanned', vulnerabilities: [], tags: ['2024-06-01'] });
    // The throttled call was retried after a backoff; repositories outside the prefixes are not read.
    expect(retry.waits).toEqual([50]);
    expect(ecr.commandCalls(DescribeImagesCommand).map((c) => c.args[0].input.repositoryName)).not.toContain(
      'tools/ci',
    );
    expect(out.batches.map((b) => b.progress?.images)).toEqual([2, 4, 6]);
    expect(JSON.parse(out.checkpoint!)).toEqual({ v: 1, since: '2024-06-02T11:50:00.000Z' });
  });

  it('yields the same scan as importing the same DescribeImageScanFindings output', async () => {
    const out = await runSync(connector());
    const synced = byDigest(out.scans).get(A)!;
    const [imported] = parseReport('ecr', findingsPagesOfA(), { now: SYNC_NOW, region: 'us-east-1' });
    // Tags come from DescribeImages in the sync; the findings payload names none.
    expect({ ...synced, tags: [] }).toEqual(imported);
  });

  it('on the next run looks only at what changed, and reports unfinished scans again', async () => {
    const first = await runSync(connector());
    ecr.resetHistory();
    const later = new Date('2024-06-02T12:15:00Z');
    const second = await runSync(connector(), { checkpoint: first.checkpoint!, now: later });
    expect(second.error).toBeUndefined();
    expect(second.scans.map((s) => [s.digest.slice(7, 8), s.status])).toEqual([
      ['b', 'Pending'],
      ['c', 'Unsupported'],
      ['d', 'Pending'],
      ['f', 'Failed'],
    ]);
    // Nothing was rescanned: no findings were fetched.
    expect(ecr.commandCalls(DescribeImageScanFindingsCommand)).toHaveLength(0);

    // A rescan of A (its completion time moves) brings its findings again.
    images['payments/api']![0]![0]!.imageScanFindingsSummary = {
      imageScanCompletedAt: new Date('2024-06-02T12:20:00Z'),
    };
    const third = await runSync(connector(), {
      checkpoint: second.checkpoint!,
      now: new Date('2024-06-02T12:30:00Z'),
    });
    expect(third.scans.find((s) => s.digest === A)?.vulnerabilities).toHaveLength(3);
  });

  it('on the next run reports the current tags of unchanged images, so that a moved tag is seen', async () => {
    const first = await runSync(connector());
    // `stable` moves from A to E (PutImage of E's manifest under that tag): no push, no scan.
    images['payments/api']![0]![0]!.imageTags = ['1.4.2'];
    images['reports/worker']![0]![0]!.imageTags = ['2024-06-01', 'stable'];
    ecr.resetHistory();
    const second = await runSync(connector(), {
      checkpoint: first.checkpoint!,
      now: new Date('2024-06-02T12:15:00Z'),
    });
    expect(second.error).toBeUndefined();
    expect(ecr.commandCalls(DescribeImageScanFindingsCommand)).toHaveLength(0);
    // Both sides of the move, with the source whose stored scan they belong to.
    expect(second.batches.flatMap((b) => b.tags ?? [])).toEqual([
      { registry: HOST, repository: 'payments/api', digest: A, source: 'ecr', tags: ['1.4.2'] },
      {
        registry: HOST,
        repository: 'reports/worker',
        digest: E,
        source: 'ecr',
        tags: ['2024-06-01', 'stable'],
      },
    ]);
    // Images reported with their status carry their tags in the scan itself.
    expect(second.scans.find((s) => s.digest === B)?.tags).toEqual(['next']);
  });

  it('fails mid-run with a clear error, then resumes from the last checkpoint', async () => {
    failImagesOf = 'reports/worker';
    const failed = await runSync(connector());
    expect(failed.error).toBeInstanceOf(RegistryApiError);
    expect((failed.error as Error).message).toBe(
      'ECR DescribeImages (reports/worker) failed: AccessDeniedException: not authorized',
    );
    expect(failed.checkpoint).toBeUndefined();
    expect(JSON.parse(failed.lastSaved!)).toMatchObject({ cursor: { unit: 'payments/api' } });
    expect(failed.scans.map((s) => s.digest.slice(7, 8))).toEqual(['a', 'b', 'c', 'd']);

    failImagesOf = undefined;
    ecr.resetHistory();
    const resumed = await runSync(connector(), {
      checkpoint: failed.lastSaved!,
      now: new Date('2024-06-02T13:00:00Z'),
    });
    expect(resumed.error).toBeUndefined();
    expect(resumed.scans.map((s) => s.digest.slice(7, 8))).toEqual(['e', 'f']);
    expect(ecr.commandCalls(DescribeImagesCommand).map((c) => c.args[0].input.repositoryName)).toEqual([
      'reports/worker',
    ]);
    // The next run looks from the interrupted run's start, not the resumed one's.
    expect(JSON.parse(resumed.checkpoint!)).toEqual({ v: 1, since: '2024-06-02T11:50:00.000Z' });
  });

  it('resumes inside a repository at the saved page, and starts it over when the token has expired', async () => {
    const at = (token: string) =>
      JSON.stringify({ v: 1, startedAt: SYNC_NOW.toISOString(), cursor: { unit: 'payments/api', token } });
    const resumed = await runSync(connector(), { checkpoint: at('page-1') });
    expect(resumed.scans.map((s) => s.digest.slice(7, 8))).toEqual(['c', 'd', 'e', 'f']);
    const restarted = await runSync(connector(), { checkpoint: at('expired-token') });
    expect(restarted.error).toBeUndefined();
    expect(restarted.scans.map((s) => s.digest.slice(7, 8))).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
  });

  it('gives up on throttling after its retry budget, naming the call', async () => {
    ecr.on(DescribeRepositoriesCommand).rejects(awsError('ThrottlingException', 400, 'Rate exceeded'));
    const retry = instantRetry(3);
    const out = await runSync(connector(retry));
    expect(out.error).toBeInstanceOf(RegistryApiError);
    expect((out.error as Error).message).toBe(
      'ECR DescribeRepositories failed after 3 attempts: ThrottlingException: Rate exceeded',
    );
    expect(retry.waits).toHaveLength(2);
  });

  it('stops when the run is aborted', async () => {
    const controller = new AbortController();
    const gen = connector().sync({ signal: controller.signal, now: SYNC_NOW });
    const first = await gen.next();
    expect(first.done).toBe(false);
    controller.abort(new Error('run cancelled'));
    await expect(gen.next()).rejects.toThrow('run cancelled');
  });

  it('rejects settings that are not an ECR registry', () => {
    expect(() =>
      createEcrConnector(registryConfig('ecr', { region: 'nowhere' }), { ecr: new ECRClient({}) }),
    ).toThrow(/region/);
  });
});
