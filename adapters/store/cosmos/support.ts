/**
 * The Cosmos DB plumbing shared by every Cosmos* port: translating SDK errors into core
 * errors, safe document ids, point reads that answer null, paged queries, reading documents
 * back through zod, and opaque cursors.
 */
import { createHash } from 'node:crypto';
import type { Container, ItemDefinition, PartitionKey, SqlParameter, SqlQuerySpec } from '@azure/cosmos';
import type { z } from 'zod';
import {
  ConflictError,
  NotFoundError,
  UnavailableError,
  VersionConflictError,
} from '../../../core/errors.js';
import { parseStored } from '../common/records.js';

/** Node and SDK error codes that mean "the peer did not answer": worth retrying later. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'REQUEST_SEND_ERROR',
  'TimeoutError',
]);

/** HTTP statuses Cosmos DB answers when it is throttling, moving partitions or overloaded. */
const TRANSIENT_STATUSES = new Set([408, 410, 429, 449, 503]);

/** The status code or error code the SDK put on an error, if any. */
export function errorCode(e: unknown): number | string | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const code: unknown = (e as { code?: unknown }).code;
  return typeof code === 'number' || typeof code === 'string' ? code : undefined;
}

/** True when `e` says the store is throttling, unreachable or timed out. */
export function isTransient(e: unknown): boolean {
  const code = errorCode(e);
  if (typeof code === 'number') return TRANSIENT_STATUSES.has(code);
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
  const name = e instanceof Error ? e.name : undefined;
  return name === 'AbortError' || name === 'TimeoutError';
}

/** What a 404/409/412 means for the operation at hand; absent entries are rethrown as they are. */
export interface ErrorMeanings {
  conflict?: string;
  versionConflict?: string;
  notFound?: string;
}

/**
 * Translates what the Cosmos SDK threw into a core error (the original kept as `cause`) and
 * rethrows anything it does not recognise. Throttling (429, after the SDK's own bounded
 * retries), 503, timeouts and network failures become UnavailableError.
 */
export function translateError(e: unknown, meanings: ErrorMeanings = {}): never {
  const code = errorCode(e);
  if (code === 409 && meanings.conflict !== undefined)
    throw new ConflictError(meanings.conflict, { cause: e });
  if (code === 412 && meanings.versionConflict !== undefined) {
    throw new VersionConflictError(meanings.versionConflict, { cause: e });
  }
  if (code === 404 && meanings.notFound !== undefined)
    throw new NotFoundError(meanings.notFound, { cause: e });
  if (isTransient(e)) {
    throw new UnavailableError('Cosmos DB did not answer or is throttling; try again', { cause: e });
  }
  throw e;
}

/** Runs one call against Cosmos DB, translating its errors (see `translateError`). */
export async function guard<T>(fn: () => Promise<T>, meanings: ErrorMeanings = {}): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    translateError(e, meanings);
  }
}

const PLAIN_ID = /^[A-Za-z0-9._:-]{1,200}$/;

/**
 * A Cosmos DB document id for `raw`. Ids may not contain `/ \ ? #` and are at most 255
 * characters; anything outside a safe alphabet becomes `~` + its SHA-256 (base64url), which
 * never collides with a plain id because `~` is not in that alphabet. Callers keep the raw
 * value in the document when they need it back.
 */
export function docId(raw: string): string {
  if (PLAIN_ID.test(raw)) return raw;
  return `~${createHash('sha256').update(raw, 'utf8').digest('base64url')}`;
}

/** A document read back together with its ETag, for compare-and-set. */
export interface Versioned<T> {
  doc: T;
  etag: string;
}

/**
 * Point read of one document; null when it does not exist. The SDK answers a missing item
 * with status 404 rather than throwing; a missing container is an error, not an empty read.
 */
export async function readDoc(
  container: Container,
  id: string,
  pk: PartitionKey,
): Promise<Versioned<unknown> | null> {
  const response = await guard(() => container.item(id, pk).read());
  if (response.statusCode === 404) {
    // 1003: the owner resource (database or container) does not exist.
    if (response.substatus === 1003) {
      throw new Error(`Cosmos DB container ${container.id} does not exist; create it (IaC or ensureSchema)`);
    }
    return null;
  }
  return { doc: response.resource as unknown, etag: response.etag };
}

/** Parses a document read back; a document that fails is corruption, reported with its container. */
export function parseDoc<T extends z.ZodType>(schema: T, doc: unknown, container: string): z.output<T> {
  return parseStored(schema, doc, `document in ${container}`);
}

/** Builds a parameterized query spec from SQL and named values (`@name`). */
export function sql(query: string, values: Record<string, unknown> = {}): SqlQuerySpec {
  const parameters: SqlParameter[] = Object.entries(values).map(([name, value]) => ({
    name: `@${name}`,
    value: value as SqlParameter['value'],
  }));
  return { query, parameters };
}

/** Options of a query: the one logical partition it stays in, and how much to fetch. */
export interface QueryOptions {
  partitionKey?: PartitionKey;
  /** Stop once this many results are in hand (the query may hold more). */
  max?: number;
  /** Results per round trip. */
  pageSize?: number;
}

/**
 * Runs a query and hands each page of results to `onPage`, following continuation tokens
 * until the results end or `onPage` answers false. Without a partition key the query fans
 * out across partitions, so callers only do that for filters the indexing policy serves.
 */
export async function forEachPage(
  container: Container,
  spec: SqlQuerySpec,
  options: QueryOptions,
  onPage: (items: unknown[]) => boolean | undefined,
): Promise<void> {
  const iterator = container.items.query<ItemDefinition>(spec, {
    maxItemCount: options.pageSize ?? 1000,
    ...(options.partitionKey === undefined ? {} : { partitionKey: options.partitionKey }),
  });
  while (iterator.hasMoreResults()) {
    const page = await guard(() => iterator.fetchNext());
    if (onPage(page.resources) === false) return;
  }
}

/** Runs a query and collects its results across continuation pages, up to `max`. */
export async function queryDocs(
  container: Container,
  spec: SqlQuerySpec,
  options: QueryOptions = {},
): Promise<unknown[]> {
  const max = options.max ?? Number.POSITIVE_INFINITY;
  const out: unknown[] = [];
  const pageSize = Math.min(options.pageSize ?? 1000, Number.isFinite(max) ? max : 1000);
  await forEachPage(container, spec, { ...options, pageSize }, (items) => {
    out.push(...items);
    return out.length < max;
  });
  return out.length > max ? out.slice(0, max) : out;
}
