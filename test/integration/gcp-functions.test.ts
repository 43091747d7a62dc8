/**
 * Portcullis on Cloud Functions, over Google's Firestore emulator: the admission scenario
 * through functions-framework's test server (the registered functions in-process), then
 * through real `functions-framework --target=…` processes serving the esbuild bundle that
 * docs/deploy-gcp.md tells users to build; and the scheduled job functions.
 */
import { type ChildProcess, execSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmulatorClient, openFirestoreStoreFromEnv } from '../../adapters/store/firestore/index.js';
import type { Store } from '../../core/ports.js';
import { JOB_NAMES } from '../../functions/jobs.js';
import { makeEvent, makeRule } from '../contract/factories.js';
import { ROOT } from '../e2e/emulator.js';
import { type FirestoreServer, freePort, startFirestoreServer } from '../support/firestore-server.js';
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
  expectBundledConnectorsRun,
  GAR_DIGEST,
  GAR_PROJECT,
  googleApis,
  metadataServer,
  redirectFetch,
} from './registry-stand-ins.js';

const ADMIN_KEY = `pck_gcp_${'g'.repeat(40)}`;

let firestore: FirestoreServer;
const savedEnv = { ...process.env };

beforeAll(async () => {
  firestore = await startFirestoreServer();
  // The emulator's first requests are slow on a busy machine (JIT, channel set-up); warm it
  // without the store's 5 s deadline so that the functions' first calls are not what times out.
  const client = createEmulatorClient(firestore.endpoint, firestore.env.GOOGLE_CLOUD_PROJECT!);
  await client.collection('warm-up').doc('x').set({ at: Date.now() });
  await client.terminate();
}, 120_000);
afterAll(async () => {
  process.env = savedEnv;
  await firestore?.stop();
});

function toResult(status: number, text: string, headers: Record<string, unknown>): CallResult {
  return {
    status,
    json: text ? JSON.parse(text) : undefined,
    headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, String(v)])),
  };
}

describe("through functions-framework's test server", () => {
  let store: Store;

  beforeAll(async () => {
    Object.assign(process.env, firestore.env, {
      PORTCULLIS_FIRESTORE_PREFIX: `runs/in-process-${randomUUID()}`,
      PORTCULLIS_WEBHOOK_BASE_URL: 'https://portcullis-webhook-abc123-uc.a.run.app',
      PORTCULLIS_ADMIN_KEY: ADMIN_KEY,
    });
    // Registers webhook, api and the job functions, as the deployed module does.
    await import('../../functions/gcp/index.js');
    store = await openFirestoreStoreFromEnv(process.env);
  });
  afterAll(async () => {
    await store?.close();
  });

  const api = () => getTestServer('api');
  const webhook = () => getTestServer('webhook');

  const call: Call = async (target, method, path, options = {}) => {
    let req = request(target === 'admin' ? api() : webhook())
      [method.toLowerCase() as 'get' | 'post' | 'put' | 'patch' | 'delete'](path)
      .set('content-type', 'application/json');
    if (options.apiKey) req = req.set('authorization', `Bearer ${options.apiKey}`);
    const res = await (options.body === undefined ? req : req.send(options.body));
    return toResult(res.status, res.text, res.headers);
  };

  it("passes the admission scenario, webhook URLs on the webhook function's URL", async () => {
    await runAdmissionScenario(call, ADMIN_KEY);
    const clusters = await call('admin', 'GET', '/api/v1/clusters', { apiKey: ADMIN_KEY });
    expect(clusters.status).toBe(200);
    const registered = await call('admin', 'POST', '/api/v1/clusters', {
      apiKey: ADMIN_KEY,
      body: JSON.stringify({
        name: `gke-${randomUUID().slice(0, 8)}`,
        provider: 'gcp',
        account: 'my-project',
      }),
    });
    expect(registered.json.webhookUrl).toBe(
      `https://portcullis-webhook-abc123-uc.a.run.app/admission/${registered.json.token}`,
    );
  });

  it('keeps the admin API off the webhook function', async () => {
    const res = await call('webhook', 'GET', '/api/v1/rules', { apiKey: ADMIN_KEY });
    expect(res.status).toBe(404);
    expect(res.json.error.code).toBe('not_found');
  });

  it('registers one job function per scheduled job', () => {
    for (const job of JOB_NAMES) {
      const name = job.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
      expect(() => getTestServer(name), name).not.toThrow();
    }
  });

  it('expireExemptions: POST marks exemptions whose day has passed; GET is 405', async () => {
    const rule = makeRule({
      name: `expiring-${randomUUID().slice(0, 8)}`,
      version: '1',
      exemptions: [
        {
          id: randomUUID(),
          type: 'CVE',
          match: 'Equals',
          value: 'CVE-2020-0001',
          expiresOn: '2020-01-31',
          reason: 'written before the expiry job ran',
          createdBy: 'test',
          createdAt: '2020-01-01T00:00:00.000Z',
        },
      ],
    });
    await store.rules.create(rule);

    const get = await request(getTestServer('expireExemptions')).get('/');
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe('POST');
    expect(get.body.error.code).toBe('method_not_allowed');

    const run = await request(getTestServer('expireExemptions')).post('/');
    expect(run.status).toBe(200);
    expect(run.body).toMatchObject({ job: 'expire-exemptions' });
    expect(run.body.result.expired).toBeGreaterThanOrEqual(1);

    const after = await call('admin', 'GET', `/api/v1/rules/${rule.id}`, { apiKey: ADMIN_KEY });
    expect(after.json.exemptions[0].expired).toBe(true);
  });

  describe('registry sync (GAR through Artifact Analysis)', () => {
    // Application Default Credentials come from a stand-in metadata server, as on Cloud Run;
    // Container Analysis and Artifact Registry from a stand-in the googleapis.com hosts are sent to.
    let apis: FakeServer;
    let metadata: FakeServer;
    let undo: () => void;
    const saved = {
      GCE_METADATA_HOST: process.env.GCE_METADATA_HOST,
      METADATA_SERVER_DETECTION: process.env.METADATA_SERVER_DETECTION,
    };
    beforeAll(async () => {
      [apis, metadata] = await Promise.all([googleApis(), metadataServer()]);
      process.env.GCE_METADATA_HOST = new URL(metadata.url).host;
      process.env.METADATA_SERVER_DETECTION = 'assume-present';
      undo = redirectFetch({
        'https://containeranalysis.googleapis.com': apis.url,
        'https://artifactregistry.googleapis.com': apis.url,
      });
    });
    afterAll(async () => {
      undo?.();
      Object.assign(process.env, saved);
      await Promise.all([apis?.close(), metadata?.close()]);
    });

    const garCase: RegistrySyncCase = {
      registry: { name: 'acme-gar', kind: 'gar', settings: { projects: [GAR_PROJECT] } },
      images: 5,
      digest: GAR_DIGEST,
      source: 'gar',
      vulnerabilities: 2,
    };

    it('syncs on demand through the api function, and when Cloud Scheduler calls findingsSync', async () => {
      await runOnDemandSync(call, ADMIN_KEY, garCase);
      expect(apis.requests[0]?.authorization).toBe('Bearer metadata-token');
      const scheduled = await addUnsyncedRegistry(call, ADMIN_KEY, garCase);
      const run = await request(getTestServer('findingsSync')).post('/');
      expect(run.status).toBe(200);
      expect(run.body).toMatchObject({
        job: 'findings-sync',
        result: { registries: 2, succeeded: 2, failed: 0 },
      });
      await expectScheduledRun(call, ADMIN_KEY, scheduled, garCase);
    });
  });

  it('monitoringUpkeep: POST purges events past retention; GET is 405', async () => {
    const uid = randomUUID();
    await store.admissions.record(
      makeEvent({ uid, time: new Date(Date.now() - 200 * 86_400_000).toISOString() }),
    );
    const before = await call('admin', 'GET', `/api/v1/admissions?uid=${uid}`, { apiKey: ADMIN_KEY });
    expect(before.json.items).toHaveLength(1);

    expect((await request(getTestServer('monitoringUpkeep')).get('/')).status).toBe(405);
    const run = await request(getTestServer('monitoringUpkeep')).post('/');
    expect(run.status).toBe(200);
    expect(run.body).toMatchObject({ job: 'monitoring-upkeep' });
    expect(run.body.result.purged).toBeGreaterThanOrEqual(1);

    const after = await call('admin', 'GET', `/api/v1/admissions?uid=${uid}`, { apiKey: ADMIN_KEY });
    expect(after.json.items).toHaveLength(0);
  });
});

const DOCUMENTED_OUTDIR = 'iac/gcp/function-source';

/** The build command of docs/deploy-gcp.md, exactly as users run it (one shell line). */
function documentedBuildCommand(): string {
  const docs = readFileSync(join(ROOT, 'docs/deploy-gcp.md'), 'utf8');
  const line = docs.split('\n').find((l) => l.trim().startsWith('node scripts/build-functions.mjs gcp'));
  if (line === undefined)
    throw new Error('docs/deploy-gcp.md has no `node scripts/build-functions.mjs gcp …` line');
  return line.trim();
}

interface Metafile {
  inputs: Record<string, unknown>;
  outputs: Record<
    string,
    {
      bytes: number;
      entryPoint?: string;
      inputs: Record<string, unknown>;
      imports: { path: string; kind: string; external?: boolean }[];
    }
  >;
}

describe('through functions-framework processes serving the documented bundle', () => {
  let dir: string;
  let meta: Metafile;
  const processes: { child: ChildProcess; output: () => string }[] = [];
  let webhookUrl: string;
  let apiUrl: string;
  let apiOutput: () => string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'portcullis-gcp-'));
    const command = documentedBuildCommand();
    expect(command.endsWith(` ${DOCUMENTED_OUTDIR}`), command).toBe(true);
    const metafile = join(dir, 'meta.json');
    const source = join(dir, 'source');
    execSync(`${command.slice(0, -DOCUMENTED_OUTDIR.length)}${source} --metafile=${metafile}`, {
      cwd: ROOT,
      stdio: 'pipe',
    });
    meta = JSON.parse(readFileSync(metafile, 'utf8')) as Metafile;
    // What Terraform uploads: the bundle beside iac/gcp/function-source/package.json. Cloud Build
    // installs its dependencies; here the repository's node_modules stand in for them.
    writeFileSync(
      join(source, 'package.json'),
      readFileSync(join(ROOT, 'iac/gcp/function-source/package.json')),
    );
    symlinkSync(join(ROOT, 'node_modules'), join(source, 'node_modules'), 'dir');

    const [webhookPort, apiPort] = [await freePort(), await freePort()];
    webhookUrl = `http://127.0.0.1:${webhookPort}`;
    apiUrl = `http://127.0.0.1:${apiPort}`;
    const env = {
      ...savedEnv,
      ...firestore.env,
      NODE_ENV: 'production',
      NODE_OPTIONS: '--enable-source-maps',
      PORTCULLIS_STORE: 'firestore',
      PORTCULLIS_FIRESTORE_PREFIX: `runs/process-${randomUUID()}`,
      PORTCULLIS_WEBHOOK_BASE_URL: webhookUrl,
      PORTCULLIS_ADMIN_KEY: ADMIN_KEY,
    };
    const start = (target: string, port: number) => {
      const child = spawn(
        'npx',
        ['functions-framework', `--source=${source}`, `--target=${target}`, `--port=${port}`],
        {
          cwd: ROOT,
          env,
          detached: true,
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let output = '';
      child.stdout?.on('data', (d: Buffer) => {
        output += d.toString();
      });
      child.stderr?.on('data', (d: Buffer) => {
        output += d.toString();
      });
      const entry = { child, output: () => output };
      processes.push(entry);
      return entry;
    };
    start('webhook', webhookPort);
    apiOutput = start('api', apiPort).output;
    await Promise.all([waitForHealth(webhookUrl, processes[0]!), waitForHealth(apiUrl, processes[1]!)]);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(processes.map(({ child }) => stop(child)));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const call: Call = async (target, method, path, options = {}) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
    const res = await fetch(`${target === 'admin' ? apiUrl : webhookUrl}${path}`, {
      method,
      headers,
      body: options.body,
    });
    return toResult(res.status, await res.text(), Object.fromEntries(res.headers));
  };

  it('passes the admission scenario, webhook and api in separate processes', async () => {
    await runAdmissionScenario(call, ADMIN_KEY);
  });

  it('serves the dashboard the source carries, from the api function', async () => {
    const webDir = join(dir, 'source', 'web');
    const get = async (path: string, headers: Record<string, string> = {}) => {
      const res = await fetch(`${apiUrl}${path}`, { headers: { 'accept-encoding': 'identity', ...headers } });
      return { status: res.status, headers: Object.fromEntries(res.headers), body: await res.text() };
    };
    const index = await get('/');
    expectDashboardServed(
      {
        index,
        script: await get(`/assets/${dashboardScript(webDir)}`),
        notModified: await get('/', { 'if-none-match': index.headers.etag! }),
      },
      webDir,
    );
  });

  it('logs Cloud Logging JSON lines with a severity', () => {
    const entries = apiOutput()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(entries).toContainEqual(
      expect.objectContaining({ severity: 'INFO', message: 'seeded the default rule' }),
    );
    expect(entries).toContainEqual(
      expect.objectContaining({ severity: 'INFO', message: 'installed the bootstrap admin key' }),
    );
  });

  it('loads no admin API, report parser or OpenAPI code in the webhook function', () => {
    const outputs = meta.outputs;
    const entry = Object.keys(outputs).find((o) => outputs[o]!.entryPoint === 'functions/gcp/index.ts')!;
    const webhookChunk = Object.keys(outputs).find(
      (o) => outputs[o]!.entryPoint === 'functions/gcp/webhook-app.ts',
    )!;
    const apiChunk = Object.keys(outputs).find((o) => outputs[o]!.entryPoint === 'functions/gcp/api-app.ts')!;
    const closure = (start: string[]) => {
      const seen = new Set<string>();
      const visit = (o: string) => {
        if (seen.has(o) || outputs[o] === undefined) return;
        seen.add(o);
        for (const i of outputs[o]!.imports) if (i.kind === 'import-statement') visit(i.path);
      };
      for (const s of start) visit(s);
      return seen;
    };
    const inputsOf = (files: Set<string>) =>
      new Set([...files].flatMap((f) => Object.keys(outputs[f]!.inputs)));
    const bytesOf = (files: Set<string>) => [...files].reduce((n, f) => n + outputs[f]!.bytes, 0);

    const webhookFiles = closure([entry, webhookChunk]);
    const webhookInputs = inputsOf(webhookFiles);
    for (const input of webhookInputs) {
      expect(input).not.toMatch(/^functions\/(admin|openapi|app)\.ts$|^adapters\/registry\//);
    }
    expect(webhookInputs).toContain('functions/webhook.ts');
    // The ValidatingWebhookConfiguration's YAML is written at registration, by the api only.
    expect(webhookInputs).not.toContain('core/webhook-config.ts');
    expect([...webhookInputs].filter((i) => i.startsWith('node_modules/yaml/'))).toEqual([]);
    const apiFiles = closure([entry, apiChunk]);
    expect(inputsOf(apiFiles)).toContain('functions/admin.ts');
    // The registry connectors are a chunk of their own, loaded by the api and the jobs on a first sync.
    const connectorsChunk = Object.keys(outputs).find(
      (o) => outputs[o]!.entryPoint === 'adapters/registry/connectors.ts',
    );
    expect(connectorsChunk).toBeDefined();
    expect(webhookFiles.has(connectorsChunk!)).toBe(false);
    console.info(
      `GCP bundle: webhook loads ${Math.round(bytesOf(webhookFiles) / 1024)} KiB, api ${Math.round(
        bytesOf(apiFiles) / 1024,
      )} KiB of bundled JS (plus the Firestore SDK from node_modules)`,
    );
  });

  it('runs each registry connector from its chunk: ECR, Resource Graph and Artifact Analysis clients load', async () => {
    const chunk = Object.keys(meta.outputs).find(
      (o) => meta.outputs[o]!.entryPoint === 'adapters/registry/connectors.ts',
    )!;
    await expectBundledConnectorsRun(join(ROOT, chunk), join(dir, 'source'));
  });

  it("imports from node_modules only what the uploaded package.json lists, at the repository's versions", () => {
    const deployed = JSON.parse(readFileSync(join(ROOT, 'iac/gcp/function-source/package.json'), 'utf8'));
    const root = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
    const externals = new Set(
      Object.values(meta.outputs).flatMap((o) =>
        o.imports.filter((i) => i.external && !builtins.has(i.path)).map((i) => i.path),
      ),
    );
    expect([...externals].sort()).toEqual(Object.keys(deployed.dependencies).sort());
    for (const [name, version] of Object.entries(deployed.dependencies)) {
      expect(version, name).toBe(root.dependencies[name]);
    }
    expect(deployed.type).toBe('module');
  });
});

async function waitForHealth(
  url: string,
  proc: { child: ChildProcess; output: () => string },
): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null) throw new Error(`functions-framework exited:\n${proc.output()}`);
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`functions-framework did not answer on ${url}:\n${proc.output()}`);
}

/** SIGTERM to the process group (npx and the framework under it); resolves on exit. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const pid = child.pid;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      // already gone
    }
  };
  signal('SIGTERM');
  const timer = setTimeout(() => signal('SIGKILL'), 5000);
  await gone;
  clearTimeout(timer);
}
