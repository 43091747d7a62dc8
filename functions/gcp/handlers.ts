/**
 * Pure factories for the Cloud Functions entry points: functions-framework's (Express) request
 * and response to and from the fetch `Request`/`Response` of the shared Hono apps, and one HTTP
 * handler per scheduled job for Cloud Scheduler. `index.ts` registers them; tests drive them
 * through functions-framework's own test server.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type {
  Request as FrameworkRequest,
  Response as FrameworkResponse,
  HttpFunction,
} from '@google-cloud/functions-framework';
import type { Logger } from '../../core/ports.js';
import type { Services } from '../../core/services/index.js';
import { errorBody } from '../http.js';
import { type JobName, runJob } from '../jobs.js';
import { perInstance } from '../runtime.js';

/** What the handlers need of a Hono app. */
export interface FetchApp {
  fetch(request: Request): Response | Promise<Response>;
}

/**
 * Headers about the bytes on the wire rather than the body handed on: body-parser has already
 * read (and inflated) the body, so its length and encoding no longer describe it.
 */
const WIRE_HEADERS = new Set([
  'content-length',
  'content-encoding',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'expect',
]);

/**
 * The fetch Request for a functions-framework request. The framework parses JSON, text and
 * form bodies before the function runs; `req.rawBody` keeps the exact bytes it read (every one
 * of its body parsers saves them), so the shared app sees the body as the client sent it.
 */
export function toFetchRequest(req: FrameworkRequest): Request {
  // 'trust proxy' is on in the framework, so protocol and host follow X-Forwarded-* from Google's front end.
  const url = new URL(req.originalUrl || req.url, `${req.protocol}://${req.get('host') ?? 'localhost'}`);
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || WIRE_HEADERS.has(name)) continue;
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else headers.set(name, value);
  }
  const method = req.method.toUpperCase();
  // body-parser's buffers sit on plain ArrayBuffers, never shared memory.
  const raw = req.rawBody as Uint8Array<ArrayBuffer> | undefined;
  const body = method === 'GET' || method === 'HEAD' ? null : (raw ?? null);
  return new Request(url, { method, headers, body, signal: req.abortController?.signal });
}

/** Writes a fetch Response back through the framework's response, Set-Cookie headers kept apart. */
export async function writeFetchResponse(response: Response, res: FrameworkResponse): Promise<void> {
  res.status(response.status);
  for (const [name, value] of response.headers) {
    if (name !== 'set-cookie') res.setHeader(name, value);
  }
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) res.setHeader('set-cookie', cookies);
  res.end(response.body === null ? undefined : Buffer.from(await response.arrayBuffer()));
}

/**
 * An HTTP function serving a Hono app that is built once per instance, on the first request
 * (so a function instance that never serves pays nothing). A failed start answers 503 with
 * the usual JSON error and is retried by the next request.
 *
 * @example
 * functions.http('api', createHttpHandler(async () => createApp({ services: await services() }), logger));
 */
export function createHttpHandler(createApp: () => Promise<FetchApp>, logger: Logger): HttpFunction {
  const app = perInstance(createApp);
  return async (req, res) => {
    let instance: FetchApp;
    try {
      instance = await app();
    } catch (error) {
      logger.error('function failed to start', { error: describe(error) });
      res.status(503).json(errorBody('unavailable', 'the function could not start; see its logs'));
      return;
    }
    try {
      await writeFetchResponse(await instance.fetch(toFetchRequest(req)), res);
    } catch (error) {
      // The app answers its own errors; this is the response stream failing (a client gone).
      logger.error('response failed', { error: describe(error) });
      if (!res.headersSent) res.status(500).json(errorBody('internal', 'internal error'));
      else res.destroy();
    }
  };
}

/**
 * The entry point name of a job's function: `expire-exemptions` → `expireExemptions`
 * (iac/gcp's `jobs` map uses the same names).
 */
export function jobFunctionName(job: JobName): string {
  return job.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/**
 * The HTTP function Cloud Scheduler calls for one job: POST runs it and answers what it did;
 * anything else is 405. Who may call is Cloud Run's business (IAM invoker + the scheduler's
 * OIDC token); a failed run answers 500 so that Cloud Scheduler records it and retries.
 */
export function createJobHandler(
  job: JobName,
  services: () => Promise<Services>,
  logger: Logger,
): HttpFunction {
  return async (req, res) => {
    if (req.method !== 'POST') {
      res
        .status(405)
        .set('allow', 'POST')
        .json(errorBody('method_not_allowed', `${req.method} is not allowed; the ${job} job runs on POST`));
      return;
    }
    try {
      res.status(200).json(await runJob(job, await services()));
    } catch (error) {
      logger.error('scheduled job failed', { job, error: describe(error) });
      res.status(500).json(errorBody('internal', `the ${job} job failed; see the function's logs`));
    }
  };
}

/** The part of Express's `application` prototype that every Express app is made from. */
export interface ExpressApplication {
  handle(req: IncomingMessage, res: ServerResponse, callback?: (error?: unknown) => void): void;
}

/**
 * The `application` prototype of the Express that functions-framework itself loads (resolved
 * from the framework's own location, wherever npm put it), or undefined if it cannot be found.
 */
export function frameworkExpressApplication(): ExpressApplication | undefined {
  try {
    const framework = createRequire(import.meta.url).resolve('@google-cloud/functions-framework');
    return (createRequire(framework)('express') as { application: ExpressApplication }).application;
  } catch {
    return undefined;
  }
}

const INSTALLED = Symbol.for('portcullis.jsonBodyErrors');

const BODY_ERROR_CODES: Record<number, string> = {
  400: 'invalid_argument',
  403: 'permission_denied',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
};

/**
 * Makes the framework's Express app answer what fails *before* the function runs with the
 * shared app's JSON errors. The framework parses JSON bodies ahead of the function, and a body
 * that is not JSON would otherwise get Express's HTML error page (with a stack trace outside
 * production) instead of `400 {"error":{"code":"invalid_argument",...}}`. It wraps the final
 * handler of apps created afterwards (the framework creates its app after loading the function
 * module); `application` must be the Express the framework itself loads.
 */
export function installJsonBodyErrors(application: ExpressApplication, logger: Logger): void {
  const marked = application as ExpressApplication & { [INSTALLED]?: true };
  if (marked[INSTALLED]) return;
  const handle = application.handle;
  application.handle = function (this: unknown, req, res, callback) {
    // A mounted sub-app hands its errors to its parent, whose final handler is this one.
    if (callback !== undefined) return handle.call(this, req, res, callback);
    return handle.call(this, req, res, (error) => answerUnhandled(error, req, res, logger));
  };
  marked[INSTALLED] = true;
}

function answerUnhandled(error: unknown, req: IncomingMessage, res: ServerResponse, logger: Logger): void {
  if (res.headersSent) {
    req.socket.destroy();
    return;
  }
  let status = 404;
  let body = errorBody('not_found', `no route for ${req.method} ${req.url}`);
  if (error !== undefined && error !== null) {
    const e = error as {
      status?: unknown;
      statusCode?: unknown;
      type?: unknown;
      expose?: unknown;
      message?: unknown;
    };
    const code = typeof e.status === 'number' ? e.status : e.statusCode;
    if (typeof code === 'number' && code >= 400 && code < 500) {
      status = code;
      const message =
        e.type === 'entity.parse.failed'
          ? `request body is not valid JSON: ${String(e.message)}`
          : e.expose === true && typeof e.message === 'string'
            ? e.message
            : 'bad request';
      body = errorBody(BODY_ERROR_CODES[code] ?? 'bad_request', message);
    } else {
      status = 500;
      logger.error('request failed before the function ran', { error: describe(error) });
      body = errorBody('internal', 'internal error');
    }
  }
  res.statusCode = status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.end(JSON.stringify(body));
}

function describe(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}
