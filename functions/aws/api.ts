/** Lambda entry of the admin API function (function URL): DynamoDB store, registry connectors, Powertools logs. */
import { createConnector } from '../../adapters/registry/connectors.js';
import { createApiHandler } from './api-handler.js';
import { createLambdaLogger } from './logger.js';
import { dynamoDbServices } from './services.js';

const logger = createLambdaLogger();
const services = dynamoDbServices(logger, { connectors: createConnector });

export const handler = createApiHandler({ services, logger, env: process.env });
