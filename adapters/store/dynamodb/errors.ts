/**
 * Translating what DynamoDB and the AWS SDK throw into core errors. Conditional-check
 * failures are left to the caller, which alone knows whether they mean a taken name, a stale
 * version or a missing record.
 */
import { UnavailableError, ValidationError } from '../../../core/errors.js';

/** Service errors that say "slow down" or "not now": worth retrying later. */
const UNAVAILABLE_NAMES = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'LimitExceededException',
  'InternalServerError',
  'InternalFailure',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'TransactionConflictException',
  'TransactionInProgressException',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
]);

/** Socket-level failures: the endpoint is down, unreachable or hung up. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** Cancellation reason codes of a transaction that mean "retry later". */
const RETRYABLE_REASONS = new Set([
  'TransactionConflict',
  'ThrottlingError',
  'ProvisionedThroughputExceeded',
]);

interface ErrorLike {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  errors?: unknown;
  $metadata?: { httpStatusCode?: number };
  CancellationReasons?: { Code?: string }[];
}

function asErrorLike(e: unknown): ErrorLike | undefined {
  return typeof e === 'object' && e !== null ? (e as ErrorLike) : undefined;
}

/** True when a single conditional write found its condition false. */
export function isConditionalCheckFailed(e: unknown): boolean {
  return asErrorLike(e)?.name === 'ConditionalCheckFailedException';
}

/**
 * The reason codes of a cancelled transaction, one per item in request order
 * (`ConditionalCheckFailed`, `TransactionConflict`, `None`, ...), or null when `e` is not one.
 */
export function cancellationCodes(e: unknown): (string | undefined)[] | null {
  const err = asErrorLike(e);
  if (err?.name !== 'TransactionCanceledException') return null;
  const reasons = err.CancellationReasons;
  if (Array.isArray(reasons)) return reasons.map((r) => r?.Code);
  // Some servers give the reasons only in the message: "... [ConditionalCheckFailed, None]".
  const listed = typeof err.message === 'string' ? /\[([^\]]*)\]\s*$/.exec(err.message) : null;
  return listed?.[1] === undefined ? [] : listed[1].split(',').map((s) => s.trim());
}

/** True for a cancelled transaction that another transaction or throttling got in the way of. */
export function isRetryableCancellation(codes: readonly (string | undefined)[]): boolean {
  return codes.some((c) => c !== undefined && RETRYABLE_REASONS.has(c));
}

/** True when `e` says the service is throttling, overloaded, or unreachable. */
export function isUnavailable(e: unknown): boolean {
  const err = asErrorLike(e);
  if (err === undefined) return false;
  if (typeof err.name === 'string' && UNAVAILABLE_NAMES.has(err.name)) return true;
  if (typeof err.code === 'string' && NETWORK_CODES.has(err.code)) return true;
  const status = err.$metadata?.httpStatusCode;
  if (typeof status === 'number' && status >= 500) return true;
  // Node's happy-eyeballs connect fails with an AggregateError of one error per address.
  if (Array.isArray(err.errors) && err.errors.length > 0 && err.errors.every(isUnavailable)) return true;
  const codes = cancellationCodes(e);
  return codes !== null && codes.length > 0 && isRetryableCancellation(codes);
}

/** True when DynamoDB refused an item for its size (400 KB) rather than for a bug of ours. */
function isItemTooLarge(e: unknown): boolean {
  const err = asErrorLike(e);
  return (
    err?.name === 'ValidationException' &&
    typeof err.message === 'string' &&
    /item size|maximum allowed size/i.test(err.message)
  );
}

/**
 * Rethrows `e` as a core error when it is one DynamoDB's callers should see as such
 * (UnavailableError, ValidationError for an oversized item), and unchanged otherwise.
 */
export function translateError(e: unknown): never {
  if (e instanceof UnavailableError || e instanceof ValidationError) throw e;
  if (isUnavailable(e)) {
    throw new UnavailableError('DynamoDB is unavailable or throttling; try again later', { cause: e });
  }
  if (isItemTooLarge(e)) {
    throw new ValidationError('the record is too large for DynamoDB (400 KB per item)', { cause: e });
  }
  throw e;
}
