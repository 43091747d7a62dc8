/**
 * Many operations at once: through the SDK's bulk executor (operations grouped per partition
 * key range into batch requests) when there are many, as parallel point requests when there
 * are few; the operations the service throttled or could not process are retried under
 * exponential backoff with full jitter, honouring the service's retry-after hint.
 */
import type { Container, JSONObject, OperationInput, PartitionKey, RequestOptions } from '@azure/cosmos';
import { UnavailableError } from '../../../core/errors.js';
import { mapLimit } from '../common/concurrency.js';
import { errorCode, guard, isTransient, translateError } from './support.js';

/** The outcome of one bulk operation that the caller either expected or that succeeded. */
export interface BulkOutcome {
  statusCode: number;
  etag?: string;
  resource?: JSONObject;
}

/** How bulk calls retry what was throttled or not processed. */
export interface BulkRetryPolicy {
  /** Rounds after the first before giving up with UnavailableError. */
  maxRetries: number;
  /** First backoff; each round doubles it. */
  baseDelayMs: number;
  /** Cap of one backoff. */
  maxDelayMs: number;
}

/** Bounded: at most ~10 s of backoff on top of the SDK's own throttling retries. */
export const DEFAULT_BULK_RETRY: BulkRetryPolicy = { maxRetries: 6, baseDelayMs: 100, maxDelayMs: 4000 };

/**
 * Operations per executeBulkOperations call, and calls in flight. Each call paces itself
 * (it starts at one batch in flight per partition key range and ramps up while nothing is
 * throttled); a few calls side by side start a large upsert at a few batches at once.
 */
const SLICE = 1000;
const PARALLEL_SLICES = 4;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Full-jitter exponential backoff (AWS architecture blog): uniform in [0, min(cap, base·2^n)]. */
export function backoffDelay(attempt: number, policy: BulkRetryPolicy, retryAfterMs = 0): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return Math.max(retryAfterMs, Math.random() * ceiling);
}

function retryAfter(e: unknown): number {
  const ms: unknown = (e as { retryAfterInMs?: unknown } | undefined)?.retryAfterInMs;
  return typeof ms === 'number' && Number.isFinite(ms) ? ms : 0;
}

/** What one attempt at an operation came to: a final outcome, or an error to classify. */
type Attempt = { outcome: BulkOutcome } | { error: unknown };

function classify(result: {
  response?: { statusCode: number; eTag?: string; resourceBody?: JSONObject };
  error?: unknown;
}): Attempt {
  const status = result.response?.statusCode;
  if (result.error === undefined && status !== undefined && status < 400) {
    return {
      outcome: { statusCode: status, etag: result.response?.eTag, resource: result.response?.resourceBody },
    };
  }
  return {
    error: result.error ?? Object.assign(new Error(`operation failed with ${status}`), { code: status }),
  };
}

/** The same operation as one point request (a missing item read answers 404, not an error). */
async function pointOperation(container: Container, op: OperationInput): Promise<Attempt> {
  const pk = op.partitionKey as PartitionKey;
  const ifMatch: RequestOptions =
    'ifMatch' in op && op.ifMatch !== undefined
      ? { accessCondition: { type: 'IfMatch', condition: op.ifMatch } }
      : {};
  try {
    switch (op.operationType) {
      case 'Read': {
        const r = await container.item(op.id, pk).read<JSONObject>();
        if (r.statusCode === 404) return { error: Object.assign(new Error('not found'), { code: 404 }) };
        return { outcome: { statusCode: r.statusCode, etag: r.etag, resource: r.resource } };
      }
      case 'Create': {
        const r = await container.items.create<JSONObject>(op.resourceBody, ifMatch);
        return { outcome: { statusCode: r.statusCode, etag: r.etag } };
      }
      case 'Upsert': {
        const r = await container.items.upsert<JSONObject>(op.resourceBody, ifMatch);
        return { outcome: { statusCode: r.statusCode, etag: r.etag } };
      }
      case 'Replace': {
        const r = await container.item(op.id, pk).replace<JSONObject>(op.resourceBody, ifMatch);
        return { outcome: { statusCode: r.statusCode, etag: r.etag } };
      }
      case 'Delete': {
        const r = await container.item(op.id, pk).delete();
        return { outcome: { statusCode: r.statusCode } };
      }
      default:
        throw new Error(`unsupported operation ${op.operationType}`);
    }
  } catch (e) {
    return { error: e };
  }
}

/**
 * Below this many operations, point requests in parallel answer sooner than the bulk
 * executor, which waits up to a second for a partial batch to fill.
 */
const BULK_THRESHOLD = 100;
/** Point requests in flight at once. */
const POINT_CONCURRENCY = 32;

async function attempt(container: Container, ops: readonly OperationInput[]): Promise<Attempt[]> {
  if (ops.length < BULK_THRESHOLD)
    return mapLimit(ops, POINT_CONCURRENCY, (op) => pointOperation(container, op));
  const slices: OperationInput[][] = [];
  for (let start = 0; start < ops.length; start += SLICE) slices.push(ops.slice(start, start + SLICE));
  const results = await mapLimit(slices, PARALLEL_SLICES, (slice) =>
    guard(() => container.items.executeBulkOperations(slice)),
  );
  return results.flat().map(classify);
}

/**
 * Executes `ops` (in bulk when there are many, as point requests when few) and returns one
 * outcome per operation, in order. Statuses listed in `expected` (e.g. 404 for a read, 412
 * for a conditional replace) are returned for the caller to act on; throttled and
 * unprocessed operations are retried; anything else is translated and thrown (operations
 * before it may have been applied: callers keep their writes idempotent).
 */
export async function runBulk(
  container: Container,
  ops: readonly OperationInput[],
  expected: readonly number[] = [],
  policy: BulkRetryPolicy = DEFAULT_BULK_RETRY,
): Promise<BulkOutcome[]> {
  const outcomes: (BulkOutcome | undefined)[] = new Array(ops.length);
  let pending = ops.map((_, i) => i);
  for (let round = 0; pending.length > 0; round++) {
    const attempts = await attempt(
      container,
      pending.map((i) => ops[i]!),
    );
    const retry: number[] = [];
    let hint = 0;
    let lastError: unknown;
    attempts.forEach((a, k) => {
      const index = pending[k]!;
      if ('outcome' in a) {
        outcomes[index] = a.outcome;
        return;
      }
      const code = errorCode(a.error);
      if (typeof code === 'number' && expected.includes(code)) {
        outcomes[index] = { statusCode: code };
      } else if (typeof code === 'number' && isTransient(a.error)) {
        // Throttled or busy: retried here. A refused connection or a client-side timeout is
        // not; it is reported at once (translateError makes it UnavailableError).
        retry.push(index);
        hint = Math.max(hint, retryAfter(a.error));
        lastError = a.error;
      } else {
        translateError(a.error);
      }
    });
    if (retry.length === 0) break;
    if (round >= policy.maxRetries) {
      throw new UnavailableError(`Cosmos DB kept throttling ${retry.length} operations; try again`, {
        cause: lastError,
      });
    }
    await sleep(backoffDelay(round, policy, hint));
    pending = retry;
  }
  return outcomes.map((o) => o as BulkOutcome);
}

/** Sleeps a full-jitter backoff for compare-and-set retry `attempt` (small: contention, not load). */
export function casBackoff(attempt: number): Promise<void> {
  return sleep(backoffDelay(attempt, { maxRetries: 0, baseDelayMs: 10, maxDelayMs: 500 }));
}
