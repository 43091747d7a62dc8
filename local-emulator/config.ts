/** Local emulator settings from the environment, parsed once at start with explicit defaults. */
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { z } from 'zod';
import { parseEnv, ServiceEnvSchema, type StoreName } from '../functions/config.js';

const EnvSchema = ServiceEnvSchema.extend({
  PORTCULLIS_DATA_DIR: z.string().min(1).default('./.portcullis'),
  PORTCULLIS_PORT: z.coerce.number().int().min(0).max(65535).default(8443),
  PORTCULLIS_HOST: z.string().min(1).default('0.0.0.0'),
  PORTCULLIS_PUBLIC_URL: z.url({ protocol: /^https$/ }).optional(),
  PORTCULLIS_TLS_SANS: z.string().default(''),
  PORTCULLIS_ADMIN_KEY: z.string().min(16, 'must be at least 16 characters').optional(),
  PORTCULLIS_JOB_INTERVAL_MS: z.coerce.number().int().min(1000).default(3_600_000),
  PORTCULLIS_SYNC_INTERVAL_MS: z.coerce.number().int().min(1000).default(900_000),
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
  store: StoreName;
  failMode: 'error' | 'open' | 'closed';
  deadlineMs: number;
  cacheTtlMs: number;
  retentionDays: number;
  jobIntervalMs: number;
  /** How often the findings sync runs over every enabled registry (DESIGN.md §5). */
  syncIntervalMs: number;
  log: 'json' | 'silent';
}

/** Parses the environment; throws an Error naming each bad variable. */
export function parseConfig(env: NodeJS.ProcessEnv = process.env): EmulatorConfig {
  const e = parseEnv(EnvSchema, env);
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
    syncIntervalMs: e.PORTCULLIS_SYNC_INTERVAL_MS,
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
