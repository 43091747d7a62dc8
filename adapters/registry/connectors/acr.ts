/**
 * Azure Container Registry findings of Microsoft Defender for Cloud, through Azure Resource
 * Graph (`securityresources`, the container-registry vulnerability sub-assessments of the
 * MDVM-powered assessment, `AzureContainerRegistryVulnerability`), across the configured
 * subscriptions. A run first lists, in digest order, the images with a row generated since the
 * checkpoint; then fetches every row of those images, of every status, a few dozen digests per
 * query, so that each scan is complete. Pages follow `$skipToken` (Resource Graph gives one only
 * while the request body is otherwise unchanged, and never for `take`/`limit` queries).
 *
 * Resolved findings. Defender keeps one row per vulnerability per image. A row whose finding is
 * resolved may stay with `status.code` `Healthy` (or `NotApplicable` when exempted in Defender):
 * such rows are fetched like the others and count as no finding, so an image whose rows are all
 * Healthy becomes a `Scanned` scan with no vulnerability. A row may also just disappear, and "no
 * row" is ambiguous: Defender equally drops the rows of an image that left its scan window (not
 * pushed or pulled recently) or was deleted, so silence is never read as "fixed". Instead, each
 * run ends with a complete listing of the images Defender reports now (one row per image), and
 * returns it as the run's inventory: core marks an image it holds from this source that is no
 * longer listed as `Pending` with the reason below, keeping its last findings for the record
 * (ScanService.reconcile). Only registries with at least one reported image are reconciled,
 * so a registry out of the subscriptions' reach, or with Defender turned off, is left as it was.
 */
import { z } from 'zod';
import { type AcrSettings, AcrSettingsSchema, type ImageScan } from '../../../core/domain.js';
import type {
  RegistryConfig,
  RegistryConnector,
  ScannerInventory,
  SyncBatch,
  SyncContext,
  SyncResult,
} from '../../../core/sync.js';
import { parseInput } from '../../../core/validation.js';
import { groupRowsByDigest, SubAssessmentRowSchema, subAssessmentsToScan } from '../azure-resource-graph.js';
import { finalCheckpoint, progressCheckpoint, type SyncPosition, startPosition } from './checkpoint.js';
import { type HttpClient, httpClient, type TokenProvider } from './http.js';
import { DEFAULT_RETRY, RegistryApiError, type RetryPolicy } from './retry.js';

/** What an ACR connector runs with; tests inject a token and a local endpoint. */
export interface AcrConnectorDeps {
  /** A bearer token for `https://management.azure.com/.default` (DefaultAzureCredential). */
  token: TokenProvider;
  fetch?: typeof fetch;
  /** The Azure Resource Manager endpoint (another cloud's, or a test server). */
  endpoint?: string;
  retry?: RetryPolicy;
  /** Rows per Resource Graph page (`$top`, at most 1000). */
  pageSize?: number;
  /** Images per complete-rows query, and so per batch. */
  digestsPerQuery?: number;
}

export const RESOURCE_GRAPH_PATH = '/providers/Microsoft.ResourceGraph/resources?api-version=2022-10-01';

const DIGEST = /^[a-z0-9]+:[a-f0-9]{32,}$/;

/** The rows of Defender's Azure container-registry findings in the configured registries. */
export function subAssessmentQuery(settings: AcrSettings): string {
  const lines = [
    'securityresources',
    "| where type =~ 'microsoft.security/assessments/subassessments'",
    "| where tostring(properties.additionalData.assessedResourceType) == 'AzureContainerRegistryVulnerability'",
    '| extend digest = tolower(tostring(properties.additionalData.artifactDetails.digest))',
    '| where isnotempty(digest)',
  ];
  if (settings.registries) {
    // Host names validated by AcrSettingsSchema: letters, digits, dots and dashes only.
    const hosts = settings.registries.map((h) => `'${h}'`).join(', ');
    lines.push(
      `| where tolower(tostring(properties.additionalData.artifactDetails.registryHost)) in (${hosts})`,
    );
  }
  return lines.join('\n');
}

/** The images (digests, in order) with a row generated at or after `since`; every image without it. */
export function changedDigestsQuery(settings: AcrSettings, since: string | undefined): string {
  const when =
    since === undefined ? '' : `\n| where todatetime(properties.timeGenerated) >= datetime(${since})`;
  return `${subAssessmentQuery(settings)}${when}\n| summarize rows = count() by digest\n| order by digest asc`;
}

/** Every image Defender reports now, of any status: one row per (registry host, digest). */
export function inventoryQuery(settings: AcrSettings): string {
  return `${subAssessmentQuery(settings)}\n| extend host = tolower(tostring(properties.additionalData.artifactDetails.registryHost))\n| distinct host, digest\n| order by host asc, digest asc`;
}

/** The statusReason of an image Defender stopped reporting. */
export const UNREPORTED_REASON =
  'Microsoft Defender for Cloud no longer reports this image: its findings may have been resolved, ' +
  'or the image left the scan window (not pushed or pulled recently) or was deleted. The findings ' +
  'of its last report are kept for the record; it counts as not scanned until Defender reports it again.';

/** Every row of the given images, grouped by digest. */
export function imageRowsQuery(settings: AcrSettings, digests: readonly string[]): string {
  const list = digests.map((d) => `'${d}'`).join(', ');
  return `${subAssessmentQuery(settings)}\n| where digest in (${list})\n| project id, type, properties, digest\n| order by digest asc, id asc`;
}

const ResponseSchema = z.object({
  data: z.array(z.unknown()),
  $skipToken: z.string().nullish(),
  resultTruncated: z.union([z.string(), z.boolean()]).nullish(),
});

class AcrSync {
  private readonly http: HttpClient;
  private readonly url: string;
  private readonly pageSize: number;
  private readonly perQuery: number;

  constructor(
    private readonly settings: AcrSettings,
    deps: AcrConnectorDeps,
    private readonly context: SyncContext,
    private readonly position: SyncPosition,
  ) {
    this.http = httpClient({
      token: deps.token,
      signal: context.signal,
      retry: deps.retry ?? DEFAULT_RETRY,
      ...(deps.fetch ? { fetch: deps.fetch } : {}),
    });
    this.url = `${(deps.endpoint ?? 'https://management.azure.com').replace(/\/$/, '')}${RESOURCE_GRAPH_PATH}`;
    this.pageSize = Math.min(1000, Math.max(1, deps.pageSize ?? 1000));
    this.perQuery = Math.min(200, Math.max(1, deps.digestsPerQuery ?? 50));
  }

  /** Pages of a query's rows, following `$skipToken` with the request otherwise unchanged. */
  private async *pages(what: string, query: string): AsyncGenerator<unknown[]> {
    let skipToken: string | undefined;
    do {
      const body = {
        subscriptions: this.settings.subscriptions,
        query,
        options: {
          $top: this.pageSize,
          resultFormat: 'objectArray',
          ...(skipToken ? { $skipToken: skipToken } : {}),
        },
      };
      const raw = await this.http.json(`Resource Graph query (${what})`, this.url, { method: 'POST', body });
      const page = parseInput(ResponseSchema, raw, 'Resource Graph response');
      skipToken = page.$skipToken || undefined;
      if (skipToken === undefined && String(page.resultTruncated).toLowerCase() === 'true') {
        // Without a token the rest cannot be fetched; finishing would silently drop findings.
        throw new RegistryApiError(`Resource Graph query (${what}) was truncated without a $skipToken`, {
          attempts: 1,
        });
      }
      yield page.data;
    } while (skipToken);
  }

  /** The complete scans of some images: all their rows, across pages. */
  private async scansOf(digests: readonly string[]): Promise<ImageScan[]> {
    const rows = [];
    for await (const data of this.pages(
      `rows of ${digests.length} images`,
      imageRowsQuery(this.settings, digests),
    )) {
      rows.push(...parseInput(z.array(SubAssessmentRowSchema), data, 'Resource Graph rows'));
    }
    return groupRowsByDigest(rows).map((group) => subAssessmentsToScan(group, this.context.now));
  }

  /** The images Defender reports now in each registry, listed to the last page. */
  private async inventory(): Promise<ScannerInventory> {
    const registries = new Set<string>();
    const digests = new Set<string>();
    for await (const data of this.pages('every image reported', inventoryQuery(this.settings))) {
      for (const row of data) {
        const { host, digest } = row as { host?: unknown; digest?: unknown };
        const d = String(digest ?? '').toLowerCase();
        const h = String(host ?? '').toLowerCase();
        if (!DIGEST.test(d) || h === '') continue;
        registries.add(h);
        digests.add(d);
      }
    }
    return { source: 'acr', registries: [...registries], digests: [...digests], reason: UNREPORTED_REASON };
  }

  async *run(): AsyncGenerator<SyncBatch, SyncResult, void> {
    // A resumed run skips the digests the interrupted run delivered (they come in order).
    const after = this.position.cursor?.unit;
    let images = 0;
    let chunk: string[] = [];
    const deliver = async (digests: string[]): Promise<SyncBatch> => {
      const scans = await this.scansOf(digests);
      images += scans.length;
      const last = digests[digests.length - 1] as string;
      return { scans, checkpoint: progressCheckpoint(this.position, { unit: last }), progress: { images } };
    };
    const query = changedDigestsQuery(this.settings, this.position.since);
    for await (const data of this.pages('images changed since the last run', query)) {
      for (const row of data) {
        const digest = String((row as { digest?: unknown }).digest ?? '').toLowerCase();
        if (!DIGEST.test(digest) || (after !== undefined && digest <= after)) continue;
        chunk.push(digest);
        if (chunk.length >= this.perQuery) {
          yield await deliver(chunk);
          chunk = [];
        }
      }
    }
    if (chunk.length > 0) yield await deliver(chunk);
    // Listed after the changes are delivered, so that an image synced by this run is in it.
    return { checkpoint: finalCheckpoint(this.position), inventory: await this.inventory() };
  }
}

/** Builds the connector of an `acr` registry. Throws ValidationError for invalid settings. */
export function createAcrConnector(config: RegistryConfig, deps: AcrConnectorDeps): RegistryConnector {
  const settings = parseInput(AcrSettingsSchema, config.settings, `settings of registry "${config.name}"`);
  return {
    sync: (context: SyncContext) =>
      new AcrSync(settings, deps, context, startPosition(context.checkpoint, context.now)).run(),
  };
}
