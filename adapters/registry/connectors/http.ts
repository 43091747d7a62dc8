/**
 * JSON over HTTPS for the REST connectors (Azure Resource Graph, Container Analysis, Artifact
 * Registry): a bearer token from the cloud's credential chain, retries on 429 / 5xx and
 * network failures (honouring Retry-After and Azure's quota-reset header), a per-request
 * timeout, and the API's own error message when it refuses.
 */
import { type Failure, isTransientNetworkError, type RetryPolicy, withRetry } from './retry.js';

/** Gives a bearer token for the API; called per request (credential libraries cache). */
export type TokenProvider = () => Promise<string>;

export interface HttpClient {
  /** Sends a request and parses the JSON answer; throws RegistryApiError on failure. */
  json(what: string, url: string, init?: { method?: 'GET' | 'POST'; body?: unknown }): Promise<unknown>;
}

/** An HTTP answer that is not a success, with what the API said. */
export class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'HttpStatusError';
  }
}

const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);

/** `Retry-After` (seconds or an HTTP date) or `x-ms-user-quota-resets-after` (hh:mm:ss), in ms. */
export function retryAfterMs(headers: Headers, now = Date.now()): number | undefined {
  const after = headers.get('retry-after')?.trim();
  if (after) {
    const seconds = Number(after);
    if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
    const date = Date.parse(after);
    if (!Number.isNaN(date)) return Math.max(0, date - now);
  }
  const reset = /^(\d+):(\d{2}):(\d{2}(?:\.\d+)?)$/.exec(
    headers.get('x-ms-user-quota-resets-after')?.trim() ?? '',
  );
  if (reset) return (Number(reset[1]) * 3600 + Number(reset[2]) * 60 + Number(reset[3])) * 1000;
  return undefined;
}

/** Classifies a failed request for withRetry. */
export function classifyHttpError(error: unknown): Failure {
  if (error instanceof HttpStatusError) {
    return {
      retryable: RETRYABLE_STATUS.has(error.status),
      status: error.status,
      reason: error.message,
      ...(error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs }),
    };
  }
  const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return { retryable: isTransientNetworkError(error), reason };
}

/** The message in an Azure (`{ error: { code, message } }`) or Google (`{ error: { status, message } }`) error body. */
function apiMessage(status: number, statusText: string, body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: { code?: unknown; status?: unknown; message?: unknown } };
    const e = parsed.error;
    if (e && typeof e.message === 'string') {
      const code = typeof e.code === 'string' ? e.code : typeof e.status === 'string' ? e.status : '';
      return `HTTP ${status}${code ? ` ${code}` : ''}: ${e.message}`.slice(0, 500);
    }
  } catch {
    // Not JSON: fall through to the raw text.
  }
  return `HTTP ${status} ${statusText}${body ? `: ${body.slice(0, 300)}` : ''}`;
}

export interface HttpClientOptions {
  token: TokenProvider;
  signal: AbortSignal;
  retry: RetryPolicy;
  fetch?: typeof fetch;
  /** Per-request timeout. */
  timeoutMs?: number;
}

/** Builds the JSON client a REST connector's run uses. */
export function httpClient(options: HttpClientOptions): HttpClient {
  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 60_000;
  return {
    json(what, url, init = {}) {
      return withRetry(
        what,
        async () => {
          const token = await options.token();
          const signal = AbortSignal.any([options.signal, AbortSignal.timeout(timeoutMs)]);
          const response = await doFetch(url, {
            method: init.method ?? 'GET',
            headers: {
              authorization: `Bearer ${token}`,
              accept: 'application/json',
              ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
            },
            ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
            signal,
          });
          const text = await response.text();
          if (!response.ok) {
            throw new HttpStatusError(
              response.status,
              apiMessage(response.status, response.statusText, text),
              retryAfterMs(response.headers),
            );
          }
          return text === '' ? {} : (JSON.parse(text) as unknown);
        },
        classifyHttpError,
        { signal: options.signal, policy: options.retry },
      );
    },
  };
}
