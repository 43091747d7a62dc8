/**
 * Amazon ECR basic scanning: per repository (in name order), DescribeImages pages; for each
 * image scanned or pushed since the checkpoint, every page of DescribeImageScanFindings makes
 * its complete scan. Images without a usable scan are reported each run with their status, so
 * that a scan that failed or turned unsupported is seen. Every other image's current tags go
 * with the batch (`SyncBatch.tags`): a tag moved to another digest is seen without a new scan. Enhanced scanning goes through
 * Amazon Inspector instead (inspector.ts).
 */
import {
  DescribeImageScanFindingsCommand,
  type DescribeImageScanFindingsCommandOutput,
  DescribeImagesCommand,
  type DescribeImagesCommandOutput,
  type ImageDetail,
} from '@aws-sdk/client-ecr';
import { type EcrSettings, EcrSettingsSchema, type ImageScan } from '../../../core/domain.js';
import type {
  ImageTags,
  RegistryConfig,
  RegistryConnector,
  SyncBatch,
  SyncContext,
  SyncResult,
} from '../../../core/sync.js';
import { parseInput } from '../../../core/validation.js';
import { ecrRegistryHost } from '../aws.js';
import { cleanTags, statusScan, wireTime } from '../common.js';
import { EcrScanFindingsSchema, ecrScanFindingsToScan, ecrScanStatus } from '../ecr.js';
import {
  type AwsCall,
  awsCaller,
  type EcrConnectorDeps,
  type EcrRepository,
  isAwsError,
  listRepositories,
  resumablePage,
} from './aws.js';
import { PageItems, pageBatch } from './batch.js';
import { changedSince, finalCheckpoint, type SyncPosition, startPosition, unitStart } from './checkpoint.js';
import { syncInspector } from './inspector.js';
import { DEFAULT_RETRY, RegistryApiError } from './retry.js';

const SCANNED = new Set(['COMPLETE', 'ACTIVE']);

class BasicSync {
  private readonly aws: AwsCall;
  private readonly pageSize: number;

  constructor(
    private readonly settings: EcrSettings,
    private readonly deps: EcrConnectorDeps,
    private readonly context: SyncContext,
    private readonly position: SyncPosition,
  ) {
    this.aws = awsCaller(context.signal, deps.retry ?? DEFAULT_RETRY);
    this.pageSize = Math.min(1000, Math.max(1, deps.pageSize ?? 100));
  }

  /** Every page of one image's findings, merged: a scan is never made of part of them. */
  private async findings(
    repo: EcrRepository,
    digest: string,
  ): Promise<DescribeImageScanFindingsCommandOutput | null> {
    let merged: DescribeImageScanFindingsCommandOutput | undefined;
    let nextToken: string | undefined;
    do {
      let page: DescribeImageScanFindingsCommandOutput;
      try {
        page = await this.aws(`ECR DescribeImageScanFindings (${repo.name}@${digest})`, (abortSignal) =>
          this.deps.ecr.send(
            new DescribeImageScanFindingsCommand({
              registryId: repo.registryId,
              repositoryName: repo.name,
              imageId: { imageDigest: digest },
              maxResults: 1000,
              nextToken,
            }),
            { abortSignal },
          ),
        );
      } catch (e) {
        // ECR's answer for an image it has not scanned yet.
        if (e instanceof RegistryApiError && isAwsError(e.cause, 'ScanNotFoundException')) return null;
        throw e;
      }
      if (merged === undefined) merged = page;
      else {
        const into = merged.imageScanFindings ?? {};
        into.findings = [...(into.findings ?? []), ...(page.imageScanFindings?.findings ?? [])];
        into.enhancedFindings = [
          ...(into.enhancedFindings ?? []),
          ...(page.imageScanFindings?.enhancedFindings ?? []),
        ];
        merged.imageScanFindings = into;
      }
      nextToken = page.nextToken;
    } while (nextToken);
    return merged ?? null;
  }

  /**
   * The scan to deliver for one image; when its findings did not change since the checkpoint,
   * just its current tags (a tag moved by PutImage changes neither push nor scan time).
   */
  async imageScan(repo: EcrRepository, detail: ImageDetail): Promise<ImageScan | ImageTags | undefined> {
    const digest = detail.imageDigest;
    if (!digest) return undefined;
    const since = this.position.since;
    const pushedAt = wireTime(detail.imagePushedAt);
    const completedAt = wireTime(detail.imageScanFindingsSummary?.imageScanCompletedAt);
    const word = detail.imageScanStatus?.status?.toUpperCase();
    const tags = cleanTags(detail.imageTags ?? []);
    const image = {
      registry: ecrRegistryHost(repo.registryId, this.settings.region),
      repository: repo.name,
      digest,
      tags,
    };
    const now = this.context.now.toISOString();
    const isNew = changedSince(pushedAt, since);
    if (word !== undefined && !SCANNED.has(word)) {
      return statusScan(image, 'ecr', ecrScanStatus(word, detail.imageScanStatus?.description), now);
    }
    if (word === undefined && !isNew) {
      return statusScan(
        image,
        'ecr',
        { status: 'Pending', statusReason: 'ECR has not scanned this image' },
        now,
      );
    }
    if (word !== undefined && !isNew && !changedSince(completedAt, since)) return { ...image, source: 'ecr' };
    const output = await this.findings(repo, digest);
    if (output === null) {
      return statusScan(
        image,
        'ecr',
        { status: 'Pending', statusReason: 'ScanNotFoundException: no scan yet' },
        now,
      );
    }
    const parsed = parseInput(EcrScanFindingsSchema, output, `ECR findings of ${repo.name}@${digest}`);
    return ecrScanFindingsToScan(
      { ...parsed, imageId: { imageDigest: digest } },
      { region: this.settings.region, tags, now: this.context.now },
    );
  }

  async *run(): AsyncGenerator<SyncBatch, SyncResult, void> {
    const repos = await listRepositories(this.deps.ecr, this.settings, this.aws);
    let images = 0;
    for (const repo of repos) {
      const start = unitStart(this.position, repo.name);
      if (start.skip) continue;
      let token = start.token;
      for (;;) {
        // A page token kept by an interrupted run may have expired: then the repository starts over.
        const page: DescribeImagesCommandOutput = await resumablePage(
          this.aws,
          `ECR DescribeImages (${repo.name})`,
          token,
          'InvalidParameterException',
          (nextToken, abortSignal) =>
            this.deps.ecr.send(
              new DescribeImagesCommand({
                registryId: repo.registryId,
                repositoryName: repo.name,
                maxResults: this.pageSize,
                nextToken,
              }),
              { abortSignal },
            ),
        );
        const items = new PageItems();
        for (const detail of page.imageDetails ?? []) items.add(await this.imageScan(repo, detail));
        token = page.nextToken || undefined;
        images += items.scans.length;
        const batch = pageBatch(this.position, repo.name, token, items, images);
        if (batch !== undefined) yield batch;
        if (token === undefined) break;
      }
    }
    return { checkpoint: finalCheckpoint(this.position) };
  }
}

/**
 * Builds the connector of an `ecr` registry: basic scanning through ECR, enhanced scanning
 * through Amazon Inspector. Throws ValidationError for settings that are not valid.
 */
export function createEcrConnector(config: RegistryConfig, deps: EcrConnectorDeps): RegistryConnector {
  const settings = parseInput(EcrSettingsSchema, config.settings, `settings of registry "${config.name}"`);
  return {
    sync(context: SyncContext) {
      const position = startPosition(context.checkpoint, context.now);
      if (settings.scanning === 'enhanced') return syncInspector(settings, deps, context, position);
      return new BasicSync(settings, deps, context, position).run();
    },
  };
}
