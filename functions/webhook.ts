/**
 * The webhook endpoint `POST /admission/{token}`: the hot path. Kept apart from the admin API
 * so that a webhook-only function bundle carries none of the admin code.
 */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Services } from '../core/services/index.js';
import { errorBody, readJson, tooLarge } from './http.js';

/**
 * Kubernetes objects are at most ~1.5 MiB (etcd's limit); an UPDATE carries two of them.
 * Anything larger is not an AdmissionReview.
 */
export const WEBHOOK_BODY_LIMIT = 6 * 1024 * 1024;

/** Mounts the webhook route on `app`. */
export function mountWebhook(app: Hono, services: Pick<Services, 'clusters' | 'admission'>): Hono {
  app.post(
    '/admission/:token',
    bodyLimit({ maxSize: WEBHOOK_BODY_LIMIT, onError: tooLarge(WEBHOOK_BODY_LIMIT) }),
    async (c) => {
      const cluster = await services.clusters.authenticate(c.req.param('token'));
      // Nothing else is revealed to an unknown caller, not even whether the body was valid.
      if (cluster === null) return c.json(errorBody('unauthenticated', 'unknown webhook token'), 401);
      const { review } = await services.admission.review(cluster, await readJson(c));
      return c.json(review);
    },
  );
  return app;
}

/** An app that serves only the webhook and /healthz (the webhook function of each cloud). */
export function createWebhookApp(
  services: Pick<Services, 'clusters' | 'admission'>,
  onError: Parameters<Hono['onError']>[0],
): Hono {
  const app = new Hono();
  app.onError(onError);
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  mountWebhook(app, services);
  app.notFound((c) => c.json(errorBody('not_found', `no route for ${c.req.method} ${c.req.path}`), 404));
  return app;
}
