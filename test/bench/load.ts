/**
 * A closed-loop HTTPS load driver: a fixed number of requests in flight over keep-alive
 * connections, each worker sending its next request as soon as the previous one is answered.
 * Latency is measured per request from the moment it is written to the last byte of the answer.
 */
import type { Agent } from 'node:https';
import { request } from 'node:https';

/** What to send and how hard. */
export interface LoadOptions {
  /** The endpoint, e.g. `https://127.0.0.1:8443/admission/pct_…`. */
  url: URL;
  /** A keep-alive agent that trusts the server's certificate; sockets are reused across requests. */
  agent: Agent;
  /** The body of each request; called once per request (e.g. for a fresh AdmissionReview uid). */
  body: () => string;
  /** Requests in flight at any time. */
  concurrency: number;
  /** Load before measuring: connections, TLS sessions, JIT and caches settle. */
  warmupMs: number;
  /** How long to measure. */
  durationMs: number;
}

/** What one measured run saw. */
export interface LoadResult {
  /** Requests answered with 200 within the measured window. */
  requests: number;
  /** Requests that failed or were answered with another status, within the window. */
  errors: number;
  /** The first error seen, to tell a misconfiguration from a slow server. */
  firstError?: string;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  requestsPerSecond: number;
  /** The measured window, in seconds. */
  durationSeconds: number;
}

interface Answer {
  status: number;
  body: string;
}

/** Sends one POST and reads the whole answer. */
export function post(
  url: URL,
  agent: Agent,
  body: string,
  headers: Record<string, string> = {},
): Promise<Answer> {
  return send(url, agent, 'POST', body, headers);
}

/** Sends one request and reads the whole answer (`body` undefined for a GET). */
export function send(
  url: URL,
  agent: Agent,
  method: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(body);
    const req = request(
      url,
      {
        agent,
        method,
        headers: {
          accept: 'application/json',
          ...(payload === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': String(payload.length) }),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** The q-quantile (0..1) of sorted values, nearest rank. */
export function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1]!;
}

/**
 * Drives `options.url` at a fixed concurrency: warm-up first, then a measured window. Counts
 * the requests that complete inside the window; p50/p99 are over their latencies.
 *
 * @example
 * const result = await runLoad({ url, agent, body: () => json, concurrency: 16, warmupMs: 1000, durationMs: 5000 });
 */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const { url, agent, body, concurrency, warmupMs, durationMs } = options;
  const start = performance.now();
  const measureFrom = start + warmupMs;
  const measureTo = measureFrom + durationMs;
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;

  const worker = async (): Promise<void> => {
    while (performance.now() < measureTo) {
      const payload = body();
      const sent = performance.now();
      let failure: string | undefined;
      try {
        const answer = await post(url, agent, payload);
        if (answer.status !== 200) failure = `HTTP ${answer.status}: ${answer.body.slice(0, 300)}`;
      } catch (error) {
        failure = String(error);
      }
      const done = performance.now();
      if (done < measureFrom || done > measureTo) continue;
      if (failure === undefined) latencies.push(done - sent);
      else {
        errors++;
        firstError ??= failure;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));

  const sorted = Float64Array.from(latencies).sort();
  const seconds = durationMs / 1000;
  return {
    requests: sorted.length,
    errors,
    firstError,
    p50Ms: quantile(sorted, 0.5),
    p99Ms: quantile(sorted, 0.99),
    maxMs: sorted.length === 0 ? Number.NaN : sorted[sorted.length - 1]!,
    requestsPerSecond: sorted.length / seconds,
    durationSeconds: seconds,
  };
}
