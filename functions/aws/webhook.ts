/** Lambda entry of the webhook function (function URL): DynamoDB store, Powertools logs. */
import { createLambdaLogger } from './logger.js';
import { dynamoDbServices } from './services.js';
import { createWebhookHandler } from './webhook-handler.js';

const logger = createLambdaLogger();

export const handler = createWebhookHandler({ services: dynamoDbServices(logger), logger });
