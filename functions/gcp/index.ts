/**
 * Registers Portcullis' Cloud Functions (2nd gen) with functions-framework: `webhook`, `api`
 * and one function per scheduled job (`expireExemptions`, `monitoringUpkeep`, …). Each deployed
 * function runs one target; the apps load on demand, so the webhook never loads the admin API.
 */
import * as functions from '@google-cloud/functions-framework';
import { openFirestoreStoreFromEnv } from '../../adapters/store/firestore/index.js';
import { registryConnectors } from '../connectors.js';
import { JOB_NAMES } from '../jobs.js';
import { lazyServices } from '../runtime.js';
import {
  createHttpHandler,
  createJobHandler,
  frameworkExpressApplication,
  installJsonBodyErrors,
  jobFunctionName,
} from './handlers.js';
import { cloudLogger } from './logger.js';

const logger = cloudLogger();
const openStore = (retentionDays: number) => openFirestoreStoreFromEnv(process.env, { retentionDays });
// Each deployed function runs one target and builds only its own services, on its first call.
// The webhook's have no registry connectors; the api (on-demand sync) and the jobs
// (findings-sync) load them on their first sync.
const webhookServices = lazyServices(openStore, logger);
const services = lazyServices(openStore, logger, process.env, { connectors: registryConnectors });

// Bodies the framework cannot parse get the shared app's JSON 4xx, not Express's HTML page.
const express = frameworkExpressApplication();
if (express !== undefined) installJsonBodyErrors(express, logger);
else logger.warn("functions-framework's Express was not found; unparsable bodies get its default error page");

functions.http(
  'webhook',
  createHttpHandler(
    async () => (await import('./webhook-app.js')).createGcpWebhookApp(await webhookServices()),
    logger,
  ),
);
functions.http(
  'api',
  createHttpHandler(async () => (await import('./api-app.js')).createGcpApiApp(await services()), logger),
);
for (const job of JOB_NAMES) functions.http(jobFunctionName(job), createJobHandler(job, services, logger));
