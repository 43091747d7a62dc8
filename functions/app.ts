/**
 * The HTTP application shared by every runtime: webhook + admin API + health. Each runtime's
 * entry file builds services over its store and hands `app.fetch` to its server or adapter.
 */
import { Hono } from 'hono';
import { requestId } from 'hono/request-id';
import type { Services } from '../core/services/index.js';
import { type AdminOptions, mountAdminApi } from './admin.js';
import { mountDashboard } from './dashboard.js';
import { errorBody, errorHandler } from './http.js';
import { mountWebhook } from './webhook.js';

export interface AppOptions {
  services: Services;
  /** Base URL clusters use to reach the webhook, and the CA bundle they need to trust it. */
  webhookEndpoint?: AdminOptions['webhookEndpoint'];
  /** Let `POST /registries/{ref}:sync` answer 202 and finish the run in the background (local emulator). */
  syncInBackground?: boolean;
}

/** Builds the whole application (the local emulator and the single-function deployments). */
export function createApp(options: AppOptions): Hono {
  const { services } = options;
  const app = new Hono();
  app.use('*', requestId());
  app.onError(errorHandler(services.logger));
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  mountWebhook(app, services);
  mountAdminApi(app, {
    services,
    webhookEndpoint: options.webhookEndpoint ?? ((url) => ({ baseUrl: new URL(url).origin })),
    syncInBackground: options.syncInBackground === true,
  });
  mountDashboard(app);
  app.notFound((c) => c.json(errorBody('not_found', `no route for ${c.req.method} ${c.req.path}`), 404));
  return app;
}
