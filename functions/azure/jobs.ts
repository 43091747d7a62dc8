/** Registers one timer function per scheduled job (DESIGN.md §5), on its NCRONTAB schedule. */
import azure from '@azure/functions';
import { JOB_NAMES } from '../jobs.js';
import { createTimerHandler, JOB_SCHEDULES } from './handlers.js';
import { services } from './instance.js';

for (const job of JOB_NAMES) {
  azure.app.timer(job, { schedule: JOB_SCHEDULES[job], handler: createTimerHandler(job, services) });
}
