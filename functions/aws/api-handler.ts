/** The admin function's handler: the admin API and `/healthz`, and the store's first-start setup. */
import { handle } from 'hono/aws-lambda';
import { z } from 'zod';
import { createApp } from '../app.js';
import { parseEnv } from '../config.js';
import { type FunctionUrlHandler, functionUrlHandler, type HandlerDeps } from './shared.js';

/** The admin function also reads its own settings from the environment. */
export interface ApiHandlerDeps extends HandlerDeps {
  env: NodeJS.ProcessEnv;
}

/** The admin function's own settings. */
export interface ApiConfig {
  /** Where clusters reach the webhook function, without a trailing slash. */
  webhookBaseUrl: string;
  /** The bootstrap SecurityAdmin key, made sure to exist on first start. */
  adminKey?: string;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

const ApiEnvSchema = z.object({
  PORTCULLIS_WEBHOOK_BASE_URL: z
    .string({ error: 'is required: the base URL of the webhook function (its function URL)' })
    .trim()
    .superRefine((value, ctx) => {
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        ctx.addIssue({ code: 'custom', message: `"${value}" is not a URL` });
        return;
      }
      // Kubernetes calls webhooks over TLS only; plain http is for serverless-offline on this machine.
      if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.has(url.hostname)))
        ctx.addIssue({ code: 'custom', message: `must be an https URL, got "${value}"` });
      if (url.search !== '' || url.hash !== '')
        ctx.addIssue({ code: 'custom', message: 'must have no query or fragment (Kubernetes forbids them)' });
    })
    .transform((value) => value.replace(/\/+$/, '')),
  // Empty means unset: the offline stage passes an empty value when the shell has none.
  PORTCULLIS_ADMIN_KEY: z
    .union([z.literal(''), z.string().regex(/^\S{16,256}$/, 'must be 16 to 256 characters without spaces')])
    .optional()
    .transform((value) => (value === '' ? undefined : value)),
});

/**
 * Reads `PORTCULLIS_WEBHOOK_BASE_URL` (required, https) and `PORTCULLIS_ADMIN_KEY` (optional);
 * throws an error naming each bad variable.
 */
export function parseApiConfig(env: NodeJS.ProcessEnv): ApiConfig {
  const e = parseEnv(ApiEnvSchema, env);
  return { webhookBaseUrl: e.PORTCULLIS_WEBHOOK_BASE_URL, adminKey: e.PORTCULLIS_ADMIN_KEY };
}

/**
 * The admin API behind a function URL. On the first request of an instance it seeds the default
 * rule (once per store) and makes sure the bootstrap key `PORTCULLIS_ADMIN_KEY` exists;
 * registrations hand out webhook URLs on `PORTCULLIS_WEBHOOK_BASE_URL`. The settings are read
 * here, so a missing or bad one fails the function's start with a message naming it.
 */
export function createApiHandler(deps: ApiHandlerDeps): FunctionUrlHandler {
  const config = parseApiConfig(deps.env);
  const { logger } = deps;
  return functionUrlHandler(logger, async () => {
    const services = await deps.services();
    if (await services.rules.seedDefaultRule())
      logger.info('seeded the default rule', { rule: 'default-audit-high-critical' });
    if (config.adminKey !== undefined) {
      if (await services.apiKeys.ensure(config.adminKey, 'bootstrap-admin', 'SecurityAdmin'))
        logger.info('created the bootstrap admin key from PORTCULLIS_ADMIN_KEY');
    }
    return handle(createApp({ services, webhookEndpoint: () => ({ baseUrl: config.webhookBaseUrl }) }));
  });
}
