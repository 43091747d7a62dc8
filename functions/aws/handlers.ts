/**
 * The Lambda handlers of Portcullis, as pure factories: the webhook and the admin API behind
 * Lambda function URLs (payload format 2.0, served through hono's `handle()` adapter), and one
 * EventBridge-scheduled handler per job. The entry files (webhook.ts, api.ts, jobs.ts) wire them
 * to DynamoDB and Powertools; tests wire them to DynamoDB Local.
 *
 * Entry files import the one module they need, not this one: a bundle built from here would
 * carry the admin API into the webhook function.
 */
export { type ApiConfig, type ApiHandlerDeps, createApiHandler, parseApiConfig } from './api-handler.js';
export { createJobHandler, type JobHandler, type ScheduledEvent } from './job-handler.js';
export type { FunctionUrlEvent, FunctionUrlHandler, FunctionUrlResult, HandlerDeps } from './shared.js';
export { createWebhookHandler } from './webhook-handler.js';
