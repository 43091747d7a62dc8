/**
 * The services of a Portcullis function over the DynamoDB store, built once per instance. The
 * functions that sync registries (api, findings-sync) also get the registry connectors; the
 * webhook gets none, so its bundle carries no connector code or registry SDK.
 */
import { openDynamoDbStoreFromEnv } from '../../adapters/store/dynamodb/index.js';
import type { Logger } from '../../core/ports.js';
import { createServices, type Services } from '../../core/services/index.js';
import type { ConnectorFactory } from '../../core/sync.js';
import { parseServiceConfig } from '../config.js';
import { perInstance } from '../runtime.js';

/**
 * `lazyServices` (functions/runtime.ts) over `openDynamoDbStoreFromEnv`, plus `connectors`.
 *
 * @example
 * const services = dynamoDbServices(logger, { connectors: createConnector });
 */
export function dynamoDbServices(
  logger: Logger,
  options: { connectors?: ConnectorFactory } = {},
  env: NodeJS.ProcessEnv = process.env,
): () => Promise<Services> {
  return perInstance(async () => {
    const config = parseServiceConfig(env);
    const store = await openDynamoDbStoreFromEnv(env, { retentionDays: config.services.retentionDays });
    return createServices(store, { ...config.services, logger, ...options });
  });
}
