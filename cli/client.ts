/**
 * The admin API over `node:https` (Node 20's fetch cannot take a custom CA without undici).
 * Turns every failure into one clear sentence: API errors keep the status and the server's
 * message, network errors say which server and what to try.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { rootCertificates } from 'node:tls';
import type { Connection } from './config.js';
import { ApiError, CliError, ConnectionError } from './errors.js';

export interface RequestOptions {
  query?: Record<string, string | number | undefined>;
  /** An object is sent as JSON; a string or buffer as it is (with a JSON content type). */
  body?: unknown;
  headers?: Record<string, string>;
}

export interface ApiResponse<T> {
  status: number;
  headers: http.IncomingHttpHeaders;
  data: T;
}

/** A whole minute: imports of large reports are parsed before the answer. */
const TIMEOUT_MS = 60_000;

const TLS_VERIFY_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Encodes one path segment; keeps `:` so digests and custom methods read as the API documents them. */
export function segment(value: string): string {
  return encodeURIComponent(value).replace(/%3A/gi, ':');
}

export class ApiClient {
  private readonly agent: http.Agent;
  private readonly base: string;

  constructor(private readonly connection: Connection) {
    const { url, ca, insecure } = connection;
    this.base = `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
    this.agent =
      url.protocol === 'https:'
        ? new https.Agent({
            keepAlive: true,
            // The emulator's CA is added to the public roots, so a public server still verifies.
            ca: ca === undefined ? undefined : [...rootCertificates, ca.pem],
            rejectUnauthorized: !insecure,
          })
        : new http.Agent({ keepAlive: true });
  }

  get serverUrl(): string {
    return this.base;
  }

  get<T>(path: string, options: RequestOptions = {}): Promise<ApiResponse<T>> {
    return this.request('GET', path, options);
  }

  post<T>(path: string, options: RequestOptions = {}): Promise<ApiResponse<T>> {
    return this.request('POST', path, options);
  }

  put<T>(path: string, options: RequestOptions = {}): Promise<ApiResponse<T>> {
    return this.request('PUT', path, options);
  }

  delete<T>(path: string, options: RequestOptions = {}): Promise<ApiResponse<T>> {
    return this.request('DELETE', path, options);
  }

  /** Sends a request to `/api/v1<path>`; resolves with a 2xx answer, rejects with a CliError. */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse<T>> {
    const apiKey = this.connection.apiKey;
    if (apiKey === undefined) {
      throw new CliError(
        `no API key: pass --api-key or set PORTCULLIS_API_KEY (no admin key in ${this.connection.dataDir}; set PORTCULLIS_DATA_DIR to the emulator's data directory)`,
      );
    }
    const target = new URL(`${this.base}/api/v1${path}`);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) target.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = {
      accept: 'application/json',
      authorization: `Bearer ${apiKey}`,
      'user-agent': 'portcullis-cli',
      ...options.headers,
    };
    let payload: Buffer | undefined;
    if (options.body !== undefined) {
      payload =
        typeof options.body === 'string'
          ? Buffer.from(options.body)
          : Buffer.isBuffer(options.body)
            ? options.body
            : Buffer.from(JSON.stringify(options.body));
      headers['content-type'] ??= 'application/json';
      headers['content-length'] = String(payload.length);
    }
    const { status, headers: responseHeaders, text } = await this.send(method, target, headers, payload);
    const data = parseBody(text);
    if (status >= 400) throw toApiError(status, data, text);
    return { status, headers: responseHeaders, data: data as T };
  }

  /** Ends kept-alive connections so the process can exit at once. */
  close(): void {
    this.agent.destroy();
  }

  private send(
    method: string,
    target: URL,
    headers: Record<string, string>,
    payload: Buffer | undefined,
  ): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
    const transport = target.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = transport.request(target, { method, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', (error) => reject(this.networkError(error)));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      });
      req.setTimeout(TIMEOUT_MS, () =>
        req.destroy(new ConnectionError(`no answer from ${this.base} within ${TIMEOUT_MS / 1000} s`)),
      );
      req.on('error', (error) => reject(this.networkError(error)));
      req.end(payload);
    });
  }

  private networkError(error: Error): CliError {
    if (error instanceof CliError) return error;
    const code = (error as NodeJS.ErrnoException).code ?? '';
    const server = this.base;
    if (code === 'ECONNREFUSED') {
      return new ConnectionError(
        `cannot connect to ${server} (connection refused); is the server running? Start a local one with "npm start", or point --url / PORTCULLIS_URL at yours`,
        { cause: error },
      );
    }
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
      return new ConnectionError(
        `cannot resolve the host of ${server} (${code}); check --url / PORTCULLIS_URL`,
        {
          cause: error,
        },
      );
    }
    if (TLS_VERIFY_CODES.has(code)) {
      const ca = this.connection.ca;
      const trusted = ca === undefined ? 'no CA file was given' : `trusted CA: ${ca.path}`;
      return new ConnectionError(
        `cannot verify the TLS certificate of ${server}: ${error.message} (${trusted}); pass the server's CA with --ca-file or PORTCULLIS_CA_FILE, or --insecure to skip verification`,
        { cause: error },
      );
    }
    if (code === 'EPROTO' || code.startsWith('ERR_SSL')) {
      return new ConnectionError(
        `TLS handshake with ${server} failed (${error.message.split('\n')[0]}); if the server speaks plain HTTP, use an http:// URL`,
        { cause: error },
      );
    }
    if (code === 'ECONNRESET' && this.connection.url.protocol === 'http:') {
      return new ConnectionError(
        `connection to ${server} was reset; if the server speaks HTTPS (the local emulator does), use an https:// URL`,
        { cause: error },
      );
    }
    if (code === 'ECONNRESET' || code === 'ETIMEDOUT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH') {
      return new ConnectionError(`connection to ${server} failed (${code})`, { cause: error });
    }
    return new ConnectionError(`request to ${server} failed: ${error.message}`, { cause: error });
  }
}

function parseBody(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function toApiError(status: number, data: unknown, text: string): ApiError {
  const error = (data as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)
    ?.error;
  if (error !== undefined && typeof error.message === 'string') {
    return new ApiError(status, String(error.code ?? 'error'), error.message, error.details);
  }
  // Not our API's error body: a proxy or another server answered.
  const snippet = text.replace(/\s+/g, ' ').trim().slice(0, 120);
  return new ApiError(status, 'unexpected_response', snippet === '' ? 'no error message' : snippet);
}
