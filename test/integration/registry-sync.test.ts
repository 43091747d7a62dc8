/**
 * The findings sync end to end on one machine: the real ACR connector talking HTTP to a local
 * stand-in for Azure Resource Graph, run by SyncService into the SQLite store, and the
 * admission decisions that follow as Defender's findings change — and stay when a run fails,
 * turn clean when Defender marks them Healthy, and unscanned (never clean) when its rows vanish.
 * And the real ECR connector over a mocked SDK: a tag moved without a new scan.
 */
import {
  DescribeImageScanFindingsCommand,
  type DescribeImageScanFindingsCommandInput,
  DescribeImagesCommand,
  type DescribeImagesCommandInput,
  DescribeRepositoriesCommand,
  ECRClient,
  type ImageDetail,
} from '@aws-sdk/client-ecr';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createAcrConnector,
  RESOURCE_GRAPH_PATH,
  UNREPORTED_REASON,
} from '../../adapters/registry/connectors/acr.js';
import { createEcrConnector } from '../../adapters/registry/connectors/ecr.js';
import { openSqliteStore } from '../../adapters/store/sqlite/index.js';
import type { Clock, Store } from '../../core/ports.js';
import { createServices } from '../../core/services/index.js';
import type { ConnectorFactory } from '../../core/sync.js';
import { CLUSTER, deployment } from '../unit/evaluate-helpers.js';
import { loadCloudFixture } from '../unit/registry/helpers.js';
import {
  type FakeAnswer,
  type FakeServer,
  fakeServer,
  fakeToken,
  instantRetry,
} from '../unit/registry/sync-helpers.js';

type Row = { id: string; properties: Record<string, unknown> & { timeGenerated: string } };

const SUBSCRIPTION = '0b1f6471-1bf0-4dda-aec3-cb9272f09590';
const IMAGE = 'contosoapps.azurecr.io/payments/api:1.4.2';

/** Resource Graph's answer to the connector's two queries, over `rows`. */
function resourceGraph(state: { rows: Row[]; refuse: boolean }) {
  return (request: { url: string; body?: unknown }): FakeAnswer => {
    if (request.url !== RESOURCE_GRAPH_PATH) return { status: 404, body: {} };
    if (state.refuse) {
      return {
        status: 403,
        body: { error: { code: 'AuthorizationFailed', message: 'The client has no access' } },
      };
    }
    const query = (request.body as { query: string }).query;
    const digest = (r: Row) =>
      String((r.properties.additionalData as { artifactDetails: { digest: string } }).artifactDetails.digest);
    const since = /[^o]datetime\((\d[^)]*)\)/.exec(query)?.[1];
    if (query.includes('| distinct host, digest')) {
      // Every image reported now, of any status.
      const host = (r: Row) =>
        String(
          (r.properties.additionalData as { artifactDetails: { registryHost: string } }).artifactDetails
            .registryHost,
        ).toLowerCase();
      const images = [...new Set(state.rows.map((r) => `${host(r)} ${digest(r)}`))].sort();
      return {
        body: {
          data: images.map((i) => ({ host: i.split(' ')[0], digest: i.split(' ')[1] })),
          resultTruncated: 'false',
        },
      };
    }
    if (query.includes('summarize')) {
      const digests = [
        ...new Set(state.rows.filter((r) => !since || r.properties.timeGenerated >= since).map(digest)),
      ];
      return {
        body: { data: digests.sort().map((d) => ({ digest: d, rows: 1 })), resultTruncated: 'false' },
      };
    }
    const wanted = [...query.matchAll(/'(sha256:[0-9a-f]+)'/g)].map((m) => m[1]);
    const data = state.rows
      .filter((r) => wanted.includes(digest(r)))
      .map((r) => ({
        id: r.id,
        type: 'microsoft.security/assessments/subassessments',
        properties: r.properties,
        digest: digest(r),
      }));
    return { body: { data, resultTruncated: 'false' } };
  };
}

const constructedRows = () =>
  (loadCloudFixture('azure/constructed-resource-graph-response-page.json') as { data: Row[] }).data;

/** The constructed page's two rows of payments/api (Critical curl, Medium busybox), generated at `time`. */
function apiRows(time: string, withCritical: boolean, code = 'Unhealthy'): Row[] {
  const rows = constructedRows()
    .slice(0, 2)
    .map((r) => ({
      ...r,
      properties: {
        ...r.properties,
        timeGenerated: time,
        status: { ...(r.properties.status as object), code },
      },
    }));
  return withCritical ? rows : rows.slice(1);
}

/** The constructed page's row of reports/worker, in the same registry: an image Defender goes on reporting. */
const workerRow = (): Row => constructedRows()[3]!;

describe('registry sync into the store, and the admission decisions that follow', () => {
  const state = { rows: [] as Row[], refuse: false };
  let server: FakeServer;
  const stores: Store[] = [];

  beforeAll(async () => {
    server = await fakeServer(resourceGraph(state));
  });
  afterAll(() => server.close());
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
  });

  /**
   * Services over a fresh SQLite store with the ACR connector on the stand-in, a Deny rule on
   * Critical findings, and the registry `contoso`; `advance` moves the clock.
   */
  async function contoso(settings: Record<string, unknown> = {}) {
    let now = Date.parse('2024-06-02T12:00:00Z');
    const clock: Clock = { now: () => new Date(now) };
    const connectors: ConnectorFactory = (config) =>
      createAcrConnector(config, { token: fakeToken(), endpoint: server.url, retry: instantRetry(2) });
    const store = openSqliteStore({ path: ':memory:', clock });
    stores.push(store);
    const services = createServices(store, { clock, connectors, cacheTtlMs: 0 });
    await services.rules.create(
      { name: 'deny-critical', action: 'Deny', conditions: { severities: ['Critical'] } },
      'admin',
    );
    await services.sync.create(
      { name: 'contoso', kind: 'acr', settings: { subscriptions: [SUBSCRIPTION], ...settings } },
      'admin',
    );
    return {
      services,
      store,
      advance: (ms: number) => {
        now += ms;
      },
    };
  }

  it('denies while Defender reports a critical finding, admits once the rescan drops it, keeps it through a failed run', async () => {
    const { services, store, advance } = await contoso({ registries: ['contosoapps.azurecr.io'] });
    const decide = async () =>
      (await services.admission.whatIf(CLUSTER, deployment('api', 'payments', [IMAGE]))).decision;

    expect(await decide()).toBe('Allowed'); // never seen: not gated by this rule

    state.rows = apiRows('2024-06-02T11:30:00.0000000Z', true);
    const first = await services.sync.sync('contoso', 'manual');
    expect(first).toMatchObject({ status: 'succeeded', images: 1, vulnerabilities: 2, errors: [] });
    expect(await decide()).toBe('Denied');
    const [listed] = (await services.scans.list({ limit: 10 })).items;
    expect(listed).toMatchObject({
      registry: 'contosoapps.azurecr.io',
      repository: 'payments/api',
      tags: ['1.4.2', 'stable'],
    });

    // Defender rescans after a fix: the curl finding is gone, busybox stays, both regenerated.
    advance(3_600_000);
    state.rows = apiRows('2024-06-02T12:45:00.0000000Z', false);
    const second = await services.sync.sync('contoso', 'manual');
    expect(second).toMatchObject({ status: 'succeeded', images: 1, vulnerabilities: 1 });
    expect(await decide()).toBe('Allowed');

    // A run that fails keeps what was seen, and the checkpoint it started from.
    advance(3_600_000);
    const before = await store.registries.getCheckpoint((await services.sync.get('contoso')).id);
    state.refuse = true;
    const failed = await services.sync.sync('contoso', 'manual');
    expect(failed.status).toBe('failed');
    expect(failed.errors.join(' ')).toContain('HTTP 403 AuthorizationFailed: The client has no access');
    expect(await store.registries.getCheckpoint((await services.sync.get('contoso')).id)).toBe(before);
    expect(await decide()).toBe('Allowed');
    const scan = await services.scans.get(
      'sha256:cccc000000000000000000000000000000000000000000000000000000000003',
    );
    expect(scan.vulnerabilities.map((v) => v.id)).toEqual(['CVE-2022-48174']);

    // The runs are on record, newest first.
    expect((await services.sync.runs('contoso')).map((r) => r.status)).toEqual([
      'failed',
      'succeeded',
      'succeeded',
    ]);
  });

  it('admits once every finding is resolved: Healthy rows give a clean scan, vanished rows an unscanned image', async () => {
    const { services, advance } = await contoso();
    const API = 'sha256:cccc000000000000000000000000000000000000000000000000000000000003';
    const review = async () => {
      const result = await services.admission.whatIf(CLUSTER, deployment('api', 'payments', [IMAGE]));
      return { decision: result.decision, notes: result.images[0]?.notes ?? [], message: result.message };
    };
    const sync = async () => {
      advance(3_600_000);
      const run = await services.sync.sync('contoso', 'schedule');
      expect(run).toMatchObject({ status: 'succeeded', errors: [] });
      return run;
    };

    state.refuse = false;
    state.rows = [...apiRows('2024-06-02T11:30:00.0000000Z', true), workerRow()];
    await sync();
    expect((await review()).decision).toBe('Denied');

    // Defender rescans: both findings of the image are resolved, and its rows turn Healthy.
    state.rows = [...apiRows('2024-06-02T13:45:00.0000000Z', true, 'Healthy'), workerRow()];
    await sync();
    expect(await services.scans.get(API)).toMatchObject({
      status: 'Scanned',
      counts: { Critical: 0, High: 0, Medium: 0, Low: 0, Negligible: 0 },
    });
    expect((await review()).decision).toBe('Allowed');

    // A new critical finding, then every row of the image disappears from Resource Graph.
    state.rows = [...apiRows('2024-06-02T14:45:00.0000000Z', true), workerRow()];
    await sync();
    expect((await review()).decision).toBe('Denied');
    state.rows = [workerRow()];
    const quiet = await sync();
    expect(quiet.images).toBe(1);
    // Not clean: its last findings stay on record, and it has no usable scan until Defender reports it again.
    const unreported = await services.scans.get(API);
    expect(unreported).toMatchObject({
      status: 'Pending',
      statusReason: UNREPORTED_REASON,
      scannedAt: '2024-06-02T14:45:00.000Z',
      counts: { Critical: 1, Medium: 1 },
    });
    const worker = 'sha256:dddd000000000000000000000000000000000000000000000000000000000004';
    expect((await services.scans.get(worker)).status).toBe('Scanned');
    const notGated = await review();
    expect(notGated.decision).toBe('Allowed');
    expect(notGated.notes).toContain('not gated by rule "deny-critical": no usable scan (Pending)');
    // An operator who wants unscanned images kept out says so, and the image is denied.
    await services.rules.create(
      { name: 'deny-unscanned', action: 'Deny', applyToUnscannedImages: true },
      'admin',
    );
    const denied = await review();
    expect(denied.decision).toBe('Denied');
    expect(denied.message).toContain('deny-unscanned');

    // The rows come back as they were (a listing that had missed them): Scanned again, as before.
    state.rows = [...apiRows('2024-06-02T14:45:00.0000000Z', true), workerRow()];
    await sync();
    expect(await services.scans.get(API)).toMatchObject({ status: 'Scanned', counts: { Critical: 1 } });
    expect((await review()).message).toContain('deny-critical');
  });
});

describe('a tag moved in ECR without a new scan', () => {
  const ecr = mockClient(ECRClient);
  const ACCOUNT = '111122223333';
  const HOST = `${ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com`;
  const OLD = `sha256:${'a'.repeat(64)}`;
  const NEW = `sha256:${'b'.repeat(64)}`;
  const tags: Record<string, string[]> = {};
  const stores: Store[] = [];

  afterEach(async () => {
    ecr.reset();
    for (const s of stores.splice(0)) await s.close();
  });

  /** An image as DescribeImages lists it: pushed and scanned on `day` of June 2024. */
  const detail = (digest: string, day: number): ImageDetail => ({
    registryId: ACCOUNT,
    repositoryName: 'payments/api',
    imageDigest: digest,
    imageTags: tags[digest],
    imagePushedAt: new Date(`2024-06-0${day}T08:00:00Z`),
    imageScanStatus: { status: 'COMPLETE', description: 'The scan was completed successfully.' },
    imageScanFindingsSummary: { imageScanCompletedAt: new Date(`2024-06-0${day}T08:05:00Z`) },
  });

  it('follows the tag to its new digest, takes it from the old one, and back to the old one on a rollback', async () => {
    // The old build has the documented MEDIUM finding; the new build has none.
    const documented = loadCloudFixture('ecr/official-example-basic-cli-output.json') as {
      imageScanFindings: { findings: unknown[] };
    };
    tags[OLD] = ['1.0', 'latest'];
    tags[NEW] = ['1.1'];
    ecr.on(DescribeRepositoriesCommand).resolves({
      repositories: [{ repositoryName: 'payments/api', registryId: ACCOUNT }],
    });
    ecr.on(DescribeImagesCommand).callsFake((_: DescribeImagesCommandInput) => ({
      imageDetails: [detail(OLD, 1), detail(NEW, 2)],
    }));
    ecr.on(DescribeImageScanFindingsCommand).callsFake((input: DescribeImageScanFindingsCommandInput) => {
      const digest = input.imageId?.imageDigest;
      return {
        registryId: ACCOUNT,
        repositoryName: 'payments/api',
        imageId: { imageDigest: digest },
        imageScanStatus: { status: 'COMPLETE' },
        imageScanFindings: {
          findings: digest === OLD ? documented.imageScanFindings.findings : [],
          imageScanCompletedAt: new Date(`2024-06-0${digest === OLD ? 1 : 2}T08:05:00Z`),
        },
      };
    });

    let now = Date.parse('2024-06-03T12:00:00Z');
    const clock: Clock = { now: () => new Date(now) };
    const connectors: ConnectorFactory = (config) =>
      createEcrConnector(config, { ecr: new ECRClient({ region: 'eu-west-1' }), retry: instantRetry(2) });
    const store = openSqliteStore({ path: ':memory:', clock });
    stores.push(store);
    const services = createServices(store, { clock, connectors, cacheTtlMs: 0 });
    await services.rules.create(
      { name: 'deny-medium', action: 'Deny', conditions: { severities: ['Medium'] } },
      'admin',
    );
    await services.sync.create(
      { name: 'payments', kind: 'ecr', settings: { region: 'eu-west-1', registryId: ACCOUNT } },
      'admin',
    );
    const latest = async () => {
      const result = await services.admission.whatIf(
        CLUSTER,
        deployment('api', 'payments', [`${HOST}/payments/api:latest`]),
      );
      return { decision: result.decision, digest: result.images[0]?.digest, notes: result.images[0]?.notes };
    };
    const sync = async () => {
      now += 3_600_000;
      expect(await services.sync.sync('payments', 'schedule')).toMatchObject({ status: 'succeeded' });
    };

    await sync();
    expect(await latest()).toMatchObject({ decision: 'Denied', digest: OLD });

    // `latest` is moved to the new build (PutImage with its manifest): no push, no scan.
    tags[OLD] = ['1.0'];
    tags[NEW] = ['1.1', 'latest'];
    ecr.resetHistory();
    await sync();
    expect(ecr.commandCalls(DescribeImageScanFindingsCommand)).toHaveLength(0);
    expect(await latest()).toMatchObject({ decision: 'Allowed', digest: NEW });
    expect((await services.scans.get(OLD)).tags).toEqual(['1.0']);
    expect((await services.scans.get(NEW)).tags).toEqual(['1.1', 'latest']);

    // Rolled back to the old build, scanned before the new one: the tag follows, and the old
    // build's findings decide (never the new build's, nor "unscanned").
    tags[OLD] = ['1.0', 'latest'];
    tags[NEW] = ['1.1'];
    ecr.resetHistory();
    await sync();
    expect(ecr.commandCalls(DescribeImageScanFindingsCommand)).toHaveLength(0);
    expect(await latest()).toMatchObject({ decision: 'Denied', digest: OLD });
    expect((await services.scans.get(OLD)).tags).toEqual(['1.0', 'latest']);
    expect((await services.scans.get(NEW)).tags).toEqual(['1.1']);

    // Deleted from the registry: the tag resolves to nothing, so the image is unscanned.
    tags[OLD] = ['1.0'];
    await sync();
    const deleted = await latest();
    expect(deleted.digest).toBeUndefined();
    expect(deleted.notes).toContain('not gated by rule "deny-medium": no usable scan (NotFound)');
  });
});
