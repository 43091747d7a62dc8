/**
 * Settings of the Azure admin function, from app settings, parsed once per instance with
 * errors that name the variable.
 */
import { z } from 'zod';
import { parseEnv } from '../config.js';

/** What App Service leaves in a setting whose Key Vault reference it could not resolve. */
const KEY_VAULT_REFERENCE = /^@Microsoft\.KeyVault\(/i;

const ApiEnvSchema = z.object({
  PORTCULLIS_WEBHOOK_BASE_URL: z
    .url({ protocol: /^https$/, error: 'must be the https:// URL of the webhook function app' })
    .refine((u) => {
      const url = new URL(u);
      return url.search === '' && url.hash === '';
    }, 'must not carry a query or fragment (Kubernetes webhook URLs cannot)'),
  // An empty setting means "not set".
  PORTCULLIS_ADMIN_KEY: z.preprocess(
    (v) => (v === '' ? undefined : v),
    z
      .string()
      .refine((k) => KEY_VAULT_REFERENCE.test(k) || k.length >= 16, 'must be at least 16 characters')
      .optional(),
  ),
});

export interface ApiConfig {
  /** Where clusters reach the webhook, e.g. `https://func-portcullis.azurewebsites.net`. */
  webhookBaseUrl: string;
  /** The bootstrap SecurityAdmin key, when the secret is set and resolved. */
  adminKey?: string;
  /** True when PORTCULLIS_ADMIN_KEY holds a Key Vault reference App Service could not resolve. */
  adminKeyUnresolved: boolean;
}

/**
 * Reads `PORTCULLIS_WEBHOOK_BASE_URL` (required, https) and `PORTCULLIS_ADMIN_KEY` (optional).
 * An unresolved Key Vault reference (the secret not set yet, or no access) is reported, never
 * installed as a key: its text is visible to anyone who can read the app settings.
 */
export function parseApiConfig(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  const e = parseEnv(ApiEnvSchema, env);
  const unresolved = e.PORTCULLIS_ADMIN_KEY !== undefined && KEY_VAULT_REFERENCE.test(e.PORTCULLIS_ADMIN_KEY);
  return {
    webhookBaseUrl: e.PORTCULLIS_WEBHOOK_BASE_URL.replace(/\/+$/, ''),
    ...(e.PORTCULLIS_ADMIN_KEY === undefined || unresolved ? {} : { adminKey: e.PORTCULLIS_ADMIN_KEY }),
    adminKeyUnresolved: unresolved,
  };
}
