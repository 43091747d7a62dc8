/**
 * Stand-ins for the cloud registry APIs, for syncs run through each cloud's entry points:
 * local HTTP servers answering as Azure Resource Graph, Container Analysis + Artifact Registry,
 * App Service's managed identity endpoint and the GCE metadata server do, and ECR through
 * aws-sdk-client-mock. The connectors call the public hosts they call in production; in-process
 * tests send those hosts to the local servers with `redirectFetch`.
 */
import {
  DescribeImageScanFindingsCommand,
  DescribeImagesCommand,
  DescribeRepositoriesCommand,
  ECRClient,
} from '@aws-sdk/client-ecr';
import { mockClient } from 'aws-sdk-client-mock';
import { expect } from 'vitest';
import { loadCloudFixture } from '../unit/registry/helpers.js';
import { type FakeAnswer, type FakeServer, fakeServer } from '../unit/registry/sync-helpers.js';

/**
 * Sends fetch requests for each origin of `routes` (e.g. `https://management.azure.com`) to the
 * local server given for it, path and query kept; every other request goes out as it is.
 * Returns what undoes it.
 */
export function redirectFetch(routes: Record<string, string>): () => void {
  const original = globalThis.fetch;
  globalThis.fetch = (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const target = routes[url.origin];
    if (target === undefined) return original(input, init);
    return original(`${target}${url.pathname}${url.search}`, init);
  };
  return () => {
    globalThis.fetch = original;
  };
}

/** Answers a token request the way App Service's managed identity endpoint (IDENTITY_ENDPOINT) does. */
export function managedIdentity(): Promise<FakeServer> {
  return fakeServer((request) => {
    const resource = new URL(request.url, 'http://x').searchParams.get('resource');
    return {
      body: {
        access_token: `mi-token-for-${resource}`,
        expires_on: String(Math.floor(Date.now() / 1000) + 3600),
        resource,
        token_type: 'Bearer',
      },
    };
  });
}

/** Answers service-account token requests the way the GCE / Cloud Run metadata server does. */
export function metadataServer(): Promise<FakeServer> {
  return fakeServer((request) => {
    const flavor = { 'metadata-flavor': 'Google' };
    if (request.url.startsWith('/computeMetadata/v1/instance/service-accounts/default/token')) {
      return {
        headers: flavor,
        body: { access_token: 'metadata-token', expires_in: 3599, token_type: 'Bearer' },
      };
    }
    if (request.url.startsWith('/computeMetadata/v1/project/project-id'))
      return { headers: flavor, body: 'demo-portcullis' };
    return { status: 404, headers: flavor, body: {} };
  });
}

export const ACR_SUBSCRIPTION = '0b1f6471-1bf0-4dda-aec3-cb9272f09590';
/** The image the Resource Graph stand-in reports: Critical curl and Medium busybox findings. */
export const ACR_DIGEST = 'sha256:cccc000000000000000000000000000000000000000000000000000000000003';

type Row = { id: string; properties: Record<string, unknown> & { timeGenerated: string } };

/** Azure Resource Graph answering the ACR connector's two queries with two rows of one image. */
export function resourceGraph(): Promise<FakeServer> {
  const page = loadCloudFixture('azure/constructed-resource-graph-response-page.json') as { data: Row[] };
  const rows = page.data.slice(0, 2);
  const digestOf = (r: Row) =>
    String((r.properties.additionalData as { artifactDetails: { digest: string } }).artifactDetails.digest);
  return fakeServer((request): FakeAnswer => {
    if (!request.url.startsWith('/providers/Microsoft.ResourceGraph/resources')) return { status: 404 };
    const query = (request.body as { query: string }).query;
    if (query.includes('summarize')) {
      // What changed since the checkpoint: the rows generated since then.
      const since = /[^o]datetime\((\d[^)]*)\)/.exec(query)?.[1];
      const changed = rows.filter((r) => since === undefined || r.properties.timeGenerated >= since);
      const digests = [...new Set(changed.map(digestOf))].sort();
      return { body: { data: digests.map((digest) => ({ digest, rows: 1 })), resultTruncated: 'false' } };
    }
    const wanted = [...query.matchAll(/'(sha256:[0-9a-f]+)'/g)].map((m) => m[1]);
    const data = rows
      .filter((r) => wanted.includes(digestOf(r)))
      .map((r) => ({
        id: r.id,
        type: 'microsoft.security/assessments/subassessments',
        properties: r.properties,
        digest: digestOf(r),
      }));
    return { body: { data, resultTruncated: 'false' } };
  });
}

export const GAR_PROJECT = 'acme-prod';
/** The scanned image of the Artifact Analysis stand-in: a High and a Negligible finding. */
export const GAR_DIGEST = 'sha256:eeee000000000000000000000000000000000000000000000000000000000005';

/** Container Analysis (occurrences) and Artifact Registry (docker images, for tags) of one project. */
export function googleApis(): Promise<FakeServer> {
  type Occ = { kind: string; resourceUri: string };
  const occurrences = (
    loadCloudFixture('gcp/constructed-list-occurrences-discovery.json') as { occurrences: Occ[] }
  ).occurrences;
  const repository = `projects/${GAR_PROJECT}/locations/europe-west1/repositories/apps`;
  return fakeServer((request): FakeAnswer => {
    const url = new URL(request.url, 'http://x');
    if (url.pathname === `/v1/projects/${GAR_PROJECT}/occurrences`) {
      const filter = url.searchParams.get('filter') ?? '';
      const uri = /resourceUrl="([^"]+)"/.exec(filter)?.[1];
      const items =
        filter === 'kind="DISCOVERY"'
          ? occurrences.filter((o) => o.kind === 'DISCOVERY')
          : occurrences.filter((o) => o.kind === 'VULNERABILITY' && o.resourceUri === uri);
      return { body: items.length === 0 ? {} : { occurrences: items } };
    }
    if (url.pathname === `/v1/${repository}/dockerImages`) {
      return {
        body: {
          dockerImages: [
            {
              name: `${repository}/dockerImages/api`,
              uri: `europe-west1-docker.pkg.dev/${GAR_PROJECT}/apps/payments/api@${GAR_DIGEST}`,
              tags: ['1.4.2', 'stable'],
            },
          ],
        },
      };
    }
    if (url.pathname.endsWith('/dockerImages')) return { body: {} };
    return { status: 404, body: { error: { code: 404, message: url.pathname } } };
  });
}

export const ECR_ACCOUNT = '111122223333';
export const ECR_DIGEST = `sha256:${'a'.repeat(64)}`;

/**
 * ECR with one repository, `payments/api`, whose one image has the basic scan of the CLI's
 * documented example (one Medium finding). Returns the mock, to reset when done.
 */
export function mockEcr() {
  const ecr = mockClient(ECRClient);
  const example = loadCloudFixture('ecr/official-example-basic-cli-output.json') as {
    imageScanFindings: Record<string, unknown> & { imageScanCompletedAt: number };
  };
  const completedAt = new Date(example.imageScanFindings.imageScanCompletedAt * 1000);
  ecr.on(DescribeRepositoriesCommand).resolves({
    repositories: [{ repositoryName: 'payments/api', registryId: ECR_ACCOUNT }],
  });
  ecr.on(DescribeImagesCommand).resolves({
    imageDetails: [
      {
        registryId: ECR_ACCOUNT,
        repositoryName: 'payments/api',
        imageDigest: ECR_DIGEST,
        imageTags: ['1.4.2'],
        imagePushedAt: new Date('2024-05-01T00:00:00Z'),
        imageScanStatus: { status: 'COMPLETE', description: 'The scan was completed successfully.' },
        imageScanFindingsSummary: { imageScanCompletedAt: completedAt, findingSeverityCounts: { MEDIUM: 1 } },
      },
    ],
  });
  ecr.on(DescribeImageScanFindingsCommand).resolves({
    ...(example as object),
    registryId: ECR_ACCOUNT,
    repositoryName: 'payments/api',
    imageId: { imageDigest: ECR_DIGEST, imageTag: '1.4.2' },
    imageScanFindings: {
      ...example.imageScanFindings,
      imageScanCompletedAt: completedAt,
      vulnerabilitySourceUpdatedAt: completedAt,
    },
  } as never);
  return ecr;
}

/**
 * Run in a fresh Node process: imports the connectors chunk of a built bundle and starts one sync
 * of each kind with no credentials and no reachable endpoint, printing how each failed. A
 * connector whose SDK or credential library did not survive bundling fails differently (a
 * constructor that is undefined, a missing export) from one that got as far as asking for
 * credentials or connecting.
 */
const CONNECTOR_PROBE = `
const [chunk] = process.argv.slice(1);
const { createConnectorWith } = await import(chunk);
const retry = { attempts: 1, baseDelayMs: 1, maxDelayMs: 1, random: () => 0, sleep: async () => {} };
const kinds = { gar: { projects: ['my-project-1'] }, acr: { subscriptions: ['${ACR_SUBSCRIPTION}'] },
  ecr: { region: 'us-east-1', scanning: 'enhanced' } };
const out = {};
for (const [kind, settings] of Object.entries(kinds)) {
  const connectors = createConnectorWith({ retry, awsClientConfig: { endpoint: 'http://127.0.0.1:9',
    credentials: { accessKeyId: 'a', secretAccessKey: 'b' } } });
  try {
    await connectors({ id: 'r', name: 'r', kind, settings, enabled: true, createdAt: '', createdBy: '' })
      .sync({ signal: new AbortController().signal, now: new Date() }).next();
    out[kind] = 'no error';
  } catch (e) { out[kind] = String(e?.message ?? e); }
}
process.stdout.write('\\nPROBE ' + JSON.stringify(out) + '\\n');
process.exit(0);
`;

/**
 * Each connector of the bundle's connectors chunk (`chunk`, an absolute path) gets as far as its
 * cloud's credentials or endpoint: its libraries load and run from the bundle.
 */
export async function expectBundledConnectorsRun(chunk: string, cwd: string): Promise<void> {
  const { execFile } = await import('node:child_process');
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile(
      process.execPath,
      ['--input-type=module', '-e', CONNECTOR_PROBE, chunk],
      {
        cwd,
        timeout: 60_000,
        env: { PATH: process.env.PATH ?? '', NODE_NO_WARNINGS: '1', METADATA_SERVER_DETECTION: 'none' },
      },
      (error, out, err) => (error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out)),
    ),
  );
  const line = stdout.split('\n').find((l) => l.startsWith('PROBE '));
  if (line === undefined) throw new Error(`the connector probe printed nothing:\n${stdout}`);
  const failures = JSON.parse(line.slice(6)) as Record<string, string>;
  expect(failures.gar).toContain('Could not load the default credentials');
  expect(failures.acr).toContain('ChainedTokenCredential authentication failed');
  expect(failures.ecr).toContain('ECONNREFUSED');
}
