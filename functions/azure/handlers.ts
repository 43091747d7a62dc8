/**
 * The Azure Functions (v4 programming model) handlers of Portcullis, as pure factories: an
 * HTTP trigger's `HttpRequest` becomes a fetch `Request` for the shared Hono app and its
 * `Response` becomes an `HttpResponseInit`; a timer trigger runs one scheduled job. The
 * registration (`app.http`, `app.timer`) is in webhook.ts, api.ts and jobs.ts.
 *
 * This module imports neither the admin API nor a report parser: the api handler loads them
 * on its first call, so the webhook's cold start does not pay for them.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext, Timer } from '@azure/functions';
import { ConflictError } from '../../core/errors.js';
import type { Services } from '../../core/services/index.js';
import { errorBody, errorHandler } from '../http.js';
import { type JobName, runJob } from '../jobs.js';
import { perInstance } from '../runtime.js';
import { createWebhookApp } from '../webhook.js';
import { type ApiConfig, parseApiConfig } from './config.js';
import { invocationLogger, withInvocation } from './logging.js';

/** Anything that answers fetch requests: a Hono app. */
export interface FetchApp {
  fetch(request: Request): Response | Promise<Response>;
}

type AzureHttpHandler = (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;
type AzureTimerHandler = (timer: Timer, context: InvocationContext) => Promise<void>;

/**
 * Azure's request as a fetch `Request`: same method, full URL (path and query string), every
 * header, and the body as bytes (GET and HEAD carry none).
 */
export async function toFetchRequest(request: HttpRequest): Promise<Request> {
  const method = request.method.toUpperCase();
  const headers = new Headers();
  for (const [name, value] of request.headers) headers.append(name, value);
  let body: ArrayBuffer | undefined;
  if (method !== 'GET' && method !== 'HEAD') {
    const bytes = await request.arrayBuffer();
    if (bytes.byteLength > 0) body = bytes;
  }
  return new Request(request.url, { method, headers, body });
}

/**
 * A fetch `Response` as what an Azure HTTP function returns: status, every header, and the
 * body as bytes (none when empty, e.g. 204).
 */
export async function toHttpResponseInit(response: Response): Promise<HttpResponseInit> {
  const bytes = new Uint8Array(await response.arrayBuffer());
  const headers: [string, string][] = [...response.headers];
  return bytes.byteLength === 0
    ? { status: response.status, headers }
    : { status: response.status, headers, body: bytes };
}

/**
 * An HTTP function over a Hono app built on first use. A start that fails (configuration, the
 * store) answers 503 with the invocation id and is tried again by the next call.
 */
export function createHttpHandler(app: () => Promise<FetchApp>): AzureHttpHandler {
  return (request, context) =>
    withInvocation(context, async () => {
      let ready: FetchApp;
      try {
        ready = await app();
      } catch (error) {
        invocationLogger.error('function could not start', { error: describe(error) });
        return unavailable(context);
      }
      return toHttpResponseInit(await ready.fetch(await toFetchRequest(request)));
    });
}

function unavailable(context: InvocationContext): HttpResponseInit {
  return {
    status: 503,
    jsonBody: errorBody(
      'unavailable',
      `Portcullis could not start; see the function logs for invocation ${context.invocationId}`,
    ),
  };
}

function describe(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

/** What the webhook function needs: services over the store, built once per instance. */
export interface WebhookHandlerDeps {
  services: () => Promise<Pick<Services, 'clusters' | 'admission' | 'logger'>>;
}

/** `POST /admission/{token}` (and `/healthz`): the webhook app only. */
export function createWebhookHandler(deps: WebhookHandlerDeps): AzureHttpHandler {
  return createHttpHandler(
    perInstance(async () => {
      const services = await deps.services();
      return createWebhookApp(services, errorHandler(services.logger));
    }),
  );
}

/** What the admin function needs. */
export interface ApiHandlerDeps {
  services: () => Promise<Services>;
  /** Where PORTCULLIS_WEBHOOK_BASE_URL and PORTCULLIS_ADMIN_KEY are read from, once. */
  env?: NodeJS.ProcessEnv;
}

/**
 * The admin API, /healthz and the dashboard: the whole app, handing out webhook URLs on
 * PORTCULLIS_WEBHOOK_BASE_URL. Its first call per instance seeds the default rule and installs
 * the bootstrap admin key.
 */
export function createApiHandler(deps: ApiHandlerDeps): AzureHttpHandler {
  return createHttpHandler(
    perInstance(async () => {
      const config = parseApiConfig(deps.env ?? process.env);
      const services = await deps.services();
      await bootstrap(services, config);
      const { createApp } = await import('../app.js');
      return createApp({ services, webhookEndpoint: () => ({ baseUrl: config.webhookBaseUrl }) });
    }),
  );
}

/**
 * What a fresh store needs before the API is useful: the default rule (idempotent) and, when
 * the secret is set, the bootstrap SecurityAdmin key.
 */
export async function bootstrap(services: Services, config: ApiConfig): Promise<void> {
  const { logger } = services;
  if (await services.rules.seedDefaultRule())
    logger.info('seeded the default rule', { rule: 'default-audit-high-critical' });
  if (config.adminKeyUnresolved) {
    logger.error('PORTCULLIS_ADMIN_KEY is a Key Vault reference App Service could not resolve', {
      fix: 'set the secret (docs/deploy-azure.md) and restart the function app',
    });
  }
  if (config.adminKey === undefined) return;
  try {
    if (await services.apiKeys.ensure(config.adminKey, 'bootstrap-admin', 'SecurityAdmin'))
      logger.info('installed the bootstrap admin key', { name: 'bootstrap-admin' });
  } catch (error) {
    // Another instance installed it at the same moment.
    if (!(error instanceof ConflictError)) throw error;
  }
}

/**
 * NCRONTAB schedules (`{second} {minute} {hour} {day} {month} {day-of-week}`, UTC) of the jobs
 * in JOB_NAMES. A job added to JOB_NAMES needs its line here (the type says so); jobs.ts
 * registers one timer function per name.
 */
export const JOB_SCHEDULES = {
  'expire-exemptions': '0 5 * * * *',
  'monitoring-upkeep': '0 35 * * * *',
  'findings-sync': '0 */15 * * * *',
} as const satisfies Record<JobName, string> & Record<string, string>;

/** A timer function running `job`; a failed run throws, so the platform records it failed. */
export function createTimerHandler(job: JobName, services: () => Promise<Services>): AzureTimerHandler {
  return (timer, context) =>
    withInvocation(context, async () => {
      if (timer.isPastDue)
        invocationLogger.warn('timer is past due', { job, last: timer.scheduleStatus?.last });
      await runJob(job, await services());
    });
}
