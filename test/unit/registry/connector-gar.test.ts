import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { artifactRepository, createGarConnector } from '../../../adapters/registry/connectors/gar.js';
import { RegistryApiError } from '../../../adapters/registry/connectors/retry.js';
import { imageOfResourceUri } from '../../../adapters/registry/grafeas.js';
import { parseReport } from '../../../adapters/registry/import.js';
import { expectValidScans, loadCloudFixture } from './helpers.js';
import {
  byDigest,
  expectWellFormedBatches,
  type FakeAnswer,
  type FakeServer,
  fakeServer,
  fakeToken,
  instantRetry,
  type RecordedRequest,
  registryConfig,
  runSync,
  SYNC_NOW,
} from './sync-helpers.js';

type Occ = Record<string, unknown> & { resourceUri: string; kind: string };

const constructed = () =>
  (loadCloudFixture('gcp/constructed-list-occurrences-discovery.json') as { occurrences: Occ[] }).occurrences;
const sedg = () =>
  (loadCloudFixture('gcp/public-capture-sedg-gar-occurrence.json') as { occurrences: Occ[] }).occurrences;

const API_URI =
  'https://europe-west1-docker.pkg.dev/acme-prod/apps/payments/api@sha256:eeee000000000000000000000000000000000000000000000000000000000005';
const CLEAN_URI =
  'https://europe-west1-docker.pkg.dev/acme-prod/apps/clean@sha256:0000000000000000000000000000000000000000000000000000000000000008';

/** Occurrences per project: acme-prod from the constructed listing, valid-proj from the public capture. */
function projects(): Record<string, Occ[]> {
  const sedgVuln = sedg()[0]!;
  return {
    'acme-prod': constructed(),
    'valid-proj': [
      // An SBOM discovery note is no scan status.
      {
        name: 'projects/valid-proj/occurrences/d2',
        resourceUri: sedgVuln.resourceUri,
        noteName: 'projects/goog-analysis/notes/SBOM',
        kind: 'DISCOVERY',
        updateTime: '2023-04-29T12:44:44Z',
        discovery: { analysisStatus: 'FINISHED_FAILED' },
      },
      {
        name: 'projects/valid-proj/occurrences/d1',
        resourceUri: sedgVuln.resourceUri,
        noteName: 'projects/goog-analysis/notes/PACKAGE_VULNERABILITY',
        kind: 'DISCOVERY',
        createTime: '2023-03-15T14:49:00Z',
        updateTime: '2023-04-29T12:44:44.093997Z',
        discovery: { analysisStatus: 'FINISHED_SUCCESS', lastScanTime: '2023-04-29T12:44:40Z' },
      },
      sedgVuln,
    ],
  };
}

const DOCKER_IMAGES: Record<string, { uri: string; tags?: string[] }[]> = {
  'projects/acme-prod/locations/europe-west1/repositories/apps': [
    { uri: API_URI.slice(8), tags: ['1.4.2', 'stable'] },
    { uri: CLEAN_URI.slice(8), tags: ['latest'] },
  ],
  'projects/valid-proj/locations/us/repositories/valid-repo': [
    {
      uri: 'us-docker.pkg.dev/valid-proj/valid-repo/valid-name@sha256:3fa5256ad34b31901ca30021c722fc7ba11a66ca070c8442862205696b908ddb',
      tags: ['v2'],
    },
  ],
};

function page<T>(items: readonly T[], url: URL, serverMax: number): { items: T[]; next?: string } {
  const size = Math.min(Number(url.searchParams.get('pageSize') ?? 20), serverMax);
  const start = Number(url.searchParams.get('pageToken') || 0);
  const slice = items.slice(start, start + size);
  return start + size < items.length ? { items: slice, next: String(start + size) } : { items: slice };
}

interface State {
  occurrences: Record<string, Occ[]>;
  answer?: (r: RecordedRequest) => FakeAnswer | undefined;
}

/** Container Analysis and Artifact Registry on one local server. */
function googleApis(state: State) {
  return (request: RecordedRequest): FakeAnswer => {
    const special = state.answer?.(request);
    if (special) return special;
    const url = new URL(request.url, 'http://x');
    const occ = /^\/v1\/projects\/([^/]+)\/occurrences$/.exec(url.pathname);
    if (occ) {
      const filter = url.searchParams.get('filter') ?? '';
      const token = url.searchParams.get('pageToken');
      if (token && !/^\d+$/.test(token)) {
        return {
          status: 400,
          body: { error: { code: 400, message: 'Invalid page token', status: 'INVALID_ARGUMENT' } },
        };
      }
      const all = state.occurrences[decodeURIComponent(occ[1]!)] ?? [];
      let items: Occ[];
      if (filter === 'kind="DISCOVERY"') items = all.filter((o) => o.kind === 'DISCOVERY');
      else {
        const uri = /^kind="VULNERABILITY" AND resourceUrl="([^"]+)"$/.exec(filter)?.[1];
        if (uri === undefined)
          return { status: 400, body: { error: { code: 400, message: `bad filter ${filter}` } } };
        items = all.filter((o) => o.kind === 'VULNERABILITY' && o.resourceUri === uri);
      }
      // The server pages vulnerabilities one at a time, whatever was asked: pages are pages.
      const p = page(items, url, items[0]?.kind === 'VULNERABILITY' ? 1 : 1000);
      // An image with nothing answers `{}`, as the API does.
      return {
        body:
          p.items.length === 0 ? {} : { occurrences: p.items, ...(p.next ? { nextPageToken: p.next } : {}) },
      };
    }
    const docker = /^\/v1\/(projects\/[^/]+\/locations\/[^/]+\/repositories\/[^/]+)\/dockerImages$/.exec(
      url.pathname,
    );
    if (docker) {
      const images = DOCKER_IMAGES[docker[1]!];
      if (images === undefined)
        return {
          status: 404,
          body: { error: { code: 404, message: 'Requested entity was not found.', status: 'NOT_FOUND' } },
        };
      const p = page(images, url, 1);
      return {
        body: {
          dockerImages: p.items.map((i) => ({ name: `${docker[1]}/dockerImages/x`, ...i })),
          ...(p.next ? { nextPageToken: p.next } : {}),
        },
      };
    }
    return { status: 404, body: { error: { code: 404, message: url.pathname } } };
  };
}

describe('GAR connector through local Container Analysis and Artifact Registry', () => {
  const state: State = { occurrences: {} };
  let server: FakeServer;

  beforeAll(async () => {
    server = await fakeServer(googleApis(state));
  });
  afterAll(() => server.close());
  beforeEach(() => {
    state.occurrences = projects();
    delete state.answer;
    server.requests.length = 0;
  });

  const connector = (settings: Record<string, unknown> = {}, retry = instantRetry()) =>
    createGarConnector(registryConfig('gar', { projects: ['valid-proj', 'acme-prod'], ...settings }), {
      token: fakeToken('gcp-token'),
      containerAnalysisEndpoint: server.url,
      artifactRegistryEndpoint: `${server.url}/`,
      retry,
      pageSize: 2,
    });

  it('delivers every image with its status, complete findings and Artifact Registry tags', async () => {
    const out = await runSync(connector());
    expect(out.error).toBeUndefined();
    expectValidScans(out.scans);
    expectWellFormedBatches(out.batches, 2);
    expect(
      out.scans.map((s) => [s.repository, s.status, s.statusReason, s.vulnerabilities.length, s.tags]),
    ).toEqual([
      ['acme-prod/apps/payments/api', 'Scanned', undefined, 2, ['1.4.2', 'stable']],
      ['acme-prod/apps/reports/worker', 'Pending', 'SCANNING', 0, []],
      ['acme-prod/legacy/windows-app', 'Unsupported', 'FINISHED_UNSUPPORTED: Unsupported OS: windows', 0, []],
      ['acme-prod/apps/clean', 'Scanned', undefined, 0, ['latest']],
      ['acme-prod/apps/broken', 'Failed', 'FINISHED_FAILED: failed to extract image layers', 0, []],
      ['valid-proj/valid-repo/valid-name', 'Scanned', undefined, 1, ['v2']],
    ]);
    // effectiveSeverity, not the NVD severity; no fix where the fixed version is MAXIMUM.
    const api = out.scans[0]!;
    expect(api.vulnerabilities.map((v) => [v.id, v.severity, v.fixAvailable])).toEqual([
      ['CVE-2023-4911', 'High', true],
      ['CVE-2005-2541', 'Negligible', false],
    ]);
    expect(out.scans[5]!.vulnerabilities[0]).toMatchObject({ id: 'CVE-2022-29458', severity: 'Medium' });
    expect(server.requests.every((r) => r.authorization === 'Bearer gcp-token')).toBe(true);
    // One dockerImages listing per repository, however many images it holds.
    const listings = server.requests
      .filter((r) => r.url.includes('/dockerImages'))
      .map((r) => r.url.split('?')[0]);
    expect(new Set(listings).size).toBe(3);
    expect(JSON.parse(out.checkpoint!)).toEqual({ v: 1, since: '2024-06-02T11:50:00.000Z' });
  });

  it('yields the same scans as importing the same occurrences, tags aside', async () => {
    const out = await runSync(connector());
    const synced = byDigest(out.scans);
    for (const project of ['acme-prod', 'valid-proj']) {
      // The SBOM discovery occurrence is in the payload too: it does not decide the status.
      const occurrences = state.occurrences[project]!;
      for (const scan of parseReport('grafeas', { occurrences }, { now: SYNC_NOW })) {
        const s = synced.get(scan.digest)!;
        // The sync dates a status-only scan by when it saw it; the import has only the payload.
        expect({ ...s, tags: [], ...(s.status === 'Scanned' ? {} : { scannedAt: scan.scannedAt }) }).toEqual(
          scan,
        );
      }
    }
  });

  it('retries 429 and 503, then succeeds', async () => {
    let n = 0;
    state.answer = () => {
      n++;
      if (n === 1)
        return {
          status: 429,
          body: { error: { code: 429, message: 'Quota exceeded', status: 'RESOURCE_EXHAUSTED' } },
        };
      if (n === 2)
        return {
          status: 503,
          body: {
            error: { code: 503, message: 'The service is currently unavailable.', status: 'UNAVAILABLE' },
          },
        };
      return undefined;
    };
    const retry = instantRetry();
    const out = await runSync(connector({}, retry));
    expect(out.error).toBeUndefined();
    expect(out.scans).toHaveLength(6);
    expect(retry.waits).toEqual([50, 100]);
  });

  it('on the next run fetches findings only of images scanned since, and reports unfinished ones again', async () => {
    const first = await runSync(connector());
    const discovery = state.occurrences['acme-prod']!.find(
      (o) => o.kind === 'DISCOVERY' && o.resourceUri === CLEAN_URI,
    )!;
    discovery.updateTime = '2024-06-02T12:10:00Z';
    (discovery.discovery as Record<string, unknown>).lastScanTime = '2024-06-02T12:09:00Z';
    server.requests.length = 0;
    const second = await runSync(connector(), {
      checkpoint: first.checkpoint!,
      now: new Date('2024-06-02T12:15:00Z'),
    });
    expect(second.scans.map((s) => [s.repository, s.status])).toEqual([
      ['acme-prod/apps/reports/worker', 'Pending'],
      ['acme-prod/legacy/windows-app', 'Unsupported'],
      ['acme-prod/apps/clean', 'Scanned'],
      ['acme-prod/apps/broken', 'Failed'],
    ]);
    const vulnQueries = server.requests.filter((r) => r.url.includes('VULNERABILITY'));
    expect(vulnQueries).toHaveLength(1);
    expect(decodeURIComponent(vulnQueries[0]!.url)).toContain(CLEAN_URI);
  });

  it('on the next run reports the current tags of unchanged images, so that a moved tag is seen', async () => {
    const first = await runSync(connector());
    const apps = DOCKER_IMAGES['projects/acme-prod/locations/europe-west1/repositories/apps']!;
    const saved = structuredClone(apps);
    try {
      // `stable` moves from the API image to the clean one: no occurrence changes.
      apps[0]!.tags = ['1.4.2'];
      apps[1]!.tags = ['latest', 'stable'];
      const second = await runSync(connector(), {
        checkpoint: first.checkpoint!,
        now: new Date('2024-06-02T12:15:00Z'),
      });
      expect(second.error).toBeUndefined();
      const host = 'europe-west1-docker.pkg.dev';
      expect(second.batches.flatMap((b) => b.tags ?? [])).toEqual([
        {
          registry: host,
          repository: 'acme-prod/apps/payments/api',
          digest: API_URI.split('@')[1],
          source: 'gar',
          tags: ['1.4.2'],
        },
        {
          registry: host,
          repository: 'acme-prod/apps/clean',
          digest: CLEAN_URI.split('@')[1],
          source: 'gar',
          tags: ['latest', 'stable'],
        },
        {
          registry: 'us-docker.pkg.dev',
          repository: 'valid-proj/valid-repo/valid-name',
          digest: 'sha256:3fa5256ad34b31901ca30021c722fc7ba11a66ca070c8442862205696b908ddb',
          source: 'gar',
          tags: ['v2'],
        },
      ]);
      expect(second.scans.filter((s) => s.status === 'Scanned')).toEqual([]);
    } finally {
      apps.splice(0, apps.length, ...saved);
    }
  });

  it('fails mid-run with the API error, then resumes with the project it had not finished', async () => {
    state.answer = (r) =>
      r.url.startsWith('/v1/projects/valid-proj/occurrences')
        ? {
            status: 403,
            body: {
              error: {
                code: 403,
                message: 'Permission denied on resource project valid-proj.',
                status: 'PERMISSION_DENIED',
              },
            },
          }
        : undefined;
    const failed = await runSync(connector());
    expect(failed.error).toBeInstanceOf(RegistryApiError);
    expect((failed.error as Error).message).toBe(
      'Container Analysis DISCOVERY occurrences (valid-proj) failed: HTTP 403 PERMISSION_DENIED: Permission denied on resource project valid-proj.',
    );
    expect(failed.scans).toHaveLength(5);
    expect(JSON.parse(failed.lastSaved!)).toMatchObject({ cursor: { unit: 'acme-prod' } });
    delete state.answer;
    server.requests.length = 0;
    const resumed = await runSync(connector(), { checkpoint: failed.lastSaved! });
    expect(resumed.scans.map((s) => s.repository)).toEqual(['valid-proj/valid-repo/valid-name']);
    expect(server.requests.some((r) => r.url.includes('acme-prod'))).toBe(false);
  });

  it('resumes at a saved page token, and starts the project over when the token is refused', async () => {
    const at = (token: string) =>
      JSON.stringify({ v: 1, startedAt: SYNC_NOW.toISOString(), cursor: { unit: 'acme-prod', token } });
    const resumed = await runSync(connector(), { checkpoint: at('2') });
    expect(resumed.scans.map((s) => s.repository)).toEqual([
      'acme-prod/legacy/windows-app',
      'acme-prod/apps/clean',
      'acme-prod/apps/broken',
      'valid-proj/valid-repo/valid-name',
    ]);
    const restarted = await runSync(connector(), { checkpoint: at('stale-token') });
    expect(restarted.error).toBeUndefined();
    expect(restarted.scans).toHaveLength(6);
  });

  it('keeps to the configured locations and repositories', async () => {
    const out = await runSync(connector({ locations: ['europe-west1'], repositories: ['apps'] }));
    expect(out.scans.map((s) => s.repository)).toEqual([
      'acme-prod/apps/payments/api',
      'acme-prod/apps/reports/worker',
      'acme-prod/apps/clean',
      'acme-prod/apps/broken',
    ]);
  });
});

describe('artifactRepository', () => {
  it.each([
    [API_URI, { project: 'acme-prod', location: 'europe-west1', repository: 'apps' }],
    [
      `https://gcr.io/binx-io-public/alpine@sha256:${'d'.repeat(64)}`,
      { project: 'binx-io-public', location: 'us', repository: 'gcr.io' },
    ],
    [
      `https://eu.gcr.io/p/team/app@sha256:${'d'.repeat(64)}`,
      { project: 'p', location: 'europe', repository: 'eu.gcr.io' },
    ],
  ])('places %s', (uri, expected) => {
    expect(artifactRepository(imageOfResourceUri(uri)!)).toEqual(expected);
  });

  it('does not place images of other registries', () => {
    expect(
      artifactRepository(imageOfResourceUri(`https://ghcr.io/a/b@sha256:${'d'.repeat(64)}`)!),
    ).toBeUndefined();
  });
});
