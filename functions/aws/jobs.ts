/**
 * Lambda entries of the scheduled jobs (EventBridge schedules in serverless.yml), one export per
 * job of JOB_NAMES: a new job is one line here and one function (with its role) in serverless.yml.
 */
import { createConnector } from '../../adapters/registry/connectors.js';
import type { JobName } from '../jobs.js';
import { createJobHandler } from './job-handler.js';
import { createLambdaLogger } from './logger.js';
import { dynamoDbServices } from './services.js';

const logger = createLambdaLogger();
const services = dynamoDbServices(logger, { connectors: createConnector });
const job = (name: JobName) => createJobHandler(name, { services, logger });

export const expireExemptions = job('expire-exemptions');
export const monitoringUpkeep = job('monitoring-upkeep');
export const findingsSync = job('findings-sync');
