/**
 * The Azure Functions app through its own entry points, with no Functions host (none runs
 * here): `@azure/functions-core` is provided the way the Node.js worker provides it (by
 * intercepting `require`), so `app.http` / `app.timer` register for real and hand over the
 * binding metadata and callbacks the host would get. Requests are routed to a function by the
 * registered route templates under host.json's route prefix, as the host does, and run against
 * the local Cosmos DB server:
 *
 * - the admission scenario through the registered `webhook` and `api` callbacks;
 * - the timers' effects (an exemption past its day is marked expired; old events are purged);
 * - the deployable bundle built by the command in docs/deploy-azure.md, loaded in a fresh Node
 *   process that reaches Cosmos DB over HTTPS with a managed identity token (App Service's
 *   IDENTITY_ENDPOINT protocol), as it runs on Azure.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import Module from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import azure from '@azure/functions';
import { createHttpsServer } from '@vercel/cosmosdb-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCosmosStoreFromEnv } from '../../adapters/store/cosmos/index.js';
import type { Store } from '../../core/ports.js';
import { createServices } from '../../core/services/index.js';
import { JOB_NAMES } from '../../functions/jobs.js';
import { ensureTls } from '../../local-emulator/tls.js';
import { admissionReview, fixture, ROOT } from '../e2e/emulator.js';
import { type CosmosServer, startCosmosServer } from '../support/cosmos-server.js';
import type { FakeServer } from '../unit/registry/sync-helpers.js';
import {
  addUnsyncedRegistry,
  type Call,
  type CallResult,
  dashboardScript,
  expectDashboardServed,
  expectScheduledRun,
  type RegistrySyncCase,
  runAdmissionScenario,
  runOnDemandSync,
} from './cloud-scenario.js';
import {
  ACR_DIGEST,
  ACR_SUBSCRIPTION,
  expectBundledConnectorsRun,
  managedIdentity,
  redirectFetch,
  resourceGraph,
} from './registry-stand-ins.js';

const { HttpRequest, HttpResponse, InvocationContext } = azure;

const BASE_URL = 'https://func-portcullis-test.azurewebsites.net';
const ADMIN_KEY = `pck_${'z'.repeat(43)}`;
const DAY_MS = 86_400_000;

interface Registration {
  metadata: { name: string; bindings: Record<string, Record<string, unknown>> };
  callback: (trigger: unknown, context: InstanceType<typeof InvocationContext>) => Promise<unknown>;
}
const registered = new Map<string, Registration>();

/**
 * What the Node.js worker exposes as `@azure/functions-core` (azure-functions-nodejs-worker
 * `setupCoreModule`), recording registrations instead of sending them to the host.
 */
const coreApi = {
  version: 'test',
  hostVersion: 'test',
  registerFunction: (metadata: Registration['metadata'], callback: Registration['callback']) => {
    registered.set(metadata.name, { metadata, callback });
    return { dispose() {} };
  },
  setProgrammingModel: () => {},
  registerHook: () => ({ dispose() {} }),
  log: () => {},
};
const moduleProto = Module.prototype as unknown as { require: (id: string) => unknown };
const originalRequire = moduleProto.require;

const hostJson = JSON.parse(readFileSync(join(ROOT, 'functions/azure/host.json'), 'utf8'));

/** The trigger binding of a registered function. */
function triggerOf(name: string): Record<string, unknown> {
  const registration = registered.get(name);
  if (!registration) throw new Error(`function ${name} was not registered`);
  const trigger = Object.values(registration.metadata.bindings).find((b) => b.direction === 'in');
  if (!trigger) throw new Error(`function ${name} has no trigger`);
  return trigger;
}

/**
 * The HTTP function the host sends `method path` to: routes are matched under host.json's
 * route prefix (`api` when unset), and a literal segment wins over a parameter, which wins over
 * a catch-all (ASP.NET route precedence).
 */
function routeRequest(method: string, path: string): string {
  const prefix: string = hostJson.extensions?.http?.routePrefix ?? 'api';
  let rest = path.split('?')[0]!.replace(/^\/+/, '');
  if (prefix !== '') {
    if (!rest.startsWith(`${prefix}/`)) throw new Error(`${path} is outside the route prefix /${prefix}`);
    rest = rest.slice(prefix.length + 1);
  }
  const candidates: { name: string; rank: number[] }[] = [];
  for (const [name] of registered) {
    const trigger = triggerOf(name);
    if (trigger.type !== 'httpTrigger') continue;
    if (!(trigger.methods as string[]).includes(method.toUpperCase())) continue;
    const segments = String(trigger.route).split('/');
    const pattern = segments
      .map((s) =>
        s.startsWith('{*')
          ? '(.*)'
          : s.startsWith('{')
            ? '([^/]+)'
            : s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
      )
      .join('/');
    if (!new RegExp(`^${pattern}$`, 'i').test(rest)) continue;
    candidates.push({
      name,
      rank: segments.map((s) => (s.startsWith('{*') ? 1 : s.startsWith('{') ? 2 : 3)),
    });
  }
  candidates.sort((a, b) => {
    for (let i = 0; i < Math.max(a.rank.length, b.rank.length); i++) {
      const d = (b.rank[i] ?? 0) - (a.rank[i] ?? 0);
      if (d !== 0) return d;
    }
    return 0;
  });
  if (candidates.length === 0) throw new Error(`no function serves ${method} ${path}`);
  return candidates[0]!.name;
}

const logs: { functionName: string; level: string; line: string }[] = [];

function invocation(functionName: string) {
  return new InvocationContext({
    invocationId: randomUUID(),
    functionName,
    logHandler: (level, ...args) => logs.push({ functionName, level, line: args.map(String).join(' ') }),
  });
}

/** Sends one request to whichever registered function the host would route it to. */
async function send(
  method: string,
  path: string,
  options: { body?: string; apiKey?: string } = {},
): Promise<CallResult & { functionName: string }> {
  const functionName = routeRequest(method, path);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
  const request = new HttpRequest({
    method,
    url: `${BASE_URL}${path}`,
    headers,
    ...(options.body === undefined ? {} : { body: { string: options.body } }),
  });
  const init = await registered.get(functionName)!.callback(request, invocation(functionName));
  // What the worker sends back to the host is the library's own reading of the result.
  const response = new HttpResponse(init as ConstructorParameters<typeof HttpResponse>[0]);
  const text = await response.text();
  return {
    functionName,
    status: response.status,
    json: text ? JSON.parse(text) : undefined,
    headers: Object.fromEntries(response.headers),
  };
}

/** A timer trigger's payload as the host passes it. */
function timer(isPastDue = false) {
  const now = new Date();
  return {
    isPastDue,
    schedule: { adjustForDST: false },
    scheduleStatus: {
      last: new Date(now.getTime() - 3_600_000).toISOString(),
      next: new Date(now.getTime() + 3_600_000).toISOString(),
      lastUpdated: now.toISOString(),
    },
  };
}

let cosmos: CosmosServer;
const savedEnv = { ...process.env };
const database = `azure-fn-${Date.now()}`;

beforeAll(async () => {
  cosmos = await startCosmosServer();
  Object.assign(process.env, cosmos.env, {
    PORTCULLIS_STORE: 'cosmos',
    PORTCULLIS_COSMOS_DATABASE: database,
    PORTCULLIS_WEBHOOK_BASE_URL: BASE_URL,
    PORTCULLIS_ADMIN_KEY: ADMIN_KEY,
  });
  moduleProto.require = new Proxy(originalRequire, {
    apply: (target, self, args) =>
      args[0] === '@azure/functions-core' ? coreApi : Reflect.apply(target, self, args),
  });
  await import('../../functions/azure/index.js');
});

afterAll(async () => {
  moduleProto.require = originalRequire;
  process.env = savedEnv;
  await cosmos?.stop();
});

describe('registration', () => {
  it('registers the webhook, the api and one timer per job, as the host will see them', () => {
    expect([...registered.keys()].sort()).toEqual(['api', 'webhook', ...JOB_NAMES].sort());
    expect(triggerOf('webhook')).toMatchObject({
      type: 'httpTrigger',
      route: 'admission/{token}',
      methods: ['POST'],
      authLevel: 'anonymous',
    });
    expect(triggerOf('api')).toMatchObject({ type: 'httpTrigger', route: '{*path}', authLevel: 'anonymous' });
    expect(registered.get('api')!.metadata.bindings.$return).toMatchObject({
      type: 'http',
      direction: 'out',
    });
    for (const job of JOB_NAMES) {
      const trigger = triggerOf(job);
      expect(trigger.type).toBe('timerTrigger');
      // NCRONTAB: six fields, seconds first.
      expect(String(trigger.schedule).split(' ')).toHaveLength(6);
    }
  });

  it('routes /admission/{token} to the webhook and everything else to the api, with no /api prefix', () => {
    expect(hostJson.extensions.http.routePrefix).toBe('');
    expect(routeRequest('POST', '/admission/pct_abc')).toBe('webhook');
    expect(routeRequest('GET', '/healthz')).toBe('api');
    expect(routeRequest('GET', '/api/v1/rules?limit=5')).toBe('api');
    expect(routeRequest('POST', '/api/v1/findings:import?format=trivy')).toBe('api');
    expect(routeRequest('DELETE', '/api/v1/clusters/c1')).toBe('api');
    // A GET on the webhook path is not the webhook's: the api answers it (with a 404).
    expect(routeRequest('GET', '/admission/pct_abc')).toBe('api');
  });
});

describe('over Cosmos DB', () => {
  it('passes the admission scenario through the registered handlers', async () => {
    await runAdmissionScenario(async (target, method, path, options) => {
      const result = await send(method, path, options);
      expect(result.functionName).toBe(target === 'webhook' ? 'webhook' : 'api');
      return result;
    }, ADMIN_KEY);

    const cluster = await send('POST', '/api/v1/clusters', {
      apiKey: ADMIN_KEY,
      body: JSON.stringify({ name: `url-${Date.now()}`, provider: 'azure', account: 'sub' }),
    });
    expect(cluster.json.webhookUrl).toBe(`${BASE_URL}/admission/${cluster.json.token}`);
    // Logs went through each invocation's context, as JSON lines.
    const apiLines = logs.filter((l) => l.functionName === 'api').map((l) => JSON.parse(l.line).message);
    expect(apiLines).toContain('seeded the default rule');
    expect(apiLines).toContain('installed the bootstrap admin key');
  });

  it('answers bad input with 4xx JSON, never a platform 500', async () => {
    const notFound = await send('GET', '/admission/pct_abc');
    expect(notFound.status).toBe(404);
    expect(notFound.json.error.code).toBe('not_found');
    const badJson = await send('POST', '/api/v1/rules', { apiKey: ADMIN_KEY, body: '{"name":' });
    expect(badJson.status).toBe(400);
    const empty = await send('POST', `/admission/pct_${'q'.repeat(43)}`);
    expect(empty.status).toBe(401);
  });

  describe('registry sync (ACR through Azure Resource Graph)', () => {
    // The managed identity and Resource Graph are local stand-ins; the connector calls
    // https://management.azure.com as on Azure, sent to the stand-in by redirectFetch.
    let graph: FakeServer;
    let identity: FakeServer;
    let undo: () => void;
    const saved = {
      IDENTITY_ENDPOINT: process.env.IDENTITY_ENDPOINT,
      IDENTITY_HEADER: process.env.IDENTITY_HEADER,
    };
    beforeAll(async () => {
      [graph, identity] = await Promise.all([resourceGraph(), managedIdentity()]);
      process.env.IDENTITY_ENDPOINT = `${identity.url}/msi/token`;
      process.env.IDENTITY_HEADER = 'identity-secret';
      undo = redirectFetch({ 'https://management.azure.com': graph.url });
    });
    afterAll(async () => {
      undo?.();
      Object.assign(process.env, saved);
      await Promise.all([graph?.close(), identity?.close()]);
    });

    const acrCase: RegistrySyncCase = {
      registry: {
        name: 'contoso-acr',
        kind: 'acr',
        settings: { subscriptions: [ACR_SUBSCRIPTION], registries: ['contosoapps.azurecr.io'] },
      },
      images: 1,
      digest: ACR_DIGEST,
      source: 'acr',
      vulnerabilities: 2,
    };
    const call: Call = (_target, method, path, options) => send(method, path, options);

    it('syncs on demand through the api function, and on the findings-sync timer', async () => {
      await runOnDemandSync(call, ADMIN_KEY, acrCase);
      // The token was the managed identity's, for Azure Resource Manager.
      expect(graph.requests[0]?.authorization).toBe('Bearer mi-token-for-https://management.azure.com');
      const scheduled = await addUnsyncedRegistry(call, ADMIN_KEY, acrCase);
      await registered.get('findings-sync')!.callback(timer(), invocation('findings-sync'));
      const finished = logs
        .filter((l) => l.functionName === 'findings-sync')
        .map((l) => JSON.parse(l.line))
        .find((l) => l.message === 'job finished');
      expect(finished).toMatchObject({ registries: 2, succeeded: 2, failed: 0, images: 1 });
      await expectScheduledRun(call, ADMIN_KEY, scheduled, acrCase);
    });
  });

  describe('timers', () => {
    let store: Store;
    beforeAll(async () => {
      store = await openCosmosStoreFromEnv(process.env);
    });
    afterAll(async () => store?.close());

    it('expire-exemptions marks an exemption past its day as expired', async () => {
      const now = Date.now();
      // Written three days ago, when its day (two days ago) was still ahead.
      const then = createServices(store, { clock: { now: () => new Date(now - 3 * DAY_MS) } });
      const expiresOn = new Date(now - 2 * DAY_MS).toISOString().slice(0, 10);
      const rule = await then.rules.create(
        {
          name: `expiring-${now}`,
          action: 'Deny',
          conditions: { severities: ['Critical'] },
          exemptions: [{ type: 'CVE', match: 'Equals', value: 'CVE-2024-0001', expiresOn, reason: 'test' }],
        },
        'test',
      );
      expect((await store.rules.get(rule.id))?.exemptions[0]?.expired).toBeUndefined();

      await registered.get('expire-exemptions')!.callback(timer(), invocation('expire-exemptions'));

      const after = await store.rules.get(rule.id);
      expect(after?.exemptions[0]).toMatchObject({ value: 'CVE-2024-0001', expiresOn, expired: true });
      const finished = logs
        .filter((l) => l.functionName === 'expire-exemptions')
        .map((l) => JSON.parse(l.line));
      expect(finished).toContainEqual(expect.objectContaining({ message: 'job finished', expired: 1 }));
    });

    it('monitoring-upkeep purges events older than the retention', async () => {
      const now = Date.now();
      const then = createServices(store, { clock: { now: () => new Date(now - 100 * DAY_MS) } });
      const cluster = await then.clusters.register(
        { name: `old-${now}`, provider: 'other', account: 'x' },
        'test',
        { baseUrl: BASE_URL },
      );
      const uid = `old-${now}`;
      await then.admission.review(
        cluster,
        admissionReview(fixture('kubernetes/e2e/deployment-unscanned.json'), { uid, namespace: 'old' }),
      );
      expect((await store.admissions.query({ uid, limit: 10 })).items).toHaveLength(1);

      await registered.get('monitoring-upkeep')!.callback(timer(true), invocation('monitoring-upkeep'));

      expect((await store.admissions.query({ uid, limit: 10 })).items).toHaveLength(0);
      const lines = logs.filter((l) => l.functionName === 'monitoring-upkeep').map((l) => JSON.parse(l.line));
      expect(lines.map((l) => l.message)).toEqual(
        expect.arrayContaining(['timer is past due', 'job finished']),
      );
    });
  });
});

/** Runs the fenced block of docs/deploy-azure.md that follows `<!-- azure-bundle -->`, into `outDir`. */
async function buildFromDocs(outDir: string): Promise<void> {
  const doc = readFileSync(join(ROOT, 'docs/deploy-azure.md'), 'utf8');
  const block = /<!-- azure-bundle -->\s*```bash\n([\s\S]*?)```/.exec(doc)?.[1];
  if (!block) throw new Error('docs/deploy-azure.md has no <!-- azure-bundle --> bash block');
  expect(block).toContain('node scripts/build-functions.mjs azure dist/azure');
  const script = block.replaceAll('dist/azure', outDir);
  await new Promise<void>((resolve, reject) => {
    const child = spawn('bash', ['-euo', 'pipefail', '-c', script], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d));
    child.stderr.on('data', (d: Buffer) => (output += d));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`the bundle command failed:\n${output}`)),
    );
  });
}

/** The files a module loads before it runs: itself and its static imports, transitively. */
function staticClosure(dir: string, entry: string): string[] {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(join(dir, file), 'utf8');
    for (const m of text.matchAll(/\bfrom\s*"\.\/([^"]+)"|\bimport\s*"\.\/([^"]+)"/g)) visit((m[1] ?? m[2])!);
  };
  visit(entry);
  return [...seen];
}

/** Loads the bundle as the worker would, then calls its functions; prints what happened as JSON. */
const CHILD = `
import Module, { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
const [bundle, root, adminKey, script] = process.argv.slice(1);
const { HttpRequest, InvocationContext } = createRequire(root + '/package.json')('@azure/functions');
const registered = new Map();
const logs = [];
const core = {
  registerFunction: (metadata, callback) => { registered.set(metadata.name, { metadata, callback }); return { dispose() {} }; },
  setProgrammingModel() {}, registerHook: () => ({ dispose() {} }), log() {},
};
const original = Module.prototype.require;
Module.prototype.require = new Proxy(original, {
  apply: (t, self, args) => (args[0] === '@azure/functions-core' ? core : Reflect.apply(t, self, args)),
});
const started = performance.now();
await import(pathToFileURL(bundle).href);
const loadMs = Math.round(performance.now() - started);
const context = (functionName) => new InvocationContext({ invocationId: 'i', functionName,
  logHandler: (level, ...a) => logs.push(level + ' ' + a.join(' ')) });
const call = async (name, method, path, body) => {
  const init = await registered.get(name).callback(new HttpRequest({ method, url: 'https://func.azurewebsites.net' + path,
    headers: { authorization: 'Bearer ' + adminKey }, ...(body ? { body: { string: body } } : {}) }), context(name));
  const text = init.body ? Buffer.from(init.body).toString() : JSON.stringify(init.jsonBody ?? null);
  return { status: init.status, json: JSON.parse(text) };
};
const healthz = await call('api', 'GET', '/healthz');
const rules = await call('api', 'GET', '/api/v1/rules');
const webhook = await call('webhook', 'POST', '/admission/pct_${'n'.repeat(43)}', '{}');
await registered.get('expire-exemptions').callback({ isPastDue: false, schedule: { adjustForDST: false },
  scheduleStatus: { last: '', next: '', lastUpdated: '' } }, context('expire-exemptions'));
const raw = async (path, headers = {}) => {
  const init = await registered.get('api').callback(new HttpRequest({ method: 'GET',
    url: 'https://func.azurewebsites.net' + path, headers }), context('api'));
  return { status: init.status, headers: Object.fromEntries(init.headers ?? []),
    body: init.body ? Buffer.from(init.body).toString() : '' };
};
const index = await raw('/');
const dashboard = { index, script: await raw('/assets/' + script),
  notModified: await raw('/', { 'if-none-match': index.headers.etag }) };
const functions = [...registered.values()].map((r) => r.metadata.name);
process.stdout.write(JSON.stringify({ loadMs, functions, healthz, rules, webhook, dashboard, logs }));
`;

describe('the deployable bundle', () => {
  let outDir: string;
  let identity: Server;
  let cosmosTls: ReturnType<typeof createHttpsServer>;
  let caPath: string;
  const tokenRequests: { resource: string | null; secret: string | undefined }[] = [];

  beforeAll(async () => {
    outDir = mkdtempSync(join(tmpdir(), 'portcullis-azure-'));
    // App Service's managed identity endpoint: what DefaultAzureCredential calls on Azure.
    identity = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      tokenRequests.push({
        resource: url.searchParams.get('resource'),
        secret: req.headers['x-identity-header'] as string | undefined,
      });
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          access_token: 'managed-identity-token',
          expires_on: String(Math.floor(Date.now() / 1000) + 3600),
          resource: url.searchParams.get('resource'),
          token_type: 'Bearer',
        }),
      );
    });
    await new Promise<void>((r) => identity.listen(0, '127.0.0.1', r));
    // Cosmos DB over HTTPS: the SDK sends bearer tokens on TLS connections only.
    const tls = ensureTls(`${outDir}-tls`, ['127.0.0.1', 'localhost']);
    caPath = tls.caPath;
    cosmosTls = createHttpsServer({ cert: tls.certPem, key: tls.keyPem });
    await new Promise<void>((r) => cosmosTls.listen(0, '127.0.0.1', r));
    await buildFromDocs(outDir);
  }, 120_000);

  afterAll(async () => {
    await new Promise((r) => identity?.close(r));
    await new Promise((r) => cosmosTls?.close(r));
    if (outDir) {
      rmSync(outDir, { recursive: true, force: true });
      rmSync(`${outDir}-tls`, { recursive: true, force: true });
    }
  });

  it('is a folder the Functions host can run: host.json, package.json main, ESM chunks, the dashboard', () => {
    const files = readdirSync(outDir);
    expect(files).toContain('web');
    expect(JSON.parse(readFileSync(join(outDir, 'host.json'), 'utf8'))).toEqual(hostJson);
    const pkg = JSON.parse(readFileSync(join(outDir, 'package.json'), 'utf8'));
    expect(files).toContain(pkg.main);
    expect(pkg.dependencies ?? {}).toEqual({});
  });

  it('keeps the admin API out of what the webhook loads at start', () => {
    const main = JSON.parse(readFileSync(join(outDir, 'package.json'), 'utf8')).main as string;
    const atStart = staticClosure(outDir, main);
    const text = (f: string) => readFileSync(join(outDir, f), 'utf8');
    expect(atStart.some((f) => text(f).includes('/openapi.json'))).toBe(false);
    const lazy = readdirSync(outDir).filter((f) => f.endsWith('.mjs') && !atStart.includes(f));
    expect(lazy.some((f) => text(f).includes('/openapi.json'))).toBe(true);
    // The registry connectors (and the credential libraries they drive) load on a first sync only.
    const connectorMarker = 'DefaultAzureCredential returned no token';
    expect(atStart.some((f) => text(f).includes(connectorMarker))).toBe(false);
    expect(lazy.some((f) => text(f).includes(connectorMarker))).toBe(true);
    const kib = (files: string[]) =>
      Math.round(files.reduce((n, f) => n + statSync(join(outDir, f)).size, 0) / 1024);
    // Minified, zod's locales dropped: the webhook's start (Cosmos SDK, zod, hono, @azure/functions)
    // stays under the 1 MB goal the AWS webhook meets too.
    expect(kib(atStart)).toBeLessThan(1024);
    console.info(`azure bundle: ${kib(atStart)} KiB loaded at start, ${kib(lazy)} KiB on demand`);
  });

  it('runs each registry connector from its chunk: ECR, Resource Graph and Artifact Analysis clients load', async () => {
    const chunk = readdirSync(outDir).find(
      (f) => f.endsWith('.mjs') && /\bas createConnectorWith\b/.test(readFileSync(join(outDir, f), 'utf8')),
    );
    expect(chunk).toBeDefined();
    await expectBundledConnectorsRun(join(outDir, chunk!), outDir);
  });

  it('registers every function and serves from Cosmos DB with the managed identity', async () => {
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      NODE_EXTRA_CA_CERTS: caPath,
      IDENTITY_ENDPOINT: `http://127.0.0.1:${(identity.address() as AddressInfo).port}/msi/token`,
      IDENTITY_HEADER: 'identity-secret',
      COSMOS_ENDPOINT: `https://127.0.0.1:${(cosmosTls.address() as AddressInfo).port}/`,
      PORTCULLIS_STORE: 'cosmos',
      PORTCULLIS_COSMOS_DATABASE: 'portcullis',
      // The IaC creates the containers in Azure; the local server starts empty.
      PORTCULLIS_COSMOS_ENSURE_SCHEMA: 'true',
      PORTCULLIS_WEBHOOK_BASE_URL: BASE_URL,
      PORTCULLIS_ADMIN_KEY: ADMIN_KEY,
    };
    const main = JSON.parse(readFileSync(join(outDir, 'package.json'), 'utf8')).main as string;
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          CHILD,
          join(outDir, main),
          ROOT,
          ADMIN_KEY,
          dashboardScript(join(outDir, 'web')),
        ],
        { env, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d));
      child.stderr.on('data', (d: Buffer) => (err += d));
      child.on('exit', (code) =>
        code === 0 ? resolve(out) : reject(new Error(`bundle run failed (${code}):\n${err}\n${out}`)),
      );
    });
    const result = JSON.parse(output);
    expect(result.functions.sort()).toEqual(['api', 'webhook', ...JOB_NAMES].sort());
    expect(result.healthz).toEqual({ status: 200, json: { status: 'ok' } });
    expect(result.rules.status).toBe(200);
    expect(result.rules.json.items.map((r: { name: string }) => r.name)).toEqual([
      'default-audit-high-critical',
    ]);
    expect(result.webhook.status).toBe(401);
    // The api serves the dashboard the folder carries beside the bundle.
    expectDashboardServed(result.dashboard, join(outDir, 'web'));
    // No account key anywhere: every Cosmos DB call carried the managed identity's token.
    expect(tokenRequests.length).toBeGreaterThan(0);
    expect(tokenRequests[0]!.secret).toBe('identity-secret');
    // The token's audience is the account itself.
    expect(tokenRequests[0]!.resource).toBe(new URL(env.COSMOS_ENDPOINT!).origin);
  }, 60_000);
});
