/**
 * The `webhook` function's app: the admission webhook and /healthz only. Loaded on demand by
 * index.ts, so the webhook never loads the admin API, the report parsers or the OpenAPI document.
 */
import type { Hono } from 'hono';
import type { Services } from '../../core/services/index.js';
import { errorHandler } from '../http.js';
import { createWebhookApp } from '../webhook.js';

/** The webhook app over `services`, with errors answered and logged by the services' logger. */
export function createGcpWebhookApp(services: Services): Hono {
  return createWebhookApp(services, errorHandler(services.logger));
}
