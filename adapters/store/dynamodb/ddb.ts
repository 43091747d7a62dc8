/**
 * A thin layer over the DynamoDB document client that every DynamoDb* port uses: strongly
 * consistent point reads, conditional writes that report a failed condition as a value,
 * transactions retried on conflicts, paged queries as async iterators, and batch writes and
 * reads that retry unprocessed items with exponential backoff and jitter.
 */
import {
  BatchGetCommand,
  BatchWriteCommand,
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  type QueryCommandOutput,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { UnavailableError } from '../../../core/errors.js';
import { chunk, mapLimit } from '../common/concurrency.js';
import {
  cancellationCodes,
  isConditionalCheckFailed,
  isRetryableCancellation,
  translateError,
} from './errors.js';

/** An item as the document client reads and writes it. */
export type Item = Record<string, unknown>;
/** A primary key; every Portcullis table has a string `pk` and `sk`. */
export interface Key {
  pk: string;
  sk: string;
}

/** A condition or update expression with its placeholders. */
export interface Expression {
  expression: string;
  names?: Record<string, string>;
  values?: Record<string, unknown>;
}

/** A write whose condition was false: the failed item indices and the SDK's error. */
export interface ConditionFailure {
  failed: number[];
  cause: unknown;
}

/** One item of a TransactWriteItems request. */
export type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

/** One write of a batch: a whole-item put or a delete by key. */
export type BatchWrite = { put: Item & Key } | { delete: Key };

const BATCH_WRITE_SIZE = 25;
const BATCH_GET_SIZE = 100;
const BATCH_CONCURRENCY = 8;
/** How long bulk calls and transactions keep retrying; tests shorten it. */
export interface RetryPolicy {
  /** Rounds of unprocessed items or throttling a bulk call sits out before giving up. */
  bulkAttempts: number;
  /** Attempts at a transaction cancelled by a conflict or throttling. */
  transactionAttempts: number;
  /** The backoff's base and cap, in milliseconds. */
  baseMs: number;
  capMs: number;
}

/**
 * Request timeout of one BatchWriteItem call, in ms. A call carries up to 25 items of up to
 * 400 KB and several run at once during a sync, so under load one takes far longer than the
 * point reads the client's own timeout (3 s) is sized for.
 */
export const DEFAULT_BULK_TIMEOUT_MS = 15_000;

/** About 15 s of backoff for a bulk call before UnavailableError. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  bulkAttempts: 10,
  transactionAttempts: 6,
  baseMs: 50,
  capMs: 3000,
};
const THROTTLING = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
]);

/** Full-jitter exponential backoff: a random wait in [0, min(cap, base * 2^attempt)). */
export function backoffMs(attempt: number, baseMs = 50, capMs = 3000): number {
  return Math.random() * Math.min(capMs, baseMs * 2 ** attempt);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const keyString = (k: Key) => `${k.pk}\u0000${k.sk}`;

function projection(attributes: readonly string[] | undefined) {
  if (attributes === undefined) return {};
  const names = Object.fromEntries(attributes.map((a, i) => [`#p${i}`, a]));
  return { ProjectionExpression: Object.keys(names).join(', '), ExpressionAttributeNames: names };
}

function condition(c: Expression | undefined) {
  if (c === undefined) return {};
  return {
    ConditionExpression: c.expression,
    ...(c.names === undefined ? {} : { ExpressionAttributeNames: c.names }),
    ...(c.values === undefined ? {} : { ExpressionAttributeValues: c.values }),
  };
}

/** The document client with Portcullis' retry and error rules. */
export class Ddb {
  /**
   * @param bulkTimeoutMs request timeout of each BatchWriteItem call, in place of the client's
   *   own (which stays what every other call, the webhook's reads included, runs under).
   */
  constructor(
    readonly doc: DynamoDBDocumentClient,
    private readonly retry: RetryPolicy = DEFAULT_RETRY_POLICY,
    private readonly bulkTimeoutMs: number = DEFAULT_BULK_TIMEOUT_MS,
  ) {}

  private backoff(attempt: number, scale = 1): Promise<void> {
    return sleep(backoffMs(attempt, this.retry.baseMs * scale, this.retry.capMs * scale));
  }

  /** A strongly consistent point read, optionally of some attributes only. */
  async get(table: string, key: Key, attributes?: readonly string[]): Promise<Item | undefined> {
    try {
      const out = await this.doc.send(
        new GetCommand({ TableName: table, Key: key, ConsistentRead: true, ...projection(attributes) }),
      );
      return out.Item;
    } catch (e) {
      translateError(e);
    }
  }

  /** Puts an item, only when `cond` holds; a false condition is returned, not thrown. */
  async put(table: string, item: Item & Key, cond?: Expression): Promise<ConditionFailure | null> {
    return this.conditional(() =>
      this.doc.send(new PutCommand({ TableName: table, Item: item, ...condition(cond) })),
    );
  }

  /** Applies an update expression, only when `cond` holds. */
  async update(
    table: string,
    key: Key,
    update: Expression,
    cond?: Expression,
  ): Promise<ConditionFailure | null> {
    const names = { ...update.names, ...cond?.names };
    const values = { ...update.values, ...cond?.values };
    return this.conditional(() =>
      this.doc.send(
        new UpdateCommand({
          TableName: table,
          Key: key,
          UpdateExpression: update.expression,
          ...(cond === undefined ? {} : { ConditionExpression: cond.expression }),
          // DynamoDB rejects empty placeholder maps.
          ...(Object.keys(names).length === 0 ? {} : { ExpressionAttributeNames: names }),
          ...(Object.keys(values).length === 0 ? {} : { ExpressionAttributeValues: values }),
        }),
      ),
    );
  }

  /** Deletes an item, only when `cond` holds. */
  async delete(table: string, key: Key, cond?: Expression): Promise<ConditionFailure | null> {
    return this.conditional(() =>
      this.doc.send(new DeleteCommand({ TableName: table, Key: key, ...condition(cond) })),
    );
  }

  private async conditional(fn: () => Promise<unknown>): Promise<ConditionFailure | null> {
    try {
      await fn();
      return null;
    } catch (e) {
      if (isConditionalCheckFailed(e)) return { failed: [0], cause: e };
      translateError(e);
    }
  }

  /**
   * The items of a query, page by page as they are consumed. With `Limit` set, each further
   * page asks for twice as many (up to 1000), so a merge that needs few items reads few.
   */
  async *query(input: QueryCommandInput): AsyncGenerator<Item> {
    let startKey: Record<string, unknown> | undefined;
    let limit = input.Limit;
    do {
      let out: QueryCommandOutput;
      try {
        out = await this.doc.send(
          new QueryCommand({
            ...input,
            ...(limit === undefined ? {} : { Limit: limit }),
            ...(startKey === undefined ? {} : { ExclusiveStartKey: startKey }),
          }),
        );
      } catch (e) {
        translateError(e);
      }
      for (const item of out.Items ?? []) yield item;
      startKey = out.LastEvaluatedKey;
      if (limit !== undefined) limit = Math.min(1000, limit * 2);
    } while (startKey !== undefined);
  }

  /** Every item of a query (for partitions known to be small). */
  async queryAll(input: QueryCommandInput): Promise<Item[]> {
    const items: Item[] = [];
    for await (const item of this.query(input)) items.push(item);
    return items;
  }

  /**
   * Runs a transaction. Conflicts with other transactions and throttling are retried with
   * backoff; failed conditions are returned with the indices of the items that failed.
   */
  async transact(items: TransactItem[]): Promise<ConditionFailure | null> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.doc.send(new TransactWriteCommand({ TransactItems: items }));
        return null;
      } catch (e) {
        const codes = cancellationCodes(e);
        if (codes === null) translateError(e);
        const failed = codes.flatMap((c, i) => (c === 'ConditionalCheckFailed' ? [i] : []));
        if (failed.length > 0) return { failed, cause: e };
        if (!isRetryableCancellation(codes) || attempt + 1 >= this.retry.transactionAttempts)
          translateError(e);
        // Conflicts clear in milliseconds: a shorter backoff than for bulk throttling.
        await this.backoff(attempt, 0.2);
      }
    }
  }

  /**
   * Writes many items, 25 per BatchWriteItem call with several calls in flight, retrying
   * unprocessed items and throttling with backoff. Later writes of the same key win. Each
   * call runs under the bulk timeout, not the client's.
   */
  async batchWrite(table: string, writes: readonly BatchWrite[]): Promise<void> {
    const byKey = new Map<string, BatchWrite>();
    for (const w of writes) byKey.set(keyString('put' in w ? w.put : w.delete), w);
    const requests = [...byKey.values()].map((w) =>
      'put' in w ? { PutRequest: { Item: w.put } } : { DeleteRequest: { Key: w.delete } },
    );
    await mapLimit(chunk(requests, BATCH_WRITE_SIZE), BATCH_CONCURRENCY, async (batch) => {
      let pending = batch;
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt >= this.retry.bulkAttempts) {
          throw new UnavailableError(`DynamoDB left ${pending.length} writes unprocessed; try again later`);
        }
        if (attempt > 0) await this.backoff(attempt);
        const out = await this.throttled(() =>
          this.doc.send(new BatchWriteCommand({ RequestItems: { [table]: pending } }), {
            requestTimeout: this.bulkTimeoutMs,
          }),
        );
        pending = (out?.UnprocessedItems?.[table] ?? []) as typeof pending;
      }
    });
  }

  /** Reads many items by key (strongly consistent), 100 per call, retrying unprocessed keys. */
  async batchGet(table: string, keys: readonly Key[], attributes?: readonly string[]): Promise<Item[]> {
    const unique = [...new Map(keys.map((k) => [keyString(k), { pk: k.pk, sk: k.sk }])).values()];
    const pages = await mapLimit(chunk(unique, BATCH_GET_SIZE), BATCH_CONCURRENCY, async (batch) => {
      const found: Item[] = [];
      let pending: Record<string, unknown>[] = batch;
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt >= this.retry.bulkAttempts) {
          throw new UnavailableError(`DynamoDB left ${pending.length} reads unprocessed; try again later`);
        }
        if (attempt > 0) await this.backoff(attempt);
        const request = { Keys: pending, ConsistentRead: true, ...projection(attributes) };
        const out = await this.throttled(() =>
          this.doc.send(new BatchGetCommand({ RequestItems: { [table]: request } })),
        );
        found.push(...((out?.Responses?.[table] ?? []) as Item[]));
        pending = out?.UnprocessedKeys?.[table]?.Keys ?? [];
      }
      return found;
    });
    return pages.flat();
  }

  /** Retries a bulk call the SDK gave up on for throttling; other errors are translated. */
  private async throttled<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        const name = e instanceof Error ? e.name : '';
        if (!THROTTLING.has(name) || attempt + 1 >= this.retry.bulkAttempts) translateError(e);
        await this.backoff(attempt + 2);
      }
    }
  }
}
