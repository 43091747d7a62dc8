/**
 * The one set of services of this function app instance, over Cosmos DB, shared by the webhook,
 * the admin API and the timers. Nothing is opened until the first invocation needs it.
 */
import { lazyServices } from '../runtime.js';
import { invocationLogger } from './logging.js';
import { openAzureStore } from './store.js';

export const services = lazyServices(
  (retentionDays) => openAzureStore(process.env, retentionDays),
  invocationLogger,
);
