/**
 * Lambda entries of the scheduled jobs (EventBridge schedules in serverless.yml), one export per
 * job of JOB_NAMES: a new job is one line here and one function (with its role) in serverless.yml.
 */
import { registryConnectors } from '../connectors.js';
import type { JobName } from '../jobs.js';
import { lazyServices } from '../runtime.js';
import { createJobHandler } from './job-handler.js';
import { createLambdaLogger } from './logger.js';
import { openLambdaStore } from './store.js';

const logger = createLambdaLogger();
// Every job function has the connectors; only findings-sync ever loads them.
const services = lazyServices(openLambdaStore, logger, process.env, { connectors: registryConnectors });
const job = (name: JobName) => createJobHandler(name, { services, logger });

export const expireExemptions = job('expire-exemptions');
export const monitoringUpkeep = job('monitoring-upkeep');
export const findingsSync = job('findings-sync');
