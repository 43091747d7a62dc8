/** Lambda entry of the admin API function (function URL): DynamoDB store, registry connectors, Powertools logs. */
import { registryConnectors } from '../connectors.js';
import { lazyServices } from '../runtime.js';
import { createApiHandler } from './api-handler.js';
import { createLambdaLogger } from './logger.js';
import { openLambdaStore } from './store.js';

const logger = createLambdaLogger();
const services = lazyServices(openLambdaStore, logger, process.env, { connectors: registryConnectors });

export const handler = createApiHandler({ services, logger, env: process.env });
