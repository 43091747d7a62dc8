/**
 * Amazon ECR enhanced scanning, through Amazon Inspector. First, ListFindings filtered on
 * `updatedAt` since the checkpoint names the images whose findings changed (a suppression or a
 * closed finding changes no scan time). Then, per repository in name order, ListCoverage lists
 * every image with its scan status: an image that changed, or that Inspector scanned since the
 * checkpoint, gets all its findings (ListFindings by `ecrImageHash`, every status) as its
 * complete scan; an image pending its first scan (`PENDING_INITIAL_SCAN`), unsupported or failed
 * is reported with that status each run; every other image's current tags (coverage
 * `resourceMetadata.ecrImage.tags`) go with the batch, so that a moved tag is seen.
 */
import {
  type CoveredResource,
  type FilterCriteria,
  type Finding,
  type ScanStatus as InspectorScanStatus,
  ListCoverageCommand,
  type ListCoverageCommandOutput,
  ListFindingsCommand,
} from '@aws-sdk/client-inspector2';
import { z } from 'zod';
import type { EcrSettings, ImageScan, ScanStatus } from '../../../core/domain.js';
import { ValidationError } from '../../../core/errors.js';
import type { ImageTags, SyncBatch, SyncContext, SyncResult } from '../../../core/sync.js';
import { parseInput } from '../../../core/validation.js';
import { ecrRegistryHost, regionFromArn } from '../aws.js';
import { cleanTags, statusScan, wireTime } from '../common.js';
import { findingImage, InspectorFindingSchema, inspectorImageToScan } from '../inspector2.js';
import {
  type AwsCall,
  awsCaller,
  type EcrConnectorDeps,
  type EcrRepository,
  listRepositories,
  resumablePage,
} from './aws.js';
import { PageItems, pageBatch } from './batch.js';
import {
  changedSince,
  finalCheckpoint,
  progressCheckpoint,
  type SyncPosition,
  unitStart,
} from './checkpoint.js';
import { DEFAULT_RETRY } from './retry.js';

const ECR_IMAGE = 'AWS_ECR_CONTAINER_IMAGE';
/** Images per batch at most (a coverage page is 200). */
const MAX_BATCH = 200;

/** Reasons an ACTIVE (or INACTIVE) coverage entry is still waiting for its scan. */
const PENDING = new Set(['PENDING_INITIAL_SCAN', 'SCAN_IN_PROGRESS', 'PENDING_REVIVAL_SCAN']);
/** Reasons Inspector will not scan the image as it is configured or built. */
const UNSUPPORTED = new Set([
  'IMAGE_SIZE_EXCEEDED',
  'IMAGE_ARCHIVED',
  'SCAN_FREQUENCY_MANUAL',
  'EXCLUDED_BY_TAG',
]);

/**
 * Maps a coverage entry's scan status onto the domain's: ACTIVE is Scanned unless pending its
 * first scan; INACTIVE is Unsupported for unsupported images or configurations, else Failed.
 * RESOURCE_TERMINATED (the image is gone) gives undefined: there is nothing to report.
 */
export function coverageStatus(
  scanStatus: InspectorScanStatus | undefined,
): { status: ScanStatus; statusReason?: string } | undefined {
  const code = (scanStatus?.statusCode ?? '').toUpperCase();
  const reason = (scanStatus?.reason ?? '').toUpperCase();
  if (reason === 'RESOURCE_TERMINATED') return undefined;
  if (PENDING.has(reason)) return { status: 'Pending', statusReason: reason };
  if (code === 'ACTIVE') return { status: 'Scanned' };
  if (reason.startsWith('UNSUPPORTED_') || UNSUPPORTED.has(reason))
    return { status: 'Unsupported', statusReason: reason };
  return { status: 'Failed', statusReason: reason || `coverage status ${code || '(none)'}` };
}

/** Repository, digest and region from an ECR image ARN (`...:repository/team/app/sha256:...`). */
export function imageFromArn(
  arn: string | undefined,
): { repository: string; digest: string; region?: string } | undefined {
  const match = /:repository\/(.+)\/(sha256:[a-f0-9]{64})$/i.exec(arn ?? '');
  if (!match?.[1] || !match[2]) return undefined;
  const region = regionFromArn(arn);
  return { repository: match[1], digest: match[2], ...(region === undefined ? {} : { region }) };
}

const FindingsSchema = z.array(InspectorFindingSchema);

class InspectorSync {
  private readonly aws: AwsCall;

  constructor(
    private readonly settings: EcrSettings,
    private readonly deps: EcrConnectorDeps & { inspector: NonNullable<EcrConnectorDeps['inspector']> },
    private readonly context: SyncContext,
    private readonly position: SyncPosition,
  ) {
    this.aws = awsCaller(context.signal, deps.retry ?? DEFAULT_RETRY);
  }

  private async *findingPages(what: string, filterCriteria: FilterCriteria): AsyncGenerator<Finding[]> {
    let nextToken: string | undefined;
    do {
      const page = await this.aws(`Inspector ListFindings (${what})`, (abortSignal) =>
        this.deps.inspector.send(new ListFindingsCommand({ filterCriteria, maxResults: 100, nextToken }), {
          abortSignal,
        }),
      );
      yield page.findings ?? [];
      nextToken = page.nextToken || undefined;
    } while (nextToken);
  }

  /** Digests (lower-cased) per repository whose findings were updated since the checkpoint. */
  async changedImages(since: string): Promise<Map<string, Set<string>>> {
    const filter: FilterCriteria = {
      resourceType: [{ comparison: 'EQUALS', value: ECR_IMAGE }],
      updatedAt: [{ startInclusive: new Date(since) }],
      ...(this.settings.registryId
        ? { ecrImageRegistry: [{ comparison: 'EQUALS', value: this.settings.registryId }] }
        : {}),
      ...(this.settings.repositories
        ? {
            ecrImageRepositoryName: this.settings.repositories.map((value) => ({
              comparison: 'PREFIX' as const,
              value,
            })),
          }
        : {}),
    };
    const changed = new Map<string, Set<string>>();
    for await (const findings of this.findingPages('updated since the last run', filter)) {
      for (const f of parseInput(FindingsSchema, findings, 'Inspector findings')) {
        const image = findingImage(f);
        if (image === undefined) continue;
        const set = changed.get(image.repository) ?? new Set<string>();
        set.add(image.digest.toLowerCase());
        changed.set(image.repository, set);
      }
    }
    return changed;
  }

  /** Every finding of one image, whatever its status: the complete scan. */
  private async imageFindings(repo: EcrRepository, digest: string) {
    const all = [];
    const filter: FilterCriteria = {
      resourceType: [{ comparison: 'EQUALS', value: ECR_IMAGE }],
      ecrImageHash: [{ comparison: 'EQUALS', value: digest }],
      ecrImageRepositoryName: [{ comparison: 'EQUALS', value: repo.name }],
      ecrImageRegistry: [{ comparison: 'EQUALS', value: repo.registryId }],
    };
    for await (const findings of this.findingPages(`${repo.name}@${digest}`, filter)) {
      all.push(...parseInput(FindingsSchema, findings, `Inspector findings of ${repo.name}@${digest}`));
    }
    return all;
  }

  private async scanFromFindings(
    repo: EcrRepository,
    digest: string,
    context: { tags?: string[]; lastScannedAt?: string; region?: string },
  ): Promise<ImageScan> {
    const findings = await this.imageFindings(repo, digest);
    return inspectorImageToScan(
      {
        image: {
          account: repo.registryId,
          region: context.region ?? this.settings.region,
          repository: repo.name,
          digest,
          tags: context.tags ?? cleanTags(findings.flatMap((f) => findingImage(f)?.tags ?? [])),
        },
        findings,
      },
      {
        region: this.settings.region,
        ...(context.tags === undefined ? {} : { tags: context.tags }),
        ...(context.lastScannedAt === undefined ? {} : { lastScannedAt: context.lastScannedAt }),
        now: this.context.now,
      },
    );
  }

  /**
   * The scan to deliver for one covered image; when its findings did not change, just its
   * current tags (a tag can move without a scan); undefined for an image not to report.
   */
  private async coveredScan(
    repo: EcrRepository,
    covered: CoveredResource,
    changed: Set<string> | undefined,
  ): Promise<ImageScan | ImageTags | undefined> {
    const id = imageFromArn(covered.resourceId);
    if (id === undefined || id.repository !== repo.name) return undefined;
    const status = coverageStatus(covered.scanStatus);
    if (status === undefined) return undefined;
    const tags = cleanTags(covered.resourceMetadata?.ecrImage?.tags ?? []);
    const lastScannedAt = wireTime(covered.lastScannedAt);
    const region = id.region ?? this.settings.region;
    if (status.status !== 'Scanned') {
      const image = {
        registry: ecrRegistryHost(repo.registryId, region),
        repository: repo.name,
        digest: id.digest,
        tags,
      };
      return statusScan(image, 'inspector2', status, lastScannedAt ?? this.context.now.toISOString());
    }
    const since = this.position.since;
    if (
      since !== undefined &&
      !changed?.has(id.digest.toLowerCase()) &&
      !changedSince(lastScannedAt, since)
    ) {
      return {
        registry: ecrRegistryHost(repo.registryId, region),
        repository: repo.name,
        digest: id.digest,
        source: 'inspector2',
        tags,
      };
    }
    return this.scanFromFindings(repo, id.digest, {
      tags,
      region,
      ...(lastScannedAt ? { lastScannedAt } : {}),
    });
  }

  async *run(): AsyncGenerator<SyncBatch, SyncResult, void> {
    const repos = await listRepositories(this.deps.ecr, this.settings, this.aws);
    const since = this.position.since;
    const changed = since === undefined ? new Map<string, Set<string>>() : await this.changedImages(since);
    let images = 0;
    for (const repo of repos) {
      const start = unitStart(this.position, repo.name);
      if (start.skip) continue;
      const unseen = new Set(changed.get(repo.name) ?? []);
      let token = start.token;
      for (;;) {
        const page: ListCoverageCommandOutput = await resumablePage(
          this.aws,
          `Inspector ListCoverage (${repo.name})`,
          token,
          'ValidationException',
          (nextToken, abortSignal) =>
            this.deps.inspector.send(
              new ListCoverageCommand({
                filterCriteria: {
                  resourceType: [{ comparison: 'EQUALS', value: ECR_IMAGE }],
                  ecrRepositoryName: [{ comparison: 'EQUALS', value: repo.name }],
                  accountId: [{ comparison: 'EQUALS', value: repo.registryId }],
                },
                maxResults: 200,
                nextToken,
              }),
              { abortSignal },
            ),
        );
        const items = new PageItems();
        for (const covered of page.coveredResources ?? []) {
          const id = imageFromArn(covered.resourceId);
          if (id !== undefined) unseen.delete(id.digest.toLowerCase());
          items.add(await this.coveredScan(repo, covered, changed.get(repo.name)));
        }
        token = page.nextToken || undefined;
        if (token !== undefined) {
          images += items.scans.length;
          const batch = pageBatch(this.position, repo.name, token, items, images);
          if (batch !== undefined) yield batch;
          continue;
        }
        let scans = items.scans;
        // Images whose findings changed but that coverage no longer lists (deleted, out of
        // scope), in bounded batches; the repository is done only after the last of them.
        for (const digest of unseen) {
          if (scans.length >= MAX_BATCH) {
            images += scans.length;
            yield { scans, progress: { images } };
            scans = [];
          }
          scans.push(await this.scanFromFindings(repo, digest, {}));
        }
        images += scans.length;
        yield {
          scans,
          ...items.tagsField(),
          checkpoint: progressCheckpoint(this.position, { unit: repo.name }),
          progress: { images },
        };
        break;
      }
    }
    return { checkpoint: finalCheckpoint(this.position) };
  }
}

/** Runs an enhanced-scanning sync; the connector needs an Inspector client for it. */
export function syncInspector(
  settings: EcrSettings,
  deps: EcrConnectorDeps,
  context: SyncContext,
  position: SyncPosition,
): AsyncGenerator<SyncBatch, SyncResult, void> {
  const { inspector } = deps;
  if (inspector === undefined) {
    throw new ValidationError('enhanced scanning needs an Amazon Inspector client', {
      details: [{ path: 'settings.scanning', message: 'no Inspector client' }],
    });
  }
  return new InspectorSync(settings, { ...deps, inspector }, context, position).run();
}
