/**
 * HTTP at the edge: JSON bodies, errors as `{ error: { code, message, details? } }` with the
 * right status, ETags. Bad input becomes a 4xx that helps; anything else a 5xx with a request id.
 */
import type { Context, ErrorHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { PortcullisError, ValidationError } from '../core/errors.js';
import type { Logger } from '../core/ports.js';

const STATUS_BY_CODE: Record<string, ContentfulStatusCode> = {
  invalid_argument: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  conflict: 409,
  version_conflict: 412,
  payload_too_large: 413,
  unavailable: 503,
  deadline_exceeded: 504,
};

/** The JSON error body of every failed call. */
export function errorBody(code: string, message: string, details?: unknown) {
  return { error: details === undefined ? { code, message } : { code, message, details } };
}

/** Reads a JSON body; a body that is not JSON is a 400, never a 500. */
export async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === '') throw new ValidationError('request body is empty; expected JSON');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ValidationError(`request body is not valid JSON: ${(error as Error).message}`);
  }
}

/** Strips quotes and a weak marker from an If-Match header; `*` and absence mean "any version". */
export function ifMatch(c: Context): string | undefined {
  const header = c.req.header('if-match')?.trim();
  if (header === undefined || header === '' || header === '*') return undefined;
  return header.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}

export function etag(version: string): string {
  return `"${version}"`;
}

/** Maps errors to responses; logs server faults with the request id, never leaking internals. */
export function errorHandler(logger: Logger): ErrorHandler {
  return (error, c) => {
    if (error instanceof PortcullisError) {
      const status = STATUS_BY_CODE[error.code] ?? 500;
      if (status >= 500) logger.warn('request failed', { code: error.code, message: error.message });
      return c.json(errorBody(error.code, error.message, error.details), status);
    }
    if (error instanceof HTTPException) {
      const status = error.status;
      const code = status === 413 ? 'payload_too_large' : status === 401 ? 'unauthenticated' : 'bad_request';
      return c.json(errorBody(code, error.message || 'bad request'), status);
    }
    const requestId = c.get('requestId' as never) as string | undefined;
    logger.error('unhandled error', {
      requestId,
      error: error instanceof Error ? error.stack : String(error),
    });
    return c.json(errorBody('internal', `internal error; request id ${requestId ?? 'unknown'}`), 500);
  };
}

/** 413 with our error body, for hono's body-limit middleware. */
export function tooLarge(limit: number) {
  return (c: Context) =>
    c.json(
      errorBody('payload_too_large', `request body is larger than ${Math.round(limit / 1024)} KiB`),
      413,
    );
}
