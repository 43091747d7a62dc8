/**
 * The AWS deployment on this machine, against DynamoDB Local:
 * 1. the handlers in-process, fed real function URL (payload 2.0) and EventBridge events: the
 *    admission scenario, bad input, start failures, and each scheduled job doing its work;
 * 2. `serverless package`: cfn-lint, the tables against DYNAMODB_TABLES, each function's IAM
 *    role against the DynamoDB calls that function sent in (1), schedules, bundle contents;
 * 3. a real `serverless offline` process, driven through its Lambda invoke endpoint with the same
 *    function URL events (it does not emulate function URLs).
 */
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeImageScanFindingsCommand } from '@aws-sdk/client-ecr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseReport } from '../../adapters/registry/import.js';
import {
  createDynamoDbClient,
  DYNAMODB_TABLES,
  dynamoDbTableNames,
  ensureDynamoDbSchema,
  openDynamoDbStore,
} from '../../adapters/store/dynamodb/index.js';
import type { Clock } from '../../core/ports.js';
import { createServices } from '../../core/services/index.js';
import type { ConnectorFactory } from '../../core/sync.js';
import {
  createApiHandler,
  createJobHandler,
  createWebhookHandler,
  type FunctionUrlEvent,
  type FunctionUrlResult,
  type ScheduledEvent,
} from '../../functions/aws/handlers.js';
import type { LambdaLogger } from '../../functions/aws/logger.js';
import { JOB_NAMES } from '../../functions/jobs.js';
import { lazyServices } from '../../functions/runtime.js';
import { ROOT } from '../e2e/emulator.js';
import { type DynamoDbServer, freePort, startDynamoDbServer } from '../support/dynamodb-server.js';
import {
  addUnsyncedRegistry,
  type Call,
  type CallResult,
  type DashboardAnswers,
  dashboardScript,
  expectDashboardServed,
  expectScheduledRun,
  type RawAnswer,
  type RegistrySyncCase,
  runAdmissionScenario,
  runOnDemandSync,
} from './cloud-scenario.js';
import { ECR_ACCOUNT, ECR_DIGEST, mockEcr } from './registry-stand-ins.js';

const run = promisify(execFile);
const FUNCTIONS = ['webhook', 'api', 'expireExemptions', 'monitoringUpkeep', 'findingsSync'];
const ADMIN_KEY = `pck_aws_${'k'.repeat(40)}`;
const PREFIX = 'portcullis-test-';
const URL_ID = 'abcdefghijklmnopqrstuvwxyz012345';
const fixture = <T>(name: string): T =>
  JSON.parse(readFileSync(join(ROOT, 'test/fixtures/aws', name), 'utf8')) as T;
const URL_EVENT = fixture<FunctionUrlEvent>('function-url-request.json');
const SCHEDULED_EVENT = fixture<ScheduledEvent>('eventbridge-scheduled-event.json');

// ---- events, as Lambda builds them ----

/** A function URL event for one request, from the recorded one: lower-case headers, base64 unless text. */
function urlEvent(
  method: string,
  target: string,
  options: { body?: string; headers?: Record<string, string> } = {},
) {
  const url = new URL(target, 'https://x');
  const domainName = `${URL_ID}.lambda-url.us-east-1.on.aws`;
  const headers = { ...URL_EVENT.headers, host: domainName } as Record<string, string>;
  delete headers['content-type'];
  delete headers['content-length'];
  for (const [k, v] of Object.entries(options.headers ?? {})) headers[k.toLowerCase()] = v;
  const event: FunctionUrlEvent = {
    ...structuredClone(URL_EVENT),
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    queryStringParameters: url.search ? Object.fromEntries(url.searchParams) : undefined,
    headers,
    requestContext: {
      ...structuredClone(URL_EVENT.requestContext),
      domainName,
      requestId: randomUUID(),
      timeEpoch: Date.now(),
      http: { ...URL_EVENT.requestContext.http, method, path: url.pathname },
    },
    body: null,
    isBase64Encoded: false,
  };
  if (options.body === undefined) {
    delete (event as { body?: unknown }).body;
    return event;
  }
  headers['content-length'] = String(Buffer.byteLength(options.body));
  // Function URLs pass text bodies as they are and base64-encode everything else.
  const text = /json|text|xml|urlencoded/.test(headers['content-type'] ?? '');
  return {
    ...event,
    body: text ? options.body : Buffer.from(options.body).toString('base64'),
    isBase64Encoded: !text,
  };
}

function lambdaContext(functionName: string) {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: '2026/11/26/[$LATEST]0123456789abcdef',
    getRemainingTimeInMillis: () => 10_000,
  };
}

function toCallResult(result: FunctionUrlResult): CallResult {
  const text = result.isBase64Encoded ? Buffer.from(result.body, 'base64').toString('utf8') : result.body;
  return {
    status: result.statusCode,
    json: text ? JSON.parse(text) : undefined,
    headers: (result.headers ?? {}) as Record<string, string>,
  };
}

/** A scenario `call` that turns each request into a function URL event for `send`. */
function callThrough(
  send: (target: 'admin' | 'webhook', event: FunctionUrlEvent) => Promise<FunctionUrlResult>,
): Call {
  return async (target, method, path, options = {}) => {
    const headers: Record<string, string> = {};
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
    return toCallResult(await send(target, urlEvent(method, path, { body: options.body, headers })));
  };
}

/** A LambdaLogger that keeps its lines, so tests can read what a function logged. */
function memoryLogger(): LambdaLogger & { lines: { level: string; message: string; fields?: object }[] } {
  const lines: { level: string; message: string; fields?: object }[] = [];
  return {
    lines,
    info: (message, fields) => lines.push({ level: 'info', message, fields }),
    warn: (message, fields) => lines.push({ level: 'warn', message, fields }),
    error: (message, fields) => lines.push({ level: 'error', message, fields }),
    setContext: () => undefined,
  };
}

// ---- what each function sends to DynamoDB, as IAM sees it ----

interface Sent {
  fn: string;
  /** The IAM action, e.g. `dynamodb:PutItem` (a transaction's items count as their own actions). */
  action: string;
  table: string;
  index?: string;
  /** Partition key values, for `dynamodb:LeadingKeys`. */
  keys: string[];
}
const sent: Sent[] = [];
// biome-ignore lint/suspicious/noExplicitAny: wire-format DynamoDB JSON
type Wire = any;
const pk = (item: Wire): string => item?.pk?.S ?? '?';

function describeRequest(fn: string, operation: string, input: Wire): Sent[] {
  const table = (name: string) => name.slice(PREFIX.length);
  const one = (action: string, tableName: string, keys: string[], index?: string): Sent => ({
    fn,
    action: `dynamodb:${action}`,
    table: table(tableName),
    keys,
    ...(index === undefined ? {} : { index }),
  });
  switch (operation) {
    case 'GetItem':
    case 'PutItem':
    case 'UpdateItem':
    case 'DeleteItem':
      return [one(operation, input.TableName, [pk(input.Key ?? input.Item)])];
    case 'Query': {
      // The value the key condition compares `pk` with (base table queries only).
      const names: Record<string, string> = input.ExpressionAttributeNames ?? {};
      const match = [...String(input.KeyConditionExpression).matchAll(/([#\w]+)\s*=\s*(:\w+)/g)].find(
        ([, name]) => (names[name!] ?? name) === 'pk',
      );
      const keys = input.IndexName ? [] : [input.ExpressionAttributeValues[match![2]!].S];
      return [one('Query', input.TableName, keys, input.IndexName)];
    }
    case 'BatchGetItem':
      return Object.entries<Wire>(input.RequestItems).map(([t, r]) => one('BatchGetItem', t, r.Keys.map(pk)));
    case 'BatchWriteItem':
      return Object.entries<Wire>(input.RequestItems).map(([t, rs]) =>
        one(
          'BatchWriteItem',
          t,
          rs.map((r: Wire) => pk(r.PutRequest?.Item ?? r.DeleteRequest?.Key)),
        ),
      );
    case 'TransactWriteItems':
    case 'TransactGetItems':
      return input.TransactItems.map((item: Wire) => {
        const [kind, body] = Object.entries<Wire>(item)[0]!;
        const action = { Put: 'PutItem', Update: 'UpdateItem', Delete: 'DeleteItem', Get: 'GetItem' }[kind];
        return one(action ?? 'ConditionCheckItem', body.TableName, [pk(body.Key ?? body.Item)]);
      });
    default:
      return [one(operation, input.TableName ?? '*', [])];
  }
}

let ddb: DynamoDbServer;
const clients: DynamoDBClient[] = [];

/** A client that records every request it puts on the wire, in the name of function `fn`. */
function recordingClient(fn: string): DynamoDBClient {
  const client = createDynamoDbClient({
    endpoint: ddb.endpoint,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    requestTimeoutMs: 30_000,
  });
  client.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { headers: Record<string, string>; body: string | Uint8Array };
      const operation = request.headers['x-amz-target']!.split('.')[1]!;
      const body = typeof request.body === 'string' ? request.body : new TextDecoder().decode(request.body);
      sent.push(...describeRequest(fn, operation, JSON.parse(body)));
      return next(args);
    },
    { step: 'finalizeRequest', name: 'recordForIam' },
  );
  clients.push(client);
  return client;
}

const storeFor = (fn: string, retentionDays?: number, clock?: Clock) =>
  openDynamoDbStore({ client: recordingClient(fn), tablePrefix: PREFIX, retentionDays, clock });
const servicesFor = (fn: string, logger: LambdaLogger) =>
  lazyServices((days) => storeFor(fn, days), logger, {});

beforeAll(async () => {
  ddb = await startDynamoDbServer();
  const admin = createDynamoDbClient({
    endpoint: ddb.endpoint,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  await ensureDynamoDbSchema(admin, dynamoDbTableNames(PREFIX));
  admin.destroy();
}, 120_000);

afterAll(async () => {
  for (const client of clients) client.destroy();
  await ddb?.stop();
});

// ---- 1. in-process ----

describe('the Lambda handlers, in-process', () => {
  const apiLog = memoryLogger();
  const webhookLog = memoryLogger();
  const webhook = createWebhookHandler({ services: servicesFor('webhook', webhookLog), logger: webhookLog });
  const api = createApiHandler({
    services: servicesFor('api', apiLog),
    logger: apiLog,
    env: {
      PORTCULLIS_WEBHOOK_BASE_URL: `https://${URL_ID}.lambda-url.us-east-1.on.aws/`,
      PORTCULLIS_ADMIN_KEY: ADMIN_KEY,
    },
  });
  const send = (target: 'admin' | 'webhook', event: FunctionUrlEvent) =>
    target === 'admin'
      ? api(event, lambdaContext('portcullis-test-api'))
      : webhook(event, lambdaContext('portcullis-test-webhook'));
  const call = callThrough(send);

  it('passes the admission scenario through function URL events', async () => {
    await runAdmissionScenario(call, ADMIN_KEY);
    expect(apiLog.lines.map((l) => l.message)).toEqual(
      expect.arrayContaining([
        'seeded the default rule',
        'created the bootstrap admin key from PORTCULLIS_ADMIN_KEY',
      ]),
    );
    const cluster = await call('admin', 'POST', '/api/v1/clusters', {
      apiKey: ADMIN_KEY,
      body: JSON.stringify({ name: 'prod-eks', provider: 'aws', account: '123456789012' }),
    });
    // The function URL ends with a slash; the webhook URL must not get two.
    expect(cluster.json.webhookUrl).toBe(
      `https://${URL_ID}.lambda-url.us-east-1.on.aws/admission/${cluster.json.token}`,
    );
  });

  it('decodes base64 bodies and keeps bad input a 4xx', async () => {
    const review = (body: string) =>
      webhook(
        urlEvent('POST', '/admission/pct_nope?timeout=10s', {
          body,
          headers: { 'content-type': 'application/octet-stream' },
        }),
      );
    const unknown = await review('{"kind":"AdmissionReview"}');
    expect(toCallResult(unknown)).toMatchObject({
      status: 401,
      json: { error: { code: 'unauthenticated' } },
    });
    expect(toCallResult(await webhook(urlEvent('GET', '/admission/x'))).status).toBe(404);
    expect(toCallResult(await api(urlEvent('GET', '/nowhere'))).json.error.code).toBe('not_found');
    const badJson = await api(
      urlEvent('POST', '/api/v1/rules', {
        body: '{"name":',
        headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      }),
    );
    expect(toCallResult(badJson)).toMatchObject({
      status: 400,
      json: { error: { code: 'invalid_argument' } },
    });
  });

  it('refuses to start the admin function without a usable webhook URL or admin key', () => {
    const deps = { services: servicesFor('unused', apiLog), logger: apiLog };
    expect(() => createApiHandler({ ...deps, env: {} })).toThrow(/PORTCULLIS_WEBHOOK_BASE_URL: is required/);
    expect(() =>
      createApiHandler({ ...deps, env: { PORTCULLIS_WEBHOOK_BASE_URL: 'http://example.com' } }),
    ).toThrow(/PORTCULLIS_WEBHOOK_BASE_URL: must be an https URL/);
    expect(() =>
      createApiHandler({
        ...deps,
        env: { PORTCULLIS_WEBHOOK_BASE_URL: 'https://x.example', PORTCULLIS_ADMIN_KEY: 'short' },
      }),
    ).toThrow(/PORTCULLIS_ADMIN_KEY/);
  });

  it('answers 503 while its services cannot start, and starts on a later request', async () => {
    const logger = memoryLogger();
    let attempts = 0;
    const flaky = createWebhookHandler({
      logger,
      services: async () => {
        if (++attempts === 1) throw new Error('DynamoDB endpoint unreachable');
        return createServices(await storeFor('unused'));
      },
    });
    const context = lambdaContext('portcullis-test-webhook');
    const first = toCallResult(await flaky(urlEvent('GET', '/healthz'), context));
    expect(first).toMatchObject({ status: 503, json: { error: { code: 'unavailable' } } });
    expect(first.json.error.message).toContain(context.awsRequestId);
    expect(logger.lines[0]).toMatchObject({ level: 'error', message: 'function start failed' });
    expect(toCallResult(await flaky(urlEvent('GET', '/healthz'))).status).toBe(200);
  });

  it('expire-exemptions, on a scheduled event, marks an exemption past its day expired', async () => {
    const today = new Date().toISOString().slice(0, 10);
    const rule = await call('admin', 'POST', '/api/v1/rules', {
      apiKey: ADMIN_KEY,
      body: JSON.stringify({
        name: 'aws-expiry',
        action: 'Audit',
        conditions: { severities: ['Critical'] },
        exemptions: [
          { type: 'CVE', match: 'Equals', value: 'CVE-2020-0001', expiresOn: today, reason: 'ends today' },
          { type: 'CVE', match: 'Equals', value: 'CVE-2020-0002', expiresOn: '2999-01-31', reason: 'later' },
        ],
      }),
    });
    expect(rule.status).toBe(201);
    // The job runs two days from now, when today's exemption has lapsed.
    const later: Clock = { now: () => new Date(Date.now() + 2 * 86_400_000) };
    const logger = memoryLogger();
    const services = async () =>
      createServices(await storeFor('expireExemptions', 90, later), { clock: later, logger });
    const handler = createJobHandler('expire-exemptions', { services, logger });
    const result = await handler(
      structuredClone(SCHEDULED_EVENT),
      lambdaContext('portcullis-test-expireExemptions'),
    );
    expect(result).toMatchObject({ job: 'expire-exemptions', result: { expired: 1 } });
    const after = await call('admin', 'GET', `/api/v1/rules/${rule.json.id}`, { apiKey: ADMIN_KEY });
    expect(after.json.exemptions.map((e: { expired?: boolean }) => e.expired === true)).toEqual([
      true,
      false,
    ]);
    expect(logger.lines[0]).toMatchObject({
      message: 'job started',
      fields: { scheduledAt: SCHEDULED_EVENT.time },
    });
  });

  it('findings-sync, on a scheduled event, syncs each enabled registry into the scans', async () => {
    const registry = await call('admin', 'POST', '/api/v1/registries', {
      apiKey: ADMIN_KEY,
      body: JSON.stringify({ name: 'prod-ecr', kind: 'ecr', settings: { region: 'us-east-1' } }),
    });
    expect(registry.status).toBe(201);
    const digest = `sha256:${'e'.repeat(64)}`;
    const [scan] = parseReport(
      'native',
      {
        images: [
          {
            registry: '123456789012.dkr.ecr.us-east-1.amazonaws.com',
            repository: 'payments/api',
            digest,
            tags: ['1.4'],
            status: 'Scanned',
            scannedAt: new Date().toISOString(),
            vulnerabilities: [{ id: 'CVE-2024-0001', severity: 'High', package: 'openssl' }],
          },
        ],
      },
      { now: new Date() },
    );
    // A scripted connector in place of ECR's (no ECR here): the first run delivers the scan; the
    // next finds the image unchanged but tagged 1.5 now instead of 1.4 (a tag observation).
    let runs = 0;
    const connectors: ConnectorFactory = () => ({
      async *sync() {
        if (++runs === 1) {
          yield { scans: [scan!], checkpoint: 'page-1', progress: { images: 1 } };
        } else {
          const { registry, repository, source } = scan!;
          yield {
            scans: [],
            tags: [{ registry, repository, digest, source, tags: ['1.5'] }],
            checkpoint: 'page-2',
          };
        }
        return { checkpoint: 'done' };
      },
    });
    const logger = memoryLogger();
    const services = async () => createServices(await storeFor('findingsSync'), { logger, connectors });
    const job = createJobHandler('findings-sync', { services, logger });
    const result = await job(structuredClone(SCHEDULED_EVENT));
    expect(result.result).toMatchObject({ registries: 1, succeeded: 1, images: 1, vulnerabilities: 1 });
    const image = await call('admin', 'GET', `/api/v1/images/${digest}`, { apiKey: ADMIN_KEY });
    expect(image.json).toMatchObject({ repository: 'payments/api', tags: ['1.4'], counts: { High: 1 } });
    expect((await job(structuredClone(SCHEDULED_EVENT))).result).toMatchObject({ succeeded: 1 });
    const retagged = await call('admin', 'GET', `/api/v1/images/${digest}`, { apiKey: ADMIN_KEY });
    expect(retagged.json).toMatchObject({ tags: ['1.5'], counts: { High: 1 } });
  });

  it('monitoring-upkeep deletes admission events past retention', async () => {
    const before = await call('admin', 'GET', '/api/v1/admissions?limit=100', { apiKey: ADMIN_KEY });
    expect(before.json.items.length).toBeGreaterThan(3);
    // 100 days from now every event of today is past the 90-day retention.
    const later: Clock = { now: () => new Date(Date.now() + 100 * 86_400_000) };
    const logger = memoryLogger();
    const services = async () =>
      createServices(await storeFor('monitoringUpkeep', 90, later), { clock: later, logger });
    const result = await createJobHandler('monitoring-upkeep', { services, logger })(
      structuredClone(SCHEDULED_EVENT),
    );
    expect(result.result.purged).toBe(before.json.items.length);
    expect((await call('admin', 'GET', '/api/v1/admissions', { apiKey: ADMIN_KEY })).json.items).toEqual([]);
  });

  it('lets a failed job throw, so that Lambda records it and EventBridge retries', async () => {
    const logger = memoryLogger();
    const failing = createJobHandler('monitoring-upkeep', {
      logger,
      services: () => Promise.reject(new Error('no store')),
    });
    await expect(failing(structuredClone(SCHEDULED_EVENT))).rejects.toThrow('no store');
    expect(logger.lines.at(-1)).toMatchObject({ level: 'error', message: 'job failed' });
  });
});

describe('the Lambda entry files (api.ts, jobs.ts) sync registries through the ECR connector', () => {
  // ECR answers through aws-sdk-client-mock: no ECR runs here. The entry files read their store
  // from the environment, as on Lambda; tables of their own, created on first use.
  const saved = { ...process.env };
  let ecr: ReturnType<typeof mockEcr>;
  beforeAll(() => {
    Object.assign(process.env, ddb.env, {
      PORTCULLIS_DYNAMODB_TABLE_PREFIX: 'portcullis-entry-',
      PORTCULLIS_DYNAMODB_ENSURE_SCHEMA: 'true',
      PORTCULLIS_WEBHOOK_BASE_URL: `https://${URL_ID}.lambda-url.us-east-1.on.aws/`,
      PORTCULLIS_ADMIN_KEY: ADMIN_KEY,
      POWERTOOLS_LOG_LEVEL: 'ERROR',
    });
    ecr = mockEcr();
  });
  afterAll(() => {
    ecr.restore();
    process.env = saved;
  });

  const ecrCase: RegistrySyncCase = {
    registry: {
      name: 'entry-ecr',
      kind: 'ecr',
      settings: { region: 'us-east-1', registryId: ECR_ACCOUNT, scanning: 'basic' },
    },
    images: 1,
    digest: ECR_DIGEST,
    source: 'ecr',
    vulnerabilities: 1,
  };

  it('POST /registries/{ref}:sync through the api handler, then the findingsSync handler on a schedule', async () => {
    const { handler: api } = await import('../../functions/aws/api.js');
    const { findingsSync } = await import('../../functions/aws/jobs.js');
    const call = callThrough((_target, event) => api(event, lambdaContext('portcullis-test-api')));
    await runOnDemandSync(call, ADMIN_KEY, ecrCase);
    const scheduled = await addUnsyncedRegistry(call, ADMIN_KEY, ecrCase);
    const result = await findingsSync(
      structuredClone(SCHEDULED_EVENT),
      lambdaContext('portcullis-test-findingsSync'),
    );
    // Both registries ran; only the new one had anything to deliver (the other resumed from its checkpoint).
    expect(result.result).toMatchObject({ registries: 2, succeeded: 2, failed: 0, images: 1 });
    await expectScheduledRun(call, ADMIN_KEY, scheduled, ecrCase);
    expect(ecr.commandCalls(DescribeImageScanFindingsCommand).length).toBeGreaterThanOrEqual(2);
  });
});

// ---- 2. serverless package ----

const SLS_ENV = {
  ...process.env,
  SLS_TELEMETRY_DISABLED: '1',
  SLS_NOTIFICATIONS_MODE: 'off',
  AWS_ACCESS_KEY_ID: 'x',
  AWS_SECRET_ACCESS_KEY: 'y',
  NODE_NO_WARNINGS: '1',
};
const SLS = join(ROOT, 'node_modules/.bin/serverless');

/** Imports a packaged function's bundle, as Lambda does, and answers one event with its handler. */
const DASHBOARD_CHILD = `
import { pathToFileURL } from 'node:url';
const [bundle, event] = process.argv.slice(1);
const { handler } = await import(pathToFileURL(bundle).href);
const result = await handler(JSON.parse(event));
process.stdout.write('\\nRESULT ' + JSON.stringify(result) + '\\n');
`;

describe('serverless package', () => {
  const out = mkdtempSync(join(tmpdir(), 'portcullis-sls-'));
  // biome-ignore lint/suspicious/noExplicitAny: CloudFormation template
  let template: any;
  const resources = () => template.Resources as Record<string, Wire>;
  const bundle = (fn: string) => {
    const dir = join(out, `unzipped-${fn}`);
    const entry = readdirSync(join(dir, 'functions/aws')).find((f) => f.endsWith('.mjs'))!;
    return join(dir, 'functions/aws', entry);
  };

  beforeAll(async () => {
    const args = ['package', '--stage', 'dev', '--region', 'us-east-1', '--package', out];
    await run(SLS, args, { cwd: ROOT, env: SLS_ENV, timeout: 170_000 });
    template = JSON.parse(readFileSync(join(out, 'cloudformation-template-update-stack.json'), 'utf8'));
    for (const fn of FUNCTIONS)
      await run('unzip', ['-q', join(out, `${fn}.zip`), '-d', join(out, `unzipped-${fn}`)]);
  }, 180_000);
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('passes cfn-lint', async () => {
    const file = join(out, 'cloudformation-template-update-stack.json');
    // W3005: serverless' own redundant DependsOn. cfn-lint exits non-zero on any other finding.
    const lint = await run('cfn-lint', [file, '--ignore-checks', 'W3005']).then(
      (r) => ({ code: 0, output: `${r.stdout}${r.stderr}` }),
      (e) => ({ code: e.code, output: `${e.stdout ?? ''}${e.stderr ?? ''}${e.message}` }),
    );
    expect(lint).toEqual({ code: 0, output: '' });
  });

  it('declares the tables of DYNAMODB_TABLES: on demand, every GSI, TTL, point-in-time recovery', () => {
    const tables = Object.values(resources()).filter((r) => r.Type === 'AWS::DynamoDB::Table');
    expect(tables).toHaveLength(DYNAMODB_TABLES.length);
    const sortBy = <T>(list: T[] | undefined, key: keyof T) =>
      [...(list ?? [])].sort((a, b) => String(a[key]).localeCompare(String(b[key])));
    for (const spec of DYNAMODB_TABLES) {
      const table = tables.find((t) => t.Properties.TableName === `portcullis-dev-${spec.key}`)!.Properties;
      expect(table.BillingMode).toBe(spec.create.BillingMode);
      expect(table.KeySchema).toEqual(spec.create.KeySchema);
      expect(sortBy(table.AttributeDefinitions, 'AttributeName')).toEqual(
        sortBy(spec.create.AttributeDefinitions as Wire[], 'AttributeName'),
      );
      expect(sortBy(table.GlobalSecondaryIndexes, 'IndexName')).toEqual(
        sortBy(spec.create.GlobalSecondaryIndexes as Wire[], 'IndexName'),
      );
      expect(table.TimeToLiveSpecification).toEqual(
        spec.ttlAttribute === undefined ? undefined : { AttributeName: spec.ttlAttribute, Enabled: true },
      );
      expect(table.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    }
  });

  it('gives each function a role allowing what it sends to DynamoDB, and the webhook and jobs nothing more', () => {
    const tableOf = (logicalId: string) =>
      resources()[logicalId].Properties.TableName.slice('portcullis-dev-'.length);
    /** Each Allow statement as (action, table, index?) grants, with its LeadingKeys patterns. */
    const grants = (fn: string) => {
      const functionId = `${fn[0]!.toUpperCase()}${fn.slice(1)}LambdaFunction`;
      const roleId = resources()[functionId].Properties.Role['Fn::GetAtt'][0];
      const statements: Wire[] = resources()[roleId].Properties.Policies.flatMap(
        (p: Wire) => p.PolicyDocument.Statement,
      );
      return statements.flatMap((s) => {
        const targets = [s.Resource].flat().flatMap((r: Wire) => {
          if (
            r['Fn::GetAtt']?.[1] === 'Arn' &&
            resources()[r['Fn::GetAtt'][0]].Type === 'AWS::DynamoDB::Table'
          )
            return [{ table: tableOf(r['Fn::GetAtt'][0]), index: false }];
          const sub = /^\$\{(\w+)\.Arn\}\/index\/\*$/.exec(r['Fn::Sub'] ?? '');
          return sub ? [{ table: tableOf(sub[1]!), index: true }] : [];
        });
        const condition = Object.entries<Wire>(s.Condition ?? {});
        expect(
          condition.every(
            ([op, kv]) =>
              /^ForAllValues:String(Like|Equals)$/.test(op) &&
              Object.keys(kv).join() === 'dynamodb:LeadingKeys',
          ),
        ).toBe(true);
        const patterns: string[] | undefined = condition[0]?.[1]['dynamodb:LeadingKeys'];
        return [s.Action]
          .flat()
          .filter((a: string) => a.startsWith('dynamodb:'))
          .flatMap((action: string) => targets.map((t) => ({ action, ...t, patterns })));
      });
    };
    const glob = (pattern: string) =>
      new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
    const allowed = (g: ReturnType<typeof grants>, s: Sent) =>
      g.some(
        (x) =>
          x.action === s.action &&
          x.table === s.table &&
          x.index === (s.index !== undefined) &&
          (x.patterns === undefined || s.keys.every((k) => x.patterns!.some((p) => glob(p).test(k)))),
      );
    const label = (x: { action: string; table: string; index?: unknown }) =>
      `${x.table}${x.index ? '/index' : ''} ${x.action}`;
    for (const fn of FUNCTIONS) {
      const used = sent.filter((s) => s.fn === fn);
      expect(used.length, `${fn} sent nothing: run the whole file`).toBeGreaterThan(0);
      const g = grants(fn);
      expect(
        used.filter((s) => !allowed(g, s)).map((s) => `${label(s)} ${s.keys.join(',')}`),
        fn,
      ).toEqual([]);
      if (fn !== 'api') {
        // Everything granted is used: no write the function does not make, no table it does not touch.
        expect([...new Set(g.map(label))].sort(), fn).toEqual([...new Set(used.map(label))].sort());
      }
    }
    expect(grants('webhook').filter((x) => x.table === 'records' && !/GetItem|Query/.test(x.action))).toEqual(
      [],
    );
  });

  it('schedules every job of JOB_NAMES and serves the webhook and API on public function URLs', () => {
    const camel = (job: string) => job.replace(/-(\w)/g, (_, c: string) => c.toUpperCase());
    for (const job of JOB_NAMES) {
      const functionId = `${camel(job)[0]!.toUpperCase()}${camel(job).slice(1)}LambdaFunction`;
      expect(resources()[functionId]?.Properties.Handler, job).toBe(`functions/aws/jobs.${camel(job)}`);
      const rule = Object.values(resources()).find(
        (r) => r.Type === 'AWS::Events::Rule' && r.Properties.Targets[0].Arn['Fn::GetAtt'][0] === functionId,
      );
      expect(rule?.Properties.ScheduleExpression, job).toMatch(/^rate\(\d+ (minutes|hours?)\)$/);
    }
    for (const fn of ['Webhook', 'Api']) {
      expect(resources()[`${fn}LambdaFunctionUrl`].Properties.AuthType).toBe('NONE');
      const permissions = Object.values(resources()).filter(
        (r) =>
          r.Type === 'AWS::Lambda::Permission' &&
          r.Properties.FunctionName['Fn::GetAtt']?.[0] === `${fn}LambdaFunction`,
      );
      expect(permissions.map((p) => p.Properties.Action).sort()).toEqual([
        'lambda:InvokeFunction',
        'lambda:InvokeFunctionUrl',
      ]);
      const props = resources()[`${fn}LambdaFunction`].Properties;
      expect([props.Runtime, props.Architectures, props.Environment.Variables.NODE_OPTIONS]).toEqual([
        'nodejs22.x',
        ['arm64'],
        '--enable-source-maps',
      ]);
    }
    const env = resources().ApiLambdaFunction.Properties.Environment.Variables;
    expect(env.PORTCULLIS_WEBHOOK_BASE_URL).toEqual({
      'Fn::GetAtt': ['WebhookLambdaFunctionUrl', 'FunctionUrl'],
    });
    expect(env.PORTCULLIS_ADMIN_KEY).toBe('{{resolve:secretsmanager:portcullis/dev/admin-key}}');
    expect(env.PORTCULLIS_DYNAMODB_TABLE_PREFIX).toBe('portcullis-dev-');
    // In AWS the tables are stack resources; a function creating them would need more than its role.
    expect(env.PORTCULLIS_DYNAMODB_ENSURE_SCHEMA).toBe('false');
  });

  it('bundles each function minified; the webhook under 1 MB, without the admin API or report parsers', () => {
    const sizes = Object.fromEntries(FUNCTIONS.map((fn) => [fn, statSync(bundle(fn)).size]));
    console.log('bundle sizes (minified, bytes):', JSON.stringify(sizes));
    expect(sizes.webhook).toBeLessThan(1024 * 1024);
    const code = (fn: string) => readFileSync(bundle(fn), 'utf8');
    // Minified: internal names are gone.
    expect(code('webhook')).not.toContain('withLambdaRequestId');
    // Marker strings: the Trivy parser's and the admin API's error messages, and the registry
    // connectors' (with the Azure and Google credential libraries they load).
    const markers = [
      'expected the output of "trivy image --format json"',
      'missing API key: send',
      'DefaultAzureCredential returned no token',
    ];
    for (const marker of markers) {
      expect(code('api')).toContain(marker);
      expect(code('webhook')).not.toContain(marker);
    }
    // The DynamoDB client is bundled (its version pinned by the lock file), not left to the runtime.
    expect(code('webhook')).not.toMatch(/from\s*["']@aws-sdk\//);
  });

  it("serves the dashboard from the api's package, through its handler, where Lambda runs it", async () => {
    const dir = join(out, 'unzipped-api');
    expect(readdirSync(join(out, 'unzipped-webhook'))).not.toContain('dist');
    // Lambda runs a function with its package root (/var/task) as the working directory.
    const get = async (path: string, headers: Record<string, string> = {}): Promise<RawAnswer> => {
      const { stdout } = await run(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          DASHBOARD_CHILD,
          bundle('api'),
          JSON.stringify(urlEvent('GET', path, { headers: { 'accept-encoding': 'identity', ...headers } })),
        ],
        {
          cwd: dir,
          env: {
            PATH: process.env.PATH ?? '',
            ...ddb.env,
            NODE_NO_WARNINGS: '1',
            POWERTOOLS_LOG_LEVEL: 'ERROR',
            PORTCULLIS_DYNAMODB_TABLE_PREFIX: 'portcullis-dashboard-',
            PORTCULLIS_DYNAMODB_ENSURE_SCHEMA: 'true',
            PORTCULLIS_WEBHOOK_BASE_URL: `https://${URL_ID}.lambda-url.us-east-1.on.aws/`,
          },
          timeout: 60_000,
        },
      );
      const result = JSON.parse(
        stdout
          .split('\n')
          .find((l) => l.startsWith('RESULT '))!
          .slice(7),
      ) as FunctionUrlResult;
      const body = result.isBase64Encoded ? Buffer.from(result.body, 'base64').toString('utf8') : result.body;
      return { status: result.statusCode, headers: (result.headers ?? {}) as Record<string, string>, body };
    };
    const index = await get('/');
    const answers: DashboardAnswers = {
      index,
      script: await get(`/assets/${dashboardScript(join(dir, 'dist/web'))}`),
      notModified: await get('/', { 'if-none-match': index.headers.etag! }),
    };
    expectDashboardServed(answers, join(dir, 'dist/web'));
  }, 120_000);
});

// ---- 3. serverless offline ----

describe('serverless offline', () => {
  let lambdaUrl = '';
  let child: ReturnType<typeof spawn> | undefined;
  let output = '';

  beforeAll(async () => {
    const [httpPort, lambdaPort, websocketPort, albPort] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ]);
    const ports = [
      '--httpPort',
      httpPort,
      '--lambdaPort',
      lambdaPort,
      '--websocketPort',
      websocketPort,
      '--albPort',
      albPort,
    ];
    // --useInProcess: each handler runs in the serverless-offline process itself, as the Lambda
    // runtime runs it in its own process. The default worker-thread mode here intermittently never
    // delivers an invocation's result (nor the worker's output) and times out ~1 run in 3.
    const args = [
      'offline',
      'start',
      '--stage',
      'offline',
      '--region',
      'us-east-1',
      '--host',
      '127.0.0.1',
      '--useInProcess',
    ];
    child = spawn(SLS, [...args, ...ports.map(String)], {
      cwd: ROOT,
      detached: true,
      env: {
        ...SLS_ENV,
        ...ddb.env,
        PORTCULLIS_ADMIN_KEY: ADMIN_KEY,
        PORTCULLIS_WEBHOOK_BASE_URL: `http://127.0.0.1:${httpPort}`,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const deadline = Date.now() + 150_000;
    while (!/Scheduling \[monitoringUpkeep\]/.test(output)) {
      if (child.exitCode !== null || Date.now() > deadline)
        throw new Error(`serverless offline did not start:\n${output}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    lambdaUrl = `http://127.0.0.1:${lambdaPort}/2015-03-31/functions`;
  }, 180_000);

  afterAll(async () => {
    if (child?.pid === undefined || child.exitCode !== null) return;
    const exited = new Promise((r) => child!.once('exit', r));
    process.kill(-child.pid, 'SIGTERM');
    await exited;
  });

  /** Invokes a deployed-name function through serverless-offline's Lambda API, as `aws lambda invoke` would. */
  async function invoke<T>(fn: string, event: unknown): Promise<T> {
    const res = await fetch(`${lambdaUrl}/portcullis-offline-${fn}/invocations`, {
      method: 'POST',
      body: JSON.stringify(event),
    });
    const text = await res.text();
    if (res.status !== 200 || res.headers.get('x-amz-function-error'))
      throw new Error(`${fn} failed (${res.status}): ${text}\n${output}`);
    return JSON.parse(text) as T;
  }

  it('passes the admission scenario through the webhook and api functions', async () => {
    await runAdmissionScenario(
      callThrough((target, event) =>
        invoke<FunctionUrlResult>(target === 'admin' ? 'api' : 'webhook', event),
      ),
      ADMIN_KEY,
    );
  }, 120_000);

  it('runs a scheduled job on an EventBridge event', async () => {
    const result = await invoke<{ job: string; result: Record<string, number> }>(
      'expireExemptions',
      SCHEDULED_EVENT,
    );
    expect(result).toMatchObject({ job: 'expire-exemptions', result: { expired: 0 } });
  });
});
