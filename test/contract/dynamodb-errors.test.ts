/**
 * The DynamoDB store against endpoints that do not work: nothing listening, and a server that
 * accepts connections but never answers. Every port must reject with UnavailableError (the
 * client's timeouts and retries are bounded), never hang. DynamoDB Local never throttles, so
 * throttling and unprocessed batch items are answered by a stand-in for the SDK's `send`.
 */
import { createServer, type Server, type Socket } from 'node:net';
import {
  ProvisionedThroughputExceededException,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDynamoDbClient,
  Ddb,
  dynamoDbSettingsFromEnv,
  openDynamoDbStore,
  openDynamoDbStoreFromEnv,
} from '../../adapters/store/dynamodb/index.js';
import { UnavailableError } from '../../core/errors.js';
import type { Store } from '../../core/ports.js';
import { freePort } from '../support/dynamodb-server.js';
import { digestOf, makeEvent, makeRule, makeScan } from './factories.js';

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };

/** Calls one operation of every port. */
const calls: [string, (store: Store) => Promise<unknown>][] = [
  ['rules.list', (s) => s.rules.list()],
  ['rules.create (transaction)', (s) => s.rules.create(makeRule())],
  ['scans.getScan', (s) => s.scans.getScan(digestOf('x'))],
  ['scans.upsertScans (batch)', (s) => s.scans.upsertScans([makeScan()])],
  ['scans.listImages (GSI)', (s) => s.scans.listImages({ limit: 10 })],
  ['clusters.findByTokenHash', (s) => s.clusters.findByTokenHash('0'.repeat(64))],
  ['admissions.record', (s) => s.admissions.record(makeEvent())],
  ['admissions.query', (s) => s.admissions.query({ limit: 10 })],
  ['apiKeys.findByHash', (s) => s.apiKeys.findByHash('0'.repeat(64))],
  ['meta.setIfAbsent', (s) => s.meta.setIfAbsent('k', 'v')],
];

describe('dynamodb store on a dead endpoint', () => {
  let endpoint: string;
  beforeAll(async () => {
    // Free a moment ago and nothing listens there: connections are refused.
    endpoint = `http://127.0.0.1:${await freePort()}`;
  });

  it.each(calls)('%s rejects with UnavailableError keeping the network error as cause', async (_, call) => {
    const store = await openDynamoDbStore({ client: createDynamoDbClient({ endpoint, credentials }) });
    try {
      const error = await call(store).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UnavailableError);
      expect((error as UnavailableError).cause).toBeDefined();
    } finally {
      await store.close();
    }
  });

  it('fails to open with ensureSchema with UnavailableError', async () => {
    const client = createDynamoDbClient({ endpoint, credentials });
    await expect(openDynamoDbStore({ client, ensureSchema: true })).rejects.toBeInstanceOf(UnavailableError);
  });

  it('opened from the environment, a loopback endpoint without credentials also fails as unavailable', async () => {
    const store = await openDynamoDbStoreFromEnv({ AWS_ENDPOINT_URL_DYNAMODB: endpoint });
    try {
      await expect(store.rules.list()).rejects.toBeInstanceOf(UnavailableError);
    } finally {
      await store.close();
    }
  });
});

describe('dynamodb store on an endpoint that never answers', () => {
  let server: Server;
  const sockets = new Set<Socket>();
  let endpoint: string;
  beforeAll(async () => {
    server = createServer((socket) => {
      // Accept and say nothing, like a hung load balancer.
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no address');
    endpoint = `http://127.0.0.1:${address.port}`;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((r) => server.close(r));
  });

  it('times out each attempt and rejects with UnavailableError', async () => {
    const store = await openDynamoDbStore({
      client: createDynamoDbClient({ endpoint, credentials, requestTimeoutMs: 300, maxAttempts: 2 }),
    });
    try {
      await expect(store.rules.get('x')).rejects.toBeInstanceOf(UnavailableError);
      await expect(store.admissions.query({ limit: 5 })).rejects.toBeInstanceOf(UnavailableError);
    } finally {
      await store.close();
    }
  });
});

describe('dynamodb settings from the environment', () => {
  it('reads the SDK variables and the store’s own, and names a bad variable', () => {
    const settings = dynamoDbSettingsFromEnv({
      AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:8000',
      AWS_DEFAULT_REGION: 'eu-west-1',
      PORTCULLIS_DYNAMODB_TABLE_PREFIX: 'portcullis-dev-',
      PORTCULLIS_DYNAMODB_ENSURE_SCHEMA: 'true',
    });
    expect(settings).toEqual({
      client: {
        endpoint: 'http://127.0.0.1:8000',
        region: 'eu-west-1',
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      },
      tablePrefix: 'portcullis-dev-',
      ensureSchema: true,
    });
    expect(dynamoDbSettingsFromEnv({}).tablePrefix).toBe('portcullis-');
    expect(dynamoDbSettingsFromEnv({ AWS_ENDPOINT_URL_DYNAMODB: 'https://dynamodb.example' }).client).toEqual(
      {
        endpoint: 'https://dynamodb.example',
        region: 'us-east-1',
      },
    );
    expect(() => dynamoDbSettingsFromEnv({ PORTCULLIS_DYNAMODB_TIMEOUT_MS: 'soon' })).toThrow(
      /PORTCULLIS_DYNAMODB_TIMEOUT_MS/,
    );
    const timeouts = dynamoDbSettingsFromEnv({
      PORTCULLIS_DYNAMODB_TIMEOUT_MS: '2500',
      PORTCULLIS_DYNAMODB_BULK_TIMEOUT_MS: '20000',
    });
    expect([timeouts.client.requestTimeoutMs, timeouts.bulkTimeoutMs]).toEqual([2500, 20000]);
    expect(dynamoDbSettingsFromEnv({}).bulkTimeoutMs).toBeUndefined();
    expect(() => dynamoDbSettingsFromEnv({ PORTCULLIS_DYNAMODB_BULK_TIMEOUT_MS: '0' })).toThrow(
      /PORTCULLIS_DYNAMODB_BULK_TIMEOUT_MS/,
    );
    expect(() => dynamoDbSettingsFromEnv({ AWS_ENDPOINT_URL_DYNAMODB: 'not a url' })).toThrow(
      /AWS_ENDPOINT_URL_DYNAMODB/,
    );
  });
});

/** A stand-in for the document client's `send`, answering each command with `answer`. */
function fakeDocumentClient(answer: (name: string, input: Record<string, unknown>, call: number) => unknown) {
  let call = 0;
  const doc = {
    send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      const result = answer(command.constructor.name, command.input, call++);
      if (result instanceof Error) throw result;
      return result;
    },
  };
  return doc as unknown as DynamoDBDocumentClient;
}

const fast = { bulkAttempts: 4, transactionAttempts: 3, baseMs: 1, capMs: 5 };
const meta = { $metadata: {} };

describe('dynamodb batching and throttling', () => {
  const puts = (n: number) => Array.from({ length: n }, (_, i) => ({ put: { pk: `p${i}`, sk: 's', n: i } }));
  type Requests = Record<string, { PutRequest: { Item: { pk: string } } }[]>;

  it('writes 25 items per BatchWriteItem and retries unprocessed items until all are written', async () => {
    const written = new Set<string>();
    const sizes: number[] = [];
    const ddb = new Ddb(
      fakeDocumentClient((name, input, call) => {
        expect(name).toBe('BatchWriteCommand');
        const requests = (input.RequestItems as Requests).t ?? [];
        sizes.push(requests.length);
        // Every other call leaves its last two items unprocessed.
        const kept = call % 2 === 0 ? requests.slice(0, -2) : requests;
        for (const r of kept) written.add(r.PutRequest.Item.pk);
        return { UnprocessedItems: kept.length < requests.length ? { t: requests.slice(-2) } : {} };
      }),
      fast,
    );
    await ddb.batchWrite('t', puts(60));
    expect(written.size).toBe(60);
    expect(Math.max(...sizes)).toBe(25);
    expect(sizes.length).toBeGreaterThan(3);
  });

  it('gives up with UnavailableError when items stay unprocessed', async () => {
    const ddb = new Ddb(
      fakeDocumentClient((_, input) => ({ UnprocessedItems: input.RequestItems })),
      fast,
    );
    await expect(ddb.batchWrite('t', puts(3))).rejects.toBeInstanceOf(UnavailableError);
  });

  it('retries throttling and then rejects with UnavailableError keeping the SDK error as cause', async () => {
    let calls = 0;
    const ddb = new Ddb(
      fakeDocumentClient(() => {
        calls++;
        return new ProvisionedThroughputExceededException({ message: 'slow down', ...meta });
      }),
      fast,
    );
    const error = await ddb.batchWrite('t', puts(1)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as Error).cause).toBeInstanceOf(ProvisionedThroughputExceededException);
    expect(calls).toBe(fast.bulkAttempts);
  });

  it('retries unprocessed keys of a BatchGetItem', async () => {
    const ddb = new Ddb(
      fakeDocumentClient((_, input, call) => {
        const keys = (input.RequestItems as Record<string, { Keys: { pk: string }[] }>).t?.Keys ?? [];
        if (call === 0)
          return { Responses: { t: keys.slice(1) }, UnprocessedKeys: { t: { Keys: keys.slice(0, 1) } } };
        return { Responses: { t: keys } };
      }),
      fast,
    );
    const items = await ddb.batchGet('t', [
      { pk: 'a', sk: 's' },
      { pk: 'b', sk: 's' },
    ]);
    expect(items.map((i) => i.pk).sort()).toEqual(['a', 'b']);
  });

  it('retries a transaction cancelled by a conflict, and reports a throttled one as unavailable', async () => {
    const cancelled = (code: string) =>
      new TransactionCanceledException({
        message: 'cancelled',
        CancellationReasons: [{ Code: code }],
        ...meta,
      });
    const conflictOnce = new Ddb(
      fakeDocumentClient((_, __, call) => (call === 0 ? cancelled('TransactionConflict') : {})),
      fast,
    );
    expect(await conflictOnce.transact([])).toBeNull();
    const throttled = new Ddb(
      fakeDocumentClient(() => cancelled('ThrottlingError')),
      fast,
    );
    await expect(throttled.transact([])).rejects.toBeInstanceOf(UnavailableError);
    const failed = new Ddb(
      fakeDocumentClient(() => cancelled('ConditionalCheckFailed')),
      fast,
    );
    expect((await failed.transact([]))?.failed).toEqual([0]);
  });
});
