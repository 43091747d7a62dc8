/**
 * The `api` function's app: the admin API, /healthz and the dashboard. On its first
 * start against a store it seeds the default rule and installs the bootstrap admin key.
 */
import type { Hono } from 'hono';
import { z } from 'zod';
import type { Services } from '../../core/services/index.js';
import { createApp } from '../app.js';
import { parseEnv } from '../config.js';

const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

const ApiEnvSchema = z.object({
  PORTCULLIS_WEBHOOK_BASE_URL: z
    .string({ error: 'is required: the URL of the webhook function (e.g. its Cloud Run URL)' })
    .transform((value, ctx) => {
      const result = webhookBaseUrl(value.trim());
      if (typeof result === 'string') return result;
      ctx.addIssue({ code: 'custom', message: result.problem });
      return z.NEVER;
    }),
  PORTCULLIS_ADMIN_KEY: z
    .string()
    .trim()
    .optional()
    .transform((key) => (key === '' ? undefined : key))
    .refine((key) => key === undefined || (key.length >= 16 && key.length <= 256), {
      error: 'must be 16 to 256 characters',
    }),
});

/** The normalized base URL (no trailing slash), or what is wrong with it. */
function webhookBaseUrl(value: string): string | { problem: string } {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { problem: `must be an http(s) URL, got "${value}"` };
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOCAL_HOSTS.has(url.hostname))) {
    return {
      problem: 'must be https: Kubernetes calls webhooks over TLS only (http is allowed for localhost)',
    };
  }
  if (url.search !== '' || url.hash !== '' || value.includes('?') || value.includes('#')) {
    return { problem: 'must not have a query or fragment: Kubernetes forbids them in webhook URLs' };
  }
  return url.href.replace(/\/+$/, '');
}

export interface ApiConfig {
  /** Where clusters reach the webhook function; webhook URLs handed out start with it. */
  webhookBaseUrl: string;
  /** The bootstrap SecurityAdmin key (from Secret Manager), if one is configured. */
  adminKey?: string;
}

/** Reads the api function's settings; throws naming each bad variable. */
export function parseApiConfig(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  const e = parseEnv(ApiEnvSchema, env);
  return { webhookBaseUrl: e.PORTCULLIS_WEBHOOK_BASE_URL, adminKey: e.PORTCULLIS_ADMIN_KEY };
}

/**
 * The admin app over `services`. Seeding is idempotent, so every instance may do it; it runs
 * before the first request is served.
 */
export async function createGcpApiApp(
  services: Services,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Hono> {
  const config = parseApiConfig(env);
  if (await services.rules.seedDefaultRule()) {
    services.logger.info('seeded the default rule', { rule: 'default-audit-high-critical' });
  }
  if (
    config.adminKey !== undefined &&
    (await services.apiKeys.ensure(config.adminKey, 'bootstrap-admin', 'SecurityAdmin'))
  ) {
    services.logger.info('installed the bootstrap admin key', { name: 'bootstrap-admin' });
  }
  const endpoint = { baseUrl: config.webhookBaseUrl };
  return createApp({ services, webhookEndpoint: () => endpoint });
}
