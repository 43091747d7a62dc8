import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createAcrConnector,
  RESOURCE_GRAPH_PATH,
  UNREPORTED_REASON,
} from '../../../adapters/registry/connectors/acr.js';
import { RegistryApiError } from '../../../adapters/registry/connectors/retry.js';
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

const SUBSCRIPTION = '0b1f6471-1bf0-4dda-aec3-cb9272f09590';
type Row = Record<string, unknown> & { properties: Record<string, unknown> };

const artifactOf = (row: Row) =>
  (
    row.properties.additionalData as
      | { artifactDetails?: { digest?: string; registryHost?: string } }
      | undefined
  )?.artifactDetails;
const digestOf = (row: Row) => (artifactOf(row)?.digest ?? '').toLowerCase();
const timeOf = (row: Row) => String(row.properties.timeGenerated);

/** Extra images, three findings each, so that queries page. */
function syntheticRows(count: number): Row[] {
  const template = (
    loadCloudFixture('azure/constructed-resource-graph-response-page.json') as { data: Row[] }
  ).data[0]!;
  const rows: Row[] = [];
  for (let i = 0; i < count; i++) {
    const digest = `sha256:${(0x1000 + i).toString(16).padStart(64, '0')}`;
    for (const [j, [cve, severity]] of [
      ['CVE-2024-0001', 'High'],
      ['CVE-2024-0002', 'MEDIUM'],
      ['CVE-2024-0003', 'low'],
    ].entries()) {
      const row = structuredClone(template) as Row;
      row.id = `${String(template.id).replace(/subassessments\/.*/, 'subassessments/')}${i}-${j}`;
      row.properties.id = cve;
      row.properties.status = { severity, code: 'Unhealthy' };
      row.properties.timeGenerated = '2024-06-01T08:00:00.0000000Z';
      const artifact = artifactOf(row) as Record<string, unknown>;
      artifact.digest = digest;
      artifact.repositoryName = `batch/app-${i}`;
      artifact.tags = [`v${i}`];
      rows.push(row);
    }
  }
  return rows;
}

/** A stand-in for Resource Graph that runs the two query shapes the connector sends. */
function resourceGraph(state: { rows: Row[]; answer?: (r: RecordedRequest) => FakeAnswer | undefined }) {
  return (request: RecordedRequest): FakeAnswer => {
    const special = state.answer?.(request);
    if (special) return special;
    if (request.method !== 'POST' || request.url !== RESOURCE_GRAPH_PATH) {
      return { status: 404, body: { error: { code: 'NotFound', message: request.url } } };
    }
    const body = request.body as {
      subscriptions: string[];
      query: string;
      options: { $top: number; $skipToken?: string };
    };
    const q = body.query;
    // The connector must ask for Azure registry findings only; the fake applies that filter.
    expect(q).toContain("assessedResourceType) == 'AzureContainerRegistryVulnerability'");
    let rows = state.rows.filter(
      (r) =>
        r.type === 'microsoft.security/assessments/subassessments' &&
        (r.properties.additionalData as { assessedResourceType?: string } | undefined)
          ?.assessedResourceType === 'AzureContainerRegistryVulnerability' &&
        digestOf(r) !== '',
    );
    let data: unknown[];
    if (q.includes('| distinct host, digest')) {
      const hostOf = (r: Row) => (artifactOf(r)?.registryHost ?? '').toLowerCase();
      const seen = new Map(
        rows.map((r) => [`${hostOf(r)} ${digestOf(r)}`, { host: hostOf(r), digest: digestOf(r) }]),
      );
      data = [...seen.keys()].sort().map((k) => seen.get(k));
    } else if (q.includes('summarize rows = count() by digest')) {
      const since = /[^o]datetime\((\d[^)]*)\)/.exec(q)?.[1];
      const changed = new Set(rows.filter((r) => since === undefined || timeOf(r) >= since).map(digestOf));
      data = [...changed]
        .sort()
        .map((digest) => ({ digest, rows: rows.filter((r) => digestOf(r) === digest).length }));
    } else {
      const wanted = new Set(
        [...(/digest in \(([^)]*)\)/.exec(q)?.[1] ?? '').matchAll(/'([^']+)'/g)].map((m) => m[1]),
      );
      rows = rows.filter((r) => wanted.has(digestOf(r)));
      rows.sort((a, b) => (digestOf(a) + String(a.id)).localeCompare(digestOf(b) + String(b.id)));
      data = rows.map((r) => ({ id: r.id, type: r.type, properties: r.properties, digest: digestOf(r) }));
    }
    const offset = body.options.$skipToken
      ? Number(Buffer.from(body.options.$skipToken, 'base64').toString())
      : 0;
    const page = data.slice(offset, offset + body.options.$top);
    const more = offset + page.length < data.length;
    return {
      body: {
        totalRecords: data.length,
        count: page.length,
        resultTruncated: 'false',
        ...(more ? { $skipToken: Buffer.from(String(offset + page.length)).toString('base64') } : {}),
        facets: [],
        data: page,
      },
    };
  };
}

describe('ACR connector through a local Resource Graph', () => {
  const official = loadCloudFixture('azure/official-example-subassessment-rows-azure.json') as Row[];
  const gcp = loadCloudFixture('azure/official-example-subassessment-rows-gcp-registry.json') as Row[];
  const constructed = (
    loadCloudFixture('azure/constructed-resource-graph-response-page.json') as { data: Row[] }
  ).data;
  const state: { rows: Row[]; answer?: (r: RecordedRequest) => FakeAnswer | undefined } = { rows: [] };
  let server: FakeServer;

  beforeAll(async () => {
    server = await fakeServer(resourceGraph(state));
  });
  afterAll(() => server.close());
  beforeEach(() => {
    state.rows = [...official, ...gcp, ...constructed, ...syntheticRows(5)];
    delete state.answer;
    server.requests.length = 0;
  });

  const connector = (retry = instantRetry(), token = fakeToken()) =>
    createAcrConnector(registryConfig('acr', { subscriptions: [SUBSCRIPTION] }), {
      token,
      endpoint: server.url,
      retry,
      pageSize: 4,
      digestsPerQuery: 3,
    });

  it('delivers every Azure registry image with all its rows, in digest order, paging with $skipToken', async () => {
    const token = fakeToken();
    const out = await runSync(connector(instantRetry(), token));
    expect(out.error).toBeUndefined();
    expectValidScans(out.scans);
    expectWellFormedBatches(out.batches, 3);
    // 5 synthetic + 2 constructed + the documented row; the GCP row and the SQL row are not Azure images.
    expect(out.scans).toHaveLength(8);
    expect(out.scans.map((s) => s.digest)).toEqual([...out.scans.map((s) => s.digest)].sort());
    for (const scan of out.scans.filter((s) => s.repository.startsWith('batch/'))) {
      expect(scan.vulnerabilities.map((v) => v.severity)).toEqual(['High', 'Medium', 'Low']);
    }
    const api = byDigest(out.scans).get(
      'sha256:cccc000000000000000000000000000000000000000000000000000000000003',
    )!;
    expect(api).toMatchObject({
      registry: 'contosoapps.azurecr.io',
      repository: 'payments/api',
      tags: ['1.4.2', 'stable'],
    });
    expect(api.counts).toEqual({ Critical: 1, High: 0, Medium: 1, Low: 0, Negligible: 0 });
    // Every request: the subscriptions, a bearer token, and later pages the same body plus $skipToken.
    expect(server.requests.every((r) => r.authorization === 'Bearer test-token')).toBe(true);
    expect(token.calls).toBe(server.requests.length);
    const bodies = server.requests.map(
      (r) => r.body as { subscriptions: string[]; query: string; options: Record<string, unknown> },
    );
    expect(
      bodies.every((b) => b.subscriptions[0] === SUBSCRIPTION && b.options.resultFormat === 'objectArray'),
    ).toBe(true);
    const paged = bodies.filter((b) => b.options.$skipToken !== undefined);
    expect(paged.length).toBeGreaterThan(0);
    for (const b of paged)
      expect(bodies.some((o) => o.query === b.query && o.options.$skipToken === undefined)).toBe(true);
    expect(JSON.parse(out.checkpoint!)).toEqual({ v: 1, since: '2024-06-02T11:50:00.000Z' });
  });

  it('ends each run with every image Defender reports, of any status, listed to the last page', async () => {
    const first = await runSync(connector());
    // Nothing changed since: no image is delivered, and the listing is still complete.
    server.requests.length = 0;
    const second = await runSync(connector(), {
      checkpoint: first.checkpoint!,
      now: new Date('2024-06-02T12:15:00Z'),
    });
    expect(second.scans).toEqual([]);
    for (const out of [first, second]) {
      expect(out.inventory).toMatchObject({ source: 'acr', reason: UNREPORTED_REASON });
      expect([...out.inventory!.digests].sort()).toEqual(first.scans.map((s) => s.digest).sort());
      expect([...out.inventory!.registries].sort()).toEqual(
        [...new Set(first.scans.map((s) => s.registry))].sort(),
      );
    }
    const listing = server.requests.filter((r) =>
      (r.body as { query: string }).query.includes('distinct host, digest'),
    );
    expect(listing.length).toBeGreaterThan(1); // 8 images at 4 a page
    // Every status counts as reported: the query does not filter on it.
    expect((listing[0]!.body as { query: string }).query).not.toMatch(/status/);
  });

  it('delivers an image whose findings all turned Healthy as a clean Scanned scan', async () => {
    const first = await runSync(connector());
    const app2 = state.rows.filter(
      (r) =>
        artifactOf(r) &&
        (r.properties.additionalData as { artifactDetails: { repositoryName: string } }).artifactDetails
          .repositoryName === 'batch/app-2',
    );
    expect(app2).toHaveLength(3);
    for (const r of app2) {
      r.properties.status = { ...(r.properties.status as object), code: 'Healthy' };
      r.properties.timeGenerated = '2024-06-02T12:05:00.0000000Z';
    }
    const second = await runSync(connector(), {
      checkpoint: first.checkpoint!,
      now: new Date('2024-06-02T12:15:00Z'),
    });
    expect(second.scans).toHaveLength(1);
    const scan = second.scans[0]!;
    expect(scan).toMatchObject({
      repository: 'batch/app-2',
      status: 'Scanned',
      scannedAt: '2024-06-02T12:05:00.000Z',
    });
    expect(scan.counts).toEqual({ Critical: 0, High: 0, Medium: 0, Low: 0, Negligible: 0 });
    // Kept for the record as resolved, never as present.
    expect(scan.vulnerabilities.map((v) => v.state)).toEqual(['Closed', 'Closed', 'Closed']);
    expect(second.inventory!.digests).toContain(scan.digest);
  });

  it('yields the same scans as importing the same rows', async () => {
    const out = await runSync(connector());
    const azureRows = state.rows.filter(
      (r) => r.properties.additionalData && !gcp.includes(r) && !String(r.id).includes('Microsoft.Sql'),
    );
    const imported = parseReport('azure-resource-graph', { data: azureRows }, { now: SYNC_NOW });
    expect(byDigest(out.scans)).toEqual(byDigest(imported));
  });

  it('retries a throttled query (429 with Retry-After) and a 503, then succeeds', async () => {
    let throttled = 0;
    state.answer = () => {
      throttled++;
      if (throttled === 1)
        return {
          status: 429,
          headers: { 'retry-after': '2' },
          body: {
            error: { code: 'RateLimiting', message: 'Please provide below info when asking for support' },
          },
        };
      if (throttled === 2)
        return { status: 503, body: { error: { code: 'ServiceUnavailable', message: 'try later' } } };
      return undefined;
    };
    const retry = instantRetry();
    const out = await runSync(connector(retry));
    expect(out.error).toBeUndefined();
    expect(out.scans).toHaveLength(8);
    // Retry-After (2 s) is honoured; the 503 gets the jittered backoff.
    expect(retry.waits).toEqual([2000, 100]);
  });

  it('on the next run delivers the images regenerated since, each with all its rows', async () => {
    const first = await runSync(connector());
    const regenerated = state.rows.find(
      (r) => digestOf(r).startsWith('sha256:0000') && String(r.id).endsWith('2-0'),
    )!;
    regenerated.properties.timeGenerated = '2024-06-02T12:05:00.0000000Z';
    const second = await runSync(connector(), {
      checkpoint: first.checkpoint!,
      now: new Date('2024-06-02T12:15:00Z'),
    });
    expect(second.scans).toHaveLength(1);
    expect(second.scans[0]).toMatchObject({
      repository: 'batch/app-2',
      scannedAt: '2024-06-02T12:05:00.000Z',
    });
    expect(second.scans[0]!.vulnerabilities).toHaveLength(3);
  });

  it('fails after its retry budget, then resumes after the last delivered digest', async () => {
    // The second images query (all its attempts) fails; the first one, all its pages, works.
    let first: string | undefined;
    state.answer = (r) => {
      const q = (r.body as { query: string }).query;
      if (!q.includes('digest in')) return undefined;
      first ??= q;
      return q === first
        ? undefined
        : { status: 500, body: { error: { code: 'InternalServerError', message: 'boom' } } };
    };
    const failed = await runSync(connector(instantRetry(3)));
    expect(failed.error).toBeInstanceOf(RegistryApiError);
    expect((failed.error as Error).message).toMatch(
      /^Resource Graph query \(rows of 3 images\) failed after 3 attempts: HTTP 500 InternalServerError: boom$/,
    );
    expect(failed.scans).toHaveLength(3);
    const saved = JSON.parse(failed.lastSaved!) as { cursor: { unit: string } };
    expect(saved.cursor.unit).toBe(failed.scans[2]!.digest);

    delete state.answer;
    server.requests.length = 0;
    const resumed = await runSync(connector(), { checkpoint: failed.lastSaved! });
    expect(resumed.error).toBeUndefined();
    expect(resumed.scans).toHaveLength(5);
    expect(resumed.scans.every((s) => s.digest > saved.cursor.unit)).toBe(true);
    const asked = server.requests.flatMap((r) => [
      ...((r.body as { query: string }).query.match(/'sha256:[0-9a-f]+'/g) ?? []),
    ]);
    expect(asked.some((q) => q.slice(1, -1) <= saved.cursor.unit)).toBe(false);
  });

  it('refuses a truncated answer that gives no $skipToken rather than lose findings', async () => {
    state.answer = () => ({
      body: {
        totalRecords: 10,
        count: 1,
        resultTruncated: 'true',
        data: [{ digest: `sha256:${'1'.repeat(64)}`, rows: 1 }],
      },
    });
    const out = await runSync(connector());
    expect((out.error as Error).message).toContain('truncated without a $skipToken');
  });

  it('does not retry a refusal, and says what Azure said', async () => {
    state.answer = () => ({
      status: 403,
      body: { error: { code: 'AuthorizationFailed', message: 'no access to subscription' } },
    });
    const retry = instantRetry();
    const out = await runSync(connector(retry));
    expect((out.error as RegistryApiError).status).toBe(403);
    expect((out.error as Error).message).toContain('HTTP 403 AuthorizationFailed: no access to subscription');
    expect(retry.waits).toEqual([]);
  });

  it('keeps to the configured registries', async () => {
    const c = createAcrConnector(
      registryConfig('acr', { subscriptions: [SUBSCRIPTION], registries: ['contosoapps.azurecr.io'] }),
      { token: fakeToken(), endpoint: server.url, retry: instantRetry() },
    );
    await runSync(c);
    expect((server.requests[0]!.body as { query: string }).query).toContain(
      "registryHost)) in ('contosoapps.azurecr.io')",
    );
  });
});
