/** Lambda entry of the webhook function (function URL): DynamoDB store, Powertools logs, no registry connectors. */
import { lazyServices } from '../runtime.js';
import { createLambdaLogger } from './logger.js';
import { openLambdaStore } from './store.js';
import { createWebhookHandler } from './webhook-handler.js';

const logger = createLambdaLogger();

export const handler = createWebhookHandler({ services: lazyServices(openLambdaStore, logger), logger });
