/**
 * Google Artifact Registry findings of Artifact Analysis (Container Analysis, Grafeas), per
 * project in name order. Each image has one DISCOVERY occurrence, which carries its scan status
 * and changes when the image is scanned: a run pages through them, and for each image scanned
 * since the checkpoint fetches every VULNERABILITY occurrence (`kind` and `resourceUrl`
 * filter) as its complete scan. Occurrences name images by digest only, so tags come from
 * Artifact Registry (`dockerImages.list`, one listing per repository, cached); the current tags
 * of every other image go with the batch (`SyncBatch.tags`), so that a moved tag is seen.
 */
import { z } from 'zod';
import { type GarSettings, GarSettingsSchema, type ImageScan } from '../../../core/domain.js';
import type {
  ImageTags,
  RegistryConfig,
  RegistryConnector,
  SyncBatch,
  SyncContext,
  SyncResult,
} from '../../../core/sync.js';
import { parseInput } from '../../../core/validation.js';
import { statusScan } from '../common.js';
import {
  discoveryStatus,
  type GrafeasImage,
  grafeasImageToScan,
  imageOfResourceUri,
  isOtherDiscovery,
  type Occurrence,
  OccurrenceSchema,
} from '../grafeas.js';
import { PageItems, pageBatch } from './batch.js';
import { changedSince, finalCheckpoint, type SyncPosition, startPosition, unitStart } from './checkpoint.js';
import { type HttpClient, httpClient, type TokenProvider } from './http.js';
import { DEFAULT_RETRY, RegistryApiError, type RetryPolicy } from './retry.js';

/** What a GAR connector runs with; tests inject a token and local endpoints. */
export interface GarConnectorDeps {
  /** A bearer token for the cloud-platform scope (GoogleAuth). */
  token: TokenProvider;
  fetch?: typeof fetch;
  containerAnalysisEndpoint?: string;
  artifactRegistryEndpoint?: string;
  retry?: RetryPolicy;
  /** DISCOVERY occurrences (images) per page, and so at most per batch. */
  pageSize?: number;
}

/** Container Registry hosts, served by Artifact Registry's `gcr.io` repositories, by location. */
const GCR_LOCATIONS = new Map([
  ['gcr.io', 'us'],
  ['us.gcr.io', 'us'],
  ['eu.gcr.io', 'europe'],
  ['asia.gcr.io', 'asia'],
]);

/** The Artifact Registry repository that holds an image (`projects/p/locations/l/repositories/r`), if known. */
export function artifactRepository(
  image: GrafeasImage,
): { project: string; location: string; repository: string } | undefined {
  const parts = image.repository.split('/');
  const gcr = GCR_LOCATIONS.get(image.registry);
  if (gcr !== undefined && parts.length >= 2) {
    return { project: parts[0] as string, location: gcr, repository: image.registry };
  }
  const host = /^([a-z0-9-]+)-docker\.pkg\.dev$/.exec(image.registry);
  if (host?.[1] && parts.length >= 3)
    return { project: parts[0] as string, location: host[1], repository: parts[1] as string };
  return undefined;
}

const OccurrencesPageSchema = z.object({
  occurrences: z.array(z.unknown()).nullish(),
  nextPageToken: z.string().nullish(),
});

const DockerImagesPageSchema = z.object({
  dockerImages: z
    .array(z.object({ uri: z.string().nullish(), tags: z.array(z.string()).nullish() }))
    .nullish(),
  nextPageToken: z.string().nullish(),
});

/**
 * Repositories whose tag listings a run keeps: every image's tags are looked up each run (to
 * see moved tags), and occurrences need not come grouped by repository.
 */
const TAG_CACHE_REPOSITORIES = 32;

const SCANNED_WORDS = new Set(['FINISHED_SUCCESS', 'COMPLETE', '', 'ANALYSIS_STATUS_UNSPECIFIED']);

class GarSync {
  private readonly http: HttpClient;
  private readonly ca: string;
  private readonly ar: string;
  private readonly pageSize: number;
  /** Tags by image URI, per repository: the most recent repositories only. */
  private readonly tagCache = new Map<string, Map<string, string[]>>();

  constructor(
    private readonly settings: GarSettings,
    deps: GarConnectorDeps,
    private readonly context: SyncContext,
    private readonly position: SyncPosition,
  ) {
    this.http = httpClient({
      token: deps.token,
      signal: context.signal,
      retry: deps.retry ?? DEFAULT_RETRY,
      ...(deps.fetch ? { fetch: deps.fetch } : {}),
    });
    this.ca = (deps.containerAnalysisEndpoint ?? 'https://containeranalysis.googleapis.com').replace(
      /\/$/,
      '',
    );
    this.ar = (deps.artifactRegistryEndpoint ?? 'https://artifactregistry.googleapis.com').replace(/\/$/, '');
    this.pageSize = Math.min(1000, Math.max(1, deps.pageSize ?? 200));
  }

  private occurrencesUrl(project: string, filter: string, pageSize: number, pageToken?: string): string {
    const q = new URLSearchParams({ filter, pageSize: String(pageSize) });
    if (pageToken) q.set('pageToken', pageToken);
    return `${this.ca}/v1/projects/${encodeURIComponent(project)}/occurrences?${q}`;
  }

  /** True when the settings' locations and repositories cover the image. */
  private wanted(image: GrafeasImage): boolean {
    const { locations, repositories } = this.settings;
    if (!locations && !repositories) return true;
    const repo = artifactRepository(image);
    if (repo === undefined) return false;
    return (
      (!locations || locations.includes(repo.location)) &&
      (!repositories || repositories.includes(repo.repository))
    );
  }

  /** Current tags of an image, from its repository's `dockerImages.list`. */
  private async tagsOf(image: GrafeasImage): Promise<string[]> {
    const repo = artifactRepository(image);
    if (repo === undefined) return [];
    const parent = `projects/${repo.project}/locations/${repo.location}/repositories/${repo.repository}`;
    let byUri = this.tagCache.get(parent);
    if (byUri === undefined) {
      byUri = new Map();
      let pageToken: string | undefined;
      try {
        do {
          const q = new URLSearchParams({ pageSize: '1000' });
          if (pageToken) q.set('pageToken', pageToken);
          const raw = await this.http.json(
            `Artifact Registry dockerImages.list (${parent})`,
            `${this.ar}/v1/${parent}/dockerImages?${q}`,
          );
          const page = parseInput(DockerImagesPageSchema, raw, 'dockerImages.list response');
          for (const d of page.dockerImages ?? []) {
            if (d.uri) byUri.set(d.uri.toLowerCase(), d.tags ?? []);
          }
          pageToken = page.nextPageToken || undefined;
        } while (pageToken);
      } catch (e) {
        // A Container Registry host not moved to Artifact Registry has no such repository.
        if (!(e instanceof RegistryApiError && e.status === 404)) throw e;
      }
      if (this.tagCache.size >= TAG_CACHE_REPOSITORIES)
        this.tagCache.delete(this.tagCache.keys().next().value as string);
      this.tagCache.set(parent, byUri);
    }
    return byUri.get(image.uri.replace(/^https?:\/\//i, '').toLowerCase()) ?? [];
  }

  /** Every VULNERABILITY occurrence of one image. */
  private async findings(project: string, image: GrafeasImage): Promise<Occurrence[]> {
    const filter = `kind="VULNERABILITY" AND resourceUrl="${image.uri.replace(/["\\]/g, '')}"`;
    const out: Occurrence[] = [];
    let pageToken: string | undefined;
    do {
      const raw = await this.http.json(
        `Container Analysis occurrences of ${image.uri}`,
        this.occurrencesUrl(project, filter, 1000, pageToken),
      );
      const page = parseInput(OccurrencesPageSchema, raw, 'ListOccurrences response');
      out.push(...parseInput(z.array(OccurrenceSchema), page.occurrences ?? [], 'occurrences'));
      pageToken = page.nextPageToken || undefined;
    } while (pageToken);
    return out;
  }

  /**
   * The scan to deliver for the image of one DISCOVERY occurrence; when its findings did not
   * change, just its current tags (a tag moved in Artifact Registry changes no occurrence).
   */
  private async imageScan(
    project: string,
    discovery: Occurrence,
  ): Promise<ImageScan | ImageTags | undefined> {
    const image = imageOfResourceUri(discovery.resourceUri);
    if (image === undefined || isOtherDiscovery(discovery) || !this.wanted(image)) return undefined;
    const word = (discovery.discovery?.analysisStatus ?? '').toUpperCase();
    if (!SCANNED_WORDS.has(word)) {
      const status = discoveryStatus(discovery.discovery, false);
      return statusScan(
        { ...image, tags: await this.tagsOf(image) },
        'gar',
        status,
        this.context.now.toISOString(),
      );
    }
    const since = this.position.since;
    if (
      !changedSince(discovery.updateTime, since) &&
      !changedSince(discovery.discovery?.lastScanTime, since)
    ) {
      const { registry, repository, digest } = image;
      return { registry, repository, digest, source: 'gar', tags: await this.tagsOf(image) };
    }
    const occurrences = [discovery, ...(await this.findings(project, image))];
    return grafeasImageToScan(
      { image, occurrences },
      { tags: await this.tagsOf(image), now: this.context.now },
    );
  }

  async *run(): AsyncGenerator<SyncBatch, SyncResult, void> {
    const projects = [...new Set(this.settings.projects)].sort();
    let images = 0;
    for (const project of projects) {
      const start = unitStart(this.position, project);
      if (start.skip) continue;
      let token = start.token;
      for (;;) {
        let raw: unknown;
        try {
          raw = await this.http.json(
            `Container Analysis DISCOVERY occurrences (${project})`,
            this.occurrencesUrl(project, 'kind="DISCOVERY"', this.pageSize, token),
          );
        } catch (e) {
          // A page token kept by an interrupted run may have expired: do the project again.
          if (token !== undefined && e instanceof RegistryApiError && e.status === 400) {
            token = undefined;
            continue;
          }
          throw e;
        }
        const page = parseInput(OccurrencesPageSchema, raw, 'ListOccurrences response');
        const items = new PageItems();
        for (const o of parseInput(z.array(OccurrenceSchema), page.occurrences ?? [], 'occurrences')) {
          items.add(await this.imageScan(project, o));
        }
        token = page.nextPageToken || undefined;
        images += items.scans.length;
        const batch = pageBatch(this.position, project, token, items, images);
        if (batch !== undefined) yield batch;
        if (token === undefined) break;
      }
    }
    return { checkpoint: finalCheckpoint(this.position) };
  }
}

/** Builds the connector of a `gar` registry. Throws ValidationError for invalid settings. */
export function createGarConnector(config: RegistryConfig, deps: GarConnectorDeps): RegistryConnector {
  const settings = parseInput(GarSettingsSchema, config.settings, `settings of registry "${config.name}"`);
  return {
    sync: (context: SyncContext) =>
      new GarSync(settings, deps, context, startPosition(context.checkpoint, context.now)).run(),
  };
}
