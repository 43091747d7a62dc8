/**
 * The store contract on DynamoDB Local (the real server, started here), a fresh set of tables
 * per test, plus what is DynamoDB's own: the schema as data, item-size handling, TTL,
 * transactions' errors, bulk writes, and that no call ever scans a table.
 */
import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  DeleteTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  BY_UID_INDEX,
  createDocumentClient,
  createDynamoDbClient,
  DYNAMODB_TABLES,
  dynamoDbTableNames,
  openDynamoDbStore,
  openDynamoDbStoreFromEnv,
  TTL_ATTRIBUTE,
} from '../../adapters/store/dynamodb/index.js';
import { countSeverities } from '../../core/domain.js';
import { ConflictError, UnavailableError, VersionConflictError } from '../../core/errors.js';
import type { Store } from '../../core/ports.js';
import { type DynamoDbServer, startDynamoDbServer } from '../support/dynamodb-server.js';
import { digestOf, makeEvent, makeRule, makeScan, makeVulnerabilities, unique } from './factories.js';
import { storeContract } from './store-contract.js';

let server: DynamoDbServer | undefined;
beforeAll(async () => {
  server = await startDynamoDbServer();
}, 90_000);
afterAll(async () => {
  await server?.stop();
});

/** How many of each command the stores of this file sent: none may be a Scan. */
const commandsSent = new Map<string, number>();
const sent = (name: string) => commandsSent.get(name) ?? 0;

function client(): DynamoDBClient {
  if (server === undefined) throw new Error('DynamoDB Local is started in beforeAll');
  const c = createDynamoDbClient({
    endpoint: server.endpoint,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    // DynamoDB Local on a busy CI machine can take seconds per bulk call; DynamoDB does not.
    requestTimeoutMs: 30_000,
    connectTimeoutMs: 10_000,
  });
  c.middlewareStack.add(
    (next, context) => (args) => {
      const name = context.commandName ?? 'unknown';
      commandsSent.set(name, sent(name) + 1);
      return next(args);
    },
    { step: 'initialize', name: 'recordCommandNames' },
  );
  return c;
}

/** Deletes the tables of a prefix so that DynamoDB Local's memory stays small. */
async function dropTables(prefix: string): Promise<void> {
  const admin = client();
  try {
    for (const name of Object.values(dynamoDbTableNames(prefix))) {
      await admin.send(new DeleteTableCommand({ TableName: name })).catch(() => undefined);
    }
  } finally {
    admin.destroy();
  }
}

const prefixes: string[] = [];
async function openFresh(
  options: { retentionDays?: number } = {},
): Promise<{ store: Store; prefix: string }> {
  const prefix = `t${unique()}-`;
  prefixes.push(prefix);
  const store = await openDynamoDbStore({
    client: client(),
    tablePrefix: prefix,
    ensureSchema: true,
    ...options,
  });
  return { store, prefix };
}

async function cleanup(): Promise<void> {
  for (const prefix of prefixes.splice(0)) await dropTables(prefix);
}

storeContract('dynamodb', async () => (await openFresh()).store, cleanup);

describe('dynamodb store specifics', () => {
  const open: Store[] = [];
  let raw: ReturnType<typeof createDocumentClient>;
  const fresh = async (options: { retentionDays?: number } = {}) => {
    const opened = await openFresh(options);
    open.push(opened.store);
    raw = createDocumentClient(client());
    return { ...opened, names: dynamoDbTableNames(opened.prefix) };
  };
  afterEach(async () => {
    for (const store of open.splice(0)) await store.close();
    raw?.destroy();
    await cleanup();
  });

  it('opens from the environment and creates the tables of DYNAMODB_TABLES with their GSIs and TTL', async () => {
    const prefix = `env${unique()}-`;
    prefixes.push(prefix);
    const store = await openDynamoDbStoreFromEnv({
      ...server?.env,
      PORTCULLIS_DYNAMODB_TABLE_PREFIX: prefix,
      PORTCULLIS_DYNAMODB_ENSURE_SCHEMA: 'true',
    });
    open.push(store);
    await store.meta.set('opened', 'yes');
    expect(await store.meta.get('opened')).toBe('yes');
    const admin = client();
    try {
      for (const spec of DYNAMODB_TABLES) {
        const name = `${prefix}${spec.key}`;
        const { Table } = await admin.send(new DescribeTableCommand({ TableName: name }));
        expect(Table?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
        expect((Table?.GlobalSecondaryIndexes ?? []).map((g) => g.IndexName).sort()).toEqual(
          (spec.create.GlobalSecondaryIndexes ?? []).map((g) => g.IndexName).sort(),
        );
        const ttl = await admin.send(new DescribeTimeToLiveCommand({ TableName: name }));
        expect(ttl.TimeToLiveDescription?.AttributeName).toBe(spec.ttlAttribute);
      }
    } finally {
      admin.destroy();
    }
  });

  it('stores an image of 20,000 vulnerabilities gzipped inline in its head item', async () => {
    const { store, names } = await fresh();
    const scan = makeScan({ vulnCount: 20_000 });
    await store.scans.upsertScans([scan]);
    expect(await store.scans.getScan(scan.digest)).toEqual(scan);
    const { Items } = await raw.send(
      new QueryCommand({
        TableName: names.scans,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': `D#${scan.digest}` },
      }),
    );
    expect(Items?.map((i) => i.sk)).toEqual(['S#ecr']);
    expect(Items?.[0]?.vz).toBeInstanceOf(Uint8Array);
  });

  it('splits 20,000 vulnerabilities that do not fit in an item into chunks, and drops them on replace', async () => {
    const { store, names } = await fresh();
    // Random titles do not compress: several hundred KB even gzipped.
    const vulnerabilities = makeVulnerabilities(20_000).map((v) => ({
      ...v,
      title: randomBytes(24).toString('hex'),
    }));
    const big = makeScan({ vulnerabilities, counts: countSeverities(vulnerabilities), tags: ['big'] });
    await store.scans.upsertScans([big]);
    expect(await store.scans.getScan(big.digest)).toEqual(big);
    const keys = async () =>
      (
        await raw.send(
          new QueryCommand({
            TableName: names.scans,
            KeyConditionExpression: 'pk = :pk',
            ExpressionAttributeValues: { ':pk': `D#${big.digest}` },
            ProjectionExpression: 'sk',
          }),
        )
      ).Items?.map((i) => String(i.sk)) ?? [];
    const chunked = await keys();
    expect(chunked.filter((sk) => sk.startsWith('C#ecr#')).length).toBeGreaterThan(1);

    // The same scan again writes nothing new; a smaller one replaces it and its chunks go.
    await store.scans.upsertScans([big]);
    expect(await keys()).toEqual(chunked);
    const small = {
      ...big,
      vulnerabilities: vulnerabilities.slice(0, 10),
      counts: countSeverities(vulnerabilities.slice(0, 10)),
    };
    await store.scans.upsertScans([small]);
    expect(await keys()).toEqual(['S#ecr']);
    expect(await store.scans.getScan(big.digest)).toEqual(small);
  }, 60_000);

  it('sets the TTL attribute on every event, hides expired events at once, and DynamoDB Local deletes them', async () => {
    const { store, names } = await fresh({ retentionDays: 1 });
    const now = Date.now();
    const recent = makeEvent({ id: 'evt-recent', time: new Date(now - 3_600_000).toISOString() });
    // One day of retention from a day minus 4 s ago: it expires 4 s from now.
    const expiring = makeEvent({ id: 'evt-expiring', time: new Date(now - 86_400_000 + 4000).toISOString() });
    await store.admissions.record(recent);
    await store.admissions.record(expiring);
    const listed = async () => (await store.admissions.query({ limit: 10 })).items.map((e) => e.id);
    expect(await listed()).toEqual(['evt-recent', 'evt-expiring']);
    // The keys come from the byUid GSI, which (unlike queries) does not hide expired events.
    const keys = new Map<string, Record<string, unknown>>();
    for (const event of [recent, expiring]) {
      const { Items } = await raw.send(
        new QueryCommand({
          TableName: names.admissions,
          IndexName: BY_UID_INDEX,
          KeyConditionExpression: 'uid = :uid',
          ExpressionAttributeValues: { ':uid': event.uid },
        }),
      );
      expect(Items).toHaveLength(1);
      keys.set(event.id, { pk: Items?.[0]?.pk, sk: Items?.[0]?.sk });
    }
    const itemOf = async (event: typeof recent) =>
      (await raw.send(new GetCommand({ TableName: names.admissions, Key: keys.get(event.id) }))).Item;
    expect((await itemOf(recent))?.[TTL_ATTRIBUTE]).toBe(Math.floor(Date.parse(recent.time) / 1000) + 86_400);
    expect((await itemOf(expiring))?.[TTL_ATTRIBUTE]).toBe(
      Math.floor(Date.parse(expiring.time) / 1000) + 86_400,
    );
    await new Promise((r) => setTimeout(r, 5000));
    // Expired events are hidden at once, whether or not the TTL has deleted them yet.
    expect(await listed()).toEqual(['evt-recent']);
    // DynamoDB Local runs TTL deletion in the background, typically within seconds.
    const deadline = Date.now() + 45_000;
    while ((await itemOf(expiring)) !== undefined && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(await itemOf(expiring)).toBeUndefined();
    expect(await itemOf(recent)).toBeDefined();
  }, 60_000);

  it('keeps the TransactionCanceledException as the cause of rule conflicts', async () => {
    const { store } = await fresh();
    const rule = makeRule({ name: 'dup', version: 'v1' });
    await store.rules.create(rule);
    const taken = await store.rules.create(makeRule({ name: 'DUP' })).catch((e: unknown) => e);
    expect(taken).toBeInstanceOf(ConflictError);
    expect((taken as Error).cause).toMatchObject({ name: 'TransactionCanceledException' });
    const stale = await store.rules.update({ ...rule, version: 'v3' }, 'v0').catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(VersionConflictError);
  });

  it('upserts 5,000 scans with tags in one call, and a repeat writes nothing', async () => {
    const { store } = await fresh();
    const scans = Array.from({ length: 5000 }, (_, i) =>
      makeScan({
        repository: `bulk/repo-${i % 50}`,
        digest: digestOf(`bulk5k-${i}`),
        tags: [`b${i}`, 'latest'],
        vulnCount: 30,
        scannedAt: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
      }),
    );
    await store.scans.upsertScans(scans);
    expect(await store.scans.getScan(scans[4999]!.digest)).toEqual(scans[4999]);
    expect(await store.scans.resolveTag(scans[0]!.registry, 'bulk/repo-49', 'latest')).toBe(
      scans[4999]!.digest,
    );
    const writes = () => sent('BatchWriteItemCommand') + sent('PutItemCommand') + sent('PutCommand');
    const written = writes();
    await store.scans.upsertScans(scans);
    expect(writes()).toBe(written);
    const page = await store.scans.listImages({
      limit: 1000,
      registry: scans[0]!.registry,
      repository: 'bulk/repo-7',
    });
    expect(page.items).toHaveLength(100);
    expect(page.nextCursor).toBeNull();
  }, 120_000);
});

/**
 * An HTTP proxy to DynamoDB Local that holds back the answer to the named operations (by their
 * X-Amz-Target) for `delayMs`: a DynamoDB that is slow for some calls, as under load.
 */
async function slowProxy(upstream: string, slow: ReadonlySet<string>, delayMs: number) {
  const proxy = createHttpServer((req, res) => {
    const body: Buffer[] = [];
    req.on('data', (c: Buffer) => body.push(c));
    req.on('end', async () => {
      const operation = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? '';
      if (slow.has(operation)) await new Promise((r) => setTimeout(r, delayMs));
      if (res.destroyed) return;
      try {
        const headers = Object.fromEntries(
          Object.entries(req.headers).filter(([k]) => !['host', 'connection', 'content-length'].includes(k)),
        ) as Record<string, string>;
        const answer = await fetch(`${upstream}${req.url}`, {
          method: req.method,
          headers,
          body: Buffer.concat(body),
        });
        res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? '' });
        res.end(Buffer.from(await answer.arrayBuffer()));
      } catch {
        res.destroy();
      }
    });
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const address = proxy.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    close: () => {
      proxy.closeAllConnections();
      return new Promise((r) => proxy.close(r));
    },
  };
}

describe('dynamodb bulk write timeout', () => {
  const open: Store[] = [];
  afterEach(async () => {
    for (const store of open.splice(0)) await store.close();
    await cleanup();
  });

  it('lets a slow BatchWriteItem finish under the bulk timeout while a slow point read still fails at the client’s', async () => {
    const { store: direct, prefix } = await openFresh();
    open.push(direct);
    // BatchWriteItem and GetItem answer after 2.5 s; the client's own timeout is 1 s.
    const proxy = await slowProxy(server!.endpoint, new Set(['BatchWriteItem', 'GetItem']), 2500);
    const through = (bulkTimeoutMs?: number) =>
      openDynamoDbStore({
        client: createDynamoDbClient({
          endpoint: proxy.endpoint,
          credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
          requestTimeoutMs: 1000,
          connectTimeoutMs: 10_000,
        }),
        tablePrefix: prefix,
        ...(bulkTimeoutMs === undefined ? {} : { bulkTimeoutMs }),
      });
    try {
      const store = await through();
      open.push(store);
      const scan = makeScan();
      await store.scans.upsertScans([scan]);
      expect(await direct.scans.getScan(scan.digest)).toEqual(scan);
      // The webhook's reads keep the client's timeout.
      await expect(store.rules.get('any')).rejects.toBeInstanceOf(UnavailableError);

      // A bulk timeout as short as the client's is what sync had before: the write fails.
      const short = await through(1000);
      open.push(short);
      const other = makeScan();
      await expect(short.scans.upsertScans([other])).rejects.toBeInstanceOf(UnavailableError);
    } finally {
      await proxy.close();
    }
  }, 60_000);
});

describe('dynamodb access patterns', () => {
  it('never sent a Scan: every read above was a point read, a query or a batch get', () => {
    expect(commandsSent.size).toBeGreaterThan(0);
    expect([...commandsSent.keys()].filter((name) => /^Scan/.test(name))).toEqual([]);
    for (const used of [
      'QueryCommand',
      'GetItemCommand',
      'TransactWriteItemsCommand',
      'BatchWriteItemCommand',
    ]) {
      expect(sent(used), used).toBeGreaterThan(0);
    }
  });
});
