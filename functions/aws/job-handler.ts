/** The scheduled functions' handler: one job of JOB_NAMES per function, run by an EventBridge schedule. */
import { type JobName, type JobResult, runJob } from '../jobs.js';
import type { HandlerDeps, LambdaContext } from './shared.js';

/** The event an EventBridge schedule delivers (detail-type "Scheduled Event", source "aws.events"). */
export interface ScheduledEvent {
  version?: string;
  id?: string;
  'detail-type'?: string;
  source?: string;
  account?: string;
  time?: string;
  region?: string;
  resources?: string[];
  detail?: unknown;
}

export type JobHandler = (event: ScheduledEvent, context?: LambdaContext) => Promise<JobResult>;

/**
 * Runs `job` on each event. Any event will do (a schedule, or a manual `aws lambda invoke`); a
 * failed run throws, so that Lambda records the failure and EventBridge retries it.
 *
 * @example
 * export const expireExemptions = createJobHandler('expire-exemptions', { services, logger });
 */
export function createJobHandler(job: JobName, deps: HandlerDeps): JobHandler {
  return async (event, context) => {
    if (context !== undefined) deps.logger.setContext(context);
    deps.logger.info('job started', { job, scheduledAt: event?.time, eventId: event?.id });
    try {
      return await runJob(job, await deps.services());
    } catch (error) {
      deps.logger.error('job failed', { job, error: error instanceof Error ? error.stack : String(error) });
      throw error;
    }
  };
}
