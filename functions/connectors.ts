/**
 * The registry connectors of the functions that sync registries: the admin API (on-demand
 * `POST /registries/{ref}:sync`) and the findings-sync job, in every cloud. The connector code
 * and the cloud SDKs it drives are imported on a registry's first sync, not when the function
 * starts: Azure runs the webhook in the same app, and Google deploys every function from one
 * source, so neither webhook loads any of it.
 */
import type { ConnectorFactory, RegistryConnector } from '../core/sync.js';
import { perInstance } from './runtime.js';

/**
 * A ConnectorFactory whose real factory is loaded on the first sync. Settings are checked when
 * the run starts, as with the real factory (SyncService builds each connector inside its run,
 * so a bad one fails that run, on the record).
 *
 * @example
 * const connectors = onDemandConnectors(async () => (await import('./my-connectors.js')).factory);
 */
export function onDemandConnectors(load: () => Promise<ConnectorFactory>): ConnectorFactory {
  const factory = perInstance(load);
  return (config): RegistryConnector => ({
    async *sync(context) {
      const connector = (await factory())(config);
      return yield* connector.sync(context);
    },
  });
}

/** `createConnector` (adapters/registry/connectors.ts): each cloud's standard credentials. */
export const registryConnectors: ConnectorFactory = onDemandConnectors(
  async () => (await import('../adapters/registry/connectors.js')).createConnector,
);
