/**
 * The one set of services of this function app instance, over Cosmos DB, shared by the webhook,
 * the admin API and the timers (one cache per instance, so each sees the writes of the others at
 * once). Nothing is opened until the first invocation needs it. The registry connectors serve
 * the api's on-demand sync and the findings-sync timer; they are imported on the first sync, so
 * an instance that only answers the webhook never loads them.
 */
import { registryConnectors } from '../connectors.js';
import { lazyServices } from '../runtime.js';
import { invocationLogger } from './logging.js';
import { openAzureStore } from './store.js';

export const services = lazyServices(
  (retentionDays) => openAzureStore(process.env, retentionDays),
  invocationLogger,
  process.env,
  { connectors: registryConnectors },
);
