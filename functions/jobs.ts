/**
 * The scheduled jobs (DESIGN.md §5), one function each, shared by the local emulator's timers
 * and each cloud's scheduled functions.
 */
import type { Services } from '../core/services/index.js';

export const JOB_NAMES = ['expire-exemptions', 'monitoring-upkeep', 'findings-sync'] as const;
export type JobName = (typeof JOB_NAMES)[number];

export interface JobResult {
  job: JobName;
  startedAt: string;
  durationMs: number;
  /** What the job did, e.g. `{ expired: 2 }`. */
  result: Record<string, number>;
}

const JOBS: Record<JobName, (services: Services) => Promise<Record<string, number>>> = {
  'expire-exemptions': async (s) => ({ expired: await s.rules.expireExemptions() }),
  'monitoring-upkeep': async (s) => ({ purged: await s.monitoring.purgeExpired() }),
  // Each registry's failure is on its run's record; the job itself fails only if the store does.
  'findings-sync': async (s) => {
    const { runs, skipped } = await s.sync.syncAll();
    const count = (status: string) => runs.filter((r) => r.status === status).length;
    return {
      registries: runs.length + skipped.length,
      succeeded: count('succeeded'),
      failed: count('failed'),
      skipped: skipped.length,
      images: runs.reduce((n, r) => n + r.images, 0),
      vulnerabilities: runs.reduce((n, r) => n + r.vulnerabilities, 0),
    };
  },
};

/** Runs one job and logs what it did; errors propagate so the platform records a failed run. */
export async function runJob(job: JobName, services: Services): Promise<JobResult> {
  const startedAt = services.clock.now().toISOString();
  const started = performance.now();
  const result = await JOBS[job](services);
  const durationMs = Math.round(performance.now() - started);
  services.logger.info('job finished', { job, durationMs, ...result });
  return { job, startedAt, durationMs, result };
}
