/**
 * The one-machine Portcullis: HTTPS webhook + admin API over the embedded store, the default
 * rule seeded, a bootstrap admin key, and the scheduled jobs on timers.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { createConnector } from '../adapters/registry/connectors.js';
import { type Logger, silentLogger } from '../core/ports.js';
import { newSecret } from '../core/secrets.js';
import { createServices, type Services } from '../core/services/index.js';
import type { ConnectorFactory } from '../core/sync.js';
import { createApp } from '../functions/app.js';
import { JOB_NAMES, type JobName, runJob } from '../functions/jobs.js';
import { certificateNames, type EmulatorConfig } from './config.js';
import { openStore } from './store.js';
import { ensureTls } from './tls.js';

export interface RunningEmulator {
  /** e.g. https://localhost:8443 */
  url: string;
  port: number;
  services: Services;
  /** The bootstrap admin key when this start generated it (first start without PORTCULLIS_ADMIN_KEY). */
  generatedAdminKey?: string;
  adminKeyPath: string;
  caPath: string;
  close(): Promise<void>;
}

/** JSON lines on stdout: one object per event, easy to grep and to ship. */
export const jsonLogger: Logger = {
  info: (message, fields) =>
    console.log(JSON.stringify({ level: 'info', time: new Date().toISOString(), message, ...fields })),
  warn: (message, fields) =>
    console.log(JSON.stringify({ level: 'warn', time: new Date().toISOString(), message, ...fields })),
  error: (message, fields) =>
    console.error(JSON.stringify({ level: 'error', time: new Date().toISOString(), message, ...fields })),
};

/** What a test may swap in; production passes nothing. */
export interface EmulatorOverrides {
  /** The registry connectors (default: `createConnector`, each cloud's standard credentials). */
  connectors?: ConnectorFactory;
}

/** Starts the emulator; resolves once it listens. */
export async function startEmulator(
  config: EmulatorConfig,
  overrides: EmulatorOverrides = {},
): Promise<RunningEmulator> {
  const logger = config.log === 'json' ? jsonLogger : silentLogger;
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const tls = ensureTls(join(config.dataDir, 'tls'), certificateNames(config));
  const store = await openStore(config);
  const services = createServices(store, {
    logger,
    cacheTtlMs: config.cacheTtlMs,
    deadlineMs: config.deadlineMs,
    failMode: config.failMode,
    retentionDays: config.retentionDays,
    connectors: overrides.connectors ?? createConnector,
  });

  if (await services.rules.seedDefaultRule())
    logger.info('seeded the default rule', { rule: 'default-audit-high-critical' });
  const adminKeyPath = join(config.dataDir, 'admin-key');
  let generatedAdminKey: string | undefined;
  if (config.adminKey !== undefined) {
    await services.apiKeys.ensure(config.adminKey, 'bootstrap-admin', 'SecurityAdmin');
  } else if (await store.meta.setIfAbsent('bootstrap-admin-key', new Date().toISOString())) {
    generatedAdminKey = newSecret('pck_');
    await services.apiKeys.ensure(generatedAdminKey, 'bootstrap-admin', 'SecurityAdmin');
    // Kept beside the database (mode 0600) so the CLI on this machine finds it.
    writeFileSync(adminKeyPath, `${generatedAdminKey}\n`, { mode: 0o600 });
  }

  const run = async (job: JobName) => {
    try {
      await runJob(job, services);
    } catch (error) {
      logger.error('scheduled job failed', { job, error: String(error) });
    }
  };
  // The findings sync keeps a timer of its own (PORTCULLIS_SYNC_INTERVAL_MS); a run still going
  // when the next is due leaves that registry alone (its lease), so runs never pile up.
  const jobs = async () => {
    for (const job of JOB_NAMES) if (job !== 'findings-sync') await run(job);
  };
  await jobs();
  const timer = setInterval(jobs, config.jobIntervalMs);
  let syncing: Promise<void> | undefined;
  const sync = () => {
    syncing ??= run('findings-sync').finally(() => {
      syncing = undefined;
    });
  };
  const syncTimer = setInterval(sync, config.syncIntervalMs);

  let publicUrl = config.publicUrl;
  const app = createApp({
    services,
    // This process outlives each request: a manual sync answers 202 and runs on.
    syncInBackground: true,
    webhookEndpoint: (requestUrl) => ({
      baseUrl: publicUrl ?? new URL(requestUrl).origin,
      caBundlePem: tls.caPem,
    }),
  });
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve(
      {
        fetch: app.fetch,
        port: config.port,
        hostname: config.host,
        createServer,
        serverOptions: { key: tls.keyPem, cert: tls.certPem },
      },
      () => resolve(s),
    );
    s.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  publicUrl ??= `https://localhost:${port}`;

  return {
    url: `https://localhost:${port}`,
    port,
    services,
    generatedAdminKey,
    adminKeyPath: existsSync(adminKeyPath) ? adminKeyPath : '',
    caPath: tls.caPath,
    close: async () => {
      clearInterval(timer);
      clearInterval(syncTimer);
      // Runs going on stop at their next batch, recorded as failed, their leases released.
      await services.sync.stop();
      await syncing;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Keep-alive connections would hold close() open; end them.
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
      await store.close();
    },
  };
}

export function readAdminKey(path: string): string | undefined {
  return existsSync(path) ? readFileSync(path, 'utf8').trim() : undefined;
}
