/**
 * Settings every runtime shares (local emulator and each cloud's functions), from the
 * environment, parsed once at start with explicit defaults and errors that name the variable.
 */
import { z } from 'zod';
import type { ServiceOptions } from '../core/services/index.js';

export const STORES = ['sqlite', 'dynamodb', 'cosmos', 'firestore'] as const;
export type StoreName = (typeof STORES)[number];

export const ServiceEnvSchema = z.object({
  PORTCULLIS_STORE: z.enum(STORES).default('sqlite'),
  PORTCULLIS_FAIL_MODE: z.enum(['error', 'open', 'closed']).default('error'),
  PORTCULLIS_DEADLINE_MS: z.coerce.number().int().min(10).max(30_000).default(2000),
  PORTCULLIS_CACHE_TTL_MS: z.coerce.number().int().min(0).max(600_000).default(10_000),
  PORTCULLIS_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(90),
});

export interface ServiceConfig {
  store: StoreName;
  services: Required<Pick<ServiceOptions, 'failMode' | 'deadlineMs' | 'cacheTtlMs' | 'retentionDays'>>;
}

/** Throws an Error listing each bad variable and why. */
export function parseEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv): z.output<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const lines = result.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
  throw new Error(`invalid configuration:\n${lines.join('\n')}`);
}

/** The store and service settings of `ServiceEnvSchema`. */
export function parseServiceConfig(env: NodeJS.ProcessEnv = process.env): ServiceConfig {
  const e = parseEnv(ServiceEnvSchema, env);
  return {
    store: e.PORTCULLIS_STORE,
    services: {
      failMode: e.PORTCULLIS_FAIL_MODE,
      deadlineMs: e.PORTCULLIS_DEADLINE_MS,
      cacheTtlMs: e.PORTCULLIS_CACHE_TTL_MS,
      retentionDays: e.PORTCULLIS_RETENTION_DAYS,
    },
  };
}
