/**
 * What every cloud entry file needs: services built once per function instance (cold start)
 * over the cloud's store, and reused by every invocation that instance serves.
 */
import type { Logger, Store } from '../core/ports.js';
import { createServices, type Services } from '../core/services/index.js';
import type { ConnectorFactory } from '../core/sync.js';
import { parseServiceConfig } from './config.js';

/**
 * Memoizes an async factory for the life of the instance. A failed start is forgotten, so the
 * next invocation tries again instead of failing forever.
 */
export function perInstance<T>(create: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    pending ??= create().catch((error: unknown) => {
      pending = undefined;
      throw error;
    });
    return pending;
  };
}

/** What a function adds to the services the environment configures. */
export interface LazyServicesOptions {
  /**
   * The registry connectors, for the functions that sync registries (the admin API's on-demand
   * sync, the findings-sync job): `registryConnectors` of functions/connectors.ts. The webhook
   * passes none, so that nothing of the connectors is loaded where it runs.
   */
  connectors?: ConnectorFactory;
}

/**
 * Services over `openStore`, configured from the environment (PORTCULLIS_FAIL_MODE,
 * PORTCULLIS_DEADLINE_MS, PORTCULLIS_CACHE_TTL_MS, PORTCULLIS_RETENTION_DAYS).
 *
 * @example
 * const services = lazyServices(() => openDynamoDbStoreFromEnv(process.env), logger);
 * export const handler = async (event) => handle(await services(), event);
 * // a function that syncs registries:
 * const admin = lazyServices(openStore, logger, process.env, { connectors: registryConnectors });
 */
export function lazyServices(
  openStore: (retentionDays: number) => Promise<Store>,
  logger: Logger,
  env: NodeJS.ProcessEnv = process.env,
  options: LazyServicesOptions = {},
): () => Promise<Services> {
  return perInstance(async () => {
    const config = parseServiceConfig(env);
    const store = await openStore(config.services.retentionDays);
    return createServices(store, {
      ...config.services,
      logger,
      ...(options.connectors === undefined ? {} : { connectors: options.connectors }),
    });
  });
}
