/**
 * Admission Monitoring routes beyond the event log (mounted on the authenticated /api/v1 app):
 * exposure of admitted workloads under today's rules, exemptions across rules with their
 * expiry, and the denials tallied for the dashboard. All are reads: SecurityReader may call them.
 */
import type { Context, Env, Hono } from 'hono';
import { z } from 'zod';
import { ActionSchema, DecisionSchema, ExemptionSchema, ImageResultSchema } from '../core/domain.js';
import type { Services } from '../core/services/index.js';

/**
 * Adds `GET /exposure`, `GET /exemptions` and `GET /admissions/top` to the admin API app
 * (the one carrying the bearer-key middleware).
 *
 * @example mountMonitoringApi(api, services) // inside mountAdminApi, before app.route('/api/v1', api)
 */
export function mountMonitoringApi<E extends Env>(api: Hono<E>, services: Services): void {
  const query = (c: Context<E>) => c.req.query();
  api.get('/exposure', async (c) => c.json(await services.exposure.report(query(c))));
  api.get('/exemptions', async (c) => c.json(await services.exemptions.list(query(c))));
  api.get('/admissions/top', async (c) => c.json(await services.monitoring.topDenied(query(c))));
}

const ExposedWorkloadSchema = z.object({
  clusterId: z.string(),
  cluster: z.string(),
  namespace: z.string(),
  kind: z.string(),
  name: z.string(),
  deployment: z.string().optional(),
  eventId: z.string(),
  uid: z.string(),
  admittedAt: z.string(),
  admittedDecision: DecisionSchema,
  decision: z.enum(['Denied', 'Audited']).describe('What the webhook would answer now'),
  stricterThanAdmitted: z.boolean(),
  rules: z.array(z.string()),
  cves: z.array(z.string()),
  message: z.string(),
  images: z.array(ImageResultSchema.extend({ digestSource: z.enum(['recorded', 'resolvedNow', 'none']) })),
  workloadFacts: z.enum(['recorded', 'missing']),
  notes: z.array(z.string()),
});

/** The answer of `GET /exposure` (for the OpenAPI document). */
export const ExposureReportSchema = z.object({
  evaluatedAt: z.string(),
  window: z.object({ from: z.string(), to: z.string() }),
  rulesetVersion: z.string(),
  scannedEvents: z.number().int(),
  workloads: z.number().int(),
  truncated: z.boolean().describe('More events than maxEvents: older workloads were not looked at'),
  maxEvents: z.number().int(),
  items: z.array(ExposedWorkloadSchema),
  notes: z.array(z.string()),
});

/** The answer of `GET /exemptions`. */
export const ExemptionListSchema = z.object({
  asOf: z.string().describe('Today, UTC'),
  expiringWithinDays: z.number().int().optional(),
  items: z.array(
    ExemptionSchema.extend({
      ruleId: z.string(),
      ruleName: z.string(),
      ruleAction: ActionSchema,
      ruleEnabled: z.boolean(),
      expired: z.boolean(),
      expiresInDays: z.number().int().optional().describe('0 = ends today; negative = passed'),
    }),
  ),
});

const TopEntrySchema = z.object({ name: z.string(), count: z.number().int() });

/** The answer of `GET /admissions/top`. */
export const TopDeniedSchema = z.object({
  from: z.string(),
  to: z.string(),
  scannedEvents: z.number().int(),
  truncated: z.boolean(),
  maxEvents: z.number().int(),
  images: z.array(TopEntrySchema),
  rules: z.array(TopEntrySchema),
  cves: z.array(TopEntrySchema),
});
