/** Local emulator settings from the environment, parsed once at start with explicit defaults. */
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { z } from 'zod';

const EnvSchema = z.object({
  PORTCULLIS_DATA_DIR: z.string().min(1).default('./.portcullis'),
  PORTCULLIS_PORT: z.coerce.number().int().min(0).max(65535).default(8443),
  PORTCULLIS_HOST: z.string().min(1).default('0.0.0.0'),
  PORTCULLIS_PUBLIC_URL: z.url({ protocol: /^https$/ }).optional(),
  PORTCULLIS_TLS_SANS: z.string().default(''),
  PORTCULLIS_ADMIN_KEY: z.string().min(16, 'must be at least 16 characters').optional(),
  PORTCULLIS_STORE: z.enum(['sqlite', 'dynamodb', 'cosmos', 'firestore']).default('sqlite'),
  PORTCULLIS_FAIL_MODE: z.enum(['error', 'open', 'closed']).default('error'),
  PORTCULLIS_DEADLINE_MS: z.coerce.number().int().min(10).max(30_000).default(2000),
  PORTCULLIS_CACHE_TTL_MS: z.coerce.number().int().min(0).max(600_000).default(10_000),
  PORTCULLIS_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(90),
  PORTCULLIS_JOB_INTERVAL_MS: z.coerce.number().int().min(1000).default(3_600_000),
  PORTCULLIS_LOG: z.enum(['json', 'silent']).default('json'),
});

export interface EmulatorConfig {
  dataDir: string;
  port: number;
  host: string;
  /** The base URL a cluster uses to reach this emulator (goes into webhook URLs). */
  publicUrl?: string;
  /** Extra DNS names or IPs for the server certificate. */
  tlsSans: string[];
  adminKey?: string;
  store: 'sqlite' | 'dynamodb' | 'cosmos' | 'firestore';
  failMode: 'error' | 'open' | 'closed';
  deadlineMs: number;
  cacheTtlMs: number;
  retentionDays: number;
  jobIntervalMs: number;
  log: 'json' | 'silent';
}

/** Parses the environment; throws an Error naming each bad variable. */
export function parseConfig(env: NodeJS.ProcessEnv = process.env): EmulatorConfig {
  const result = EnvSchema.safeParse(env);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid configuration:\n${lines.join('\n')}`);
  }
  const e = result.data;
  return {
    dataDir: resolve(e.PORTCULLIS_DATA_DIR),
    port: e.PORTCULLIS_PORT,
    host: e.PORTCULLIS_HOST,
    publicUrl: e.PORTCULLIS_PUBLIC_URL,
    tlsSans: e.PORTCULLIS_TLS_SANS.split(',')
      .map((s) => s.trim())
      .filter((s) => s !== ''),
    adminKey: e.PORTCULLIS_ADMIN_KEY,
    store: e.PORTCULLIS_STORE,
    failMode: e.PORTCULLIS_FAIL_MODE,
    deadlineMs: e.PORTCULLIS_DEADLINE_MS,
    cacheTtlMs: e.PORTCULLIS_CACHE_TTL_MS,
    retentionDays: e.PORTCULLIS_RETENTION_DAYS,
    jobIntervalMs: e.PORTCULLIS_JOB_INTERVAL_MS,
    log: e.PORTCULLIS_LOG,
  };
}

/** Names the server certificate covers: loopback, this host, Docker/kind's host alias, and extras. */
export function certificateNames(config: EmulatorConfig): string[] {
  const names = new Set([
    'localhost',
    '127.0.0.1',
    '::1',
    'host.docker.internal',
    hostname(),
    ...config.tlsSans,
  ]);
  if (config.publicUrl !== undefined) names.add(new URL(config.publicUrl).hostname.replace(/^\[|\]$/g, ''));
  return [...names];
}
