/**
 * Retries for the registry APIs: throttling (ThrottlingException, HTTP 429, 503) and transient
 * network failures are retried with exponential backoff and full jitter, honouring a server's
 * Retry-After; anything else, or the budget running out, fails with a RegistryApiError that
 * says which call failed and why. An abort stops the wait at once.
 */
import { PortcullisError } from '../../../core/errors.js';

/** A registry API call failed for good (not retryable, or retried until the budget ran out). */
export class RegistryApiError extends PortcullisError {
  readonly code = 'registry_api_error';
  /** The HTTP status the API answered with, when it answered. */
  readonly status?: number;
  /** Attempts made, the failing one included. */
  readonly attempts: number;
  constructor(message: string, options: { cause?: unknown; status?: number; attempts: number }) {
    super(message, { cause: options.cause });
    if (options.status !== undefined) this.status = options.status;
    this.attempts = options.attempts;
  }
}

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Waits `ms`, or rejects when `signal` aborts. Injectable so that tests do not wait. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** A number in [0, 1) for jitter. */
  random?: () => number;
}

/** Six attempts over roughly half a minute at worst: long enough for a throttling window to pass. */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 6, baseDelayMs: 500, maxDelayMs: 15_000 };

/** What a failed attempt means: retry (perhaps after the server's delay) or give up. */
export interface Failure {
  retryable: boolean;
  /** The server's Retry-After, in milliseconds. */
  retryAfterMs?: number;
  status?: number;
  /** A short description for the final error: `ThrottlingException: Rate exceeded`. */
  reason: string;
}

/** Rejects with the signal's reason when it has aborted. */
export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw signal.reason ?? new DOMException('The operation was aborted.', 'AbortError');
}

/** A sleep that ends early, rejecting, when the signal aborts. */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** The backoff before attempt `attempt + 1`: full jitter under an exponential cap. */
export function backoffMs(policy: RetryPolicy, attempt: number, retryAfterMs?: number): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  const jittered = Math.floor((policy.random ?? Math.random)() * cap);
  // A server that says when to come back is believed, within reason.
  return retryAfterMs === undefined
    ? jittered
    : Math.max(jittered, Math.min(retryAfterMs, 4 * policy.maxDelayMs));
}

/** Network failures worth another try (Node's error codes, undici's and the SDK's names). */
const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/** True for a dropped connection, a DNS hiccup or a timeout, however deep in `cause` it sits. */
export function isTransientNetworkError(error: unknown): boolean {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && TRANSIENT_CODES.has(code)) return true;
    if (e.name === 'TimeoutError' || e.name === 'TimeoutException') return true;
    if (/socket hang up|fetch failed|network error|other side closed/i.test(e.message)) return true;
  }
  return false;
}

/**
 * Runs `call` until it succeeds, retrying what `classify` calls retryable, up to the policy's
 * attempts. An abort of `signal` ends it at once with the signal's reason.
 *
 * @example await withRetry('ECR DescribeImages', () => ecr.send(cmd), classifyAwsError, { signal, policy })
 */
export async function withRetry<T>(
  what: string,
  call: () => Promise<T>,
  classify: (error: unknown) => Failure,
  options: { signal: AbortSignal; policy: RetryPolicy },
): Promise<T> {
  const { signal, policy } = options;
  const sleep = policy.sleep ?? abortableSleep;
  for (let attempt = 1; ; attempt++) {
    throwIfAborted(signal);
    try {
      return await call();
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      const failure = classify(error);
      if (!failure.retryable || attempt >= policy.attempts) {
        const tried = failure.retryable ? ` after ${attempt} attempts` : '';
        throw new RegistryApiError(`${what} failed${tried}: ${failure.reason}`, {
          cause: error,
          attempts: attempt,
          ...(failure.status === undefined ? {} : { status: failure.status }),
        });
      }
      await sleep(backoffMs(policy, attempt, failure.retryAfterMs), signal);
    }
  }
}
