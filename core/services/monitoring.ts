/** Admission Monitoring: querying recorded decisions, summaries and retention. */
import { z } from 'zod';
import { type AdmissionEvent, DecisionSchema } from '../domain.js';
import { ValidationError } from '../errors.js';
import type {
  AdmissionLog,
  AdmissionQuery,
  Clock,
  Logger,
  Page,
  SummaryBucket,
  SummaryQuery,
} from '../ports.js';
import { parseInput } from '../validation.js';

const IsoTime = z.iso.datetime({ offset: true });

/** Query-string filters of `GET /admissions`. */
export const AdmissionQuerySchema = z.strictObject({
  uid: z.string().max(128).optional(),
  cluster: z.string().max(128).optional(),
  namespace: z.string().max(253).optional(),
  decision: DecisionSchema.optional(),
  image: z.string().max(1024).optional(),
  rule: z.string().max(256).optional(),
  from: IsoTime.optional(),
  to: IsoTime.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(2048).optional(),
});

export const SummaryQuerySchema = z.strictObject({
  from: IsoTime.optional(),
  to: IsoTime.optional(),
  bucket: z.enum(['hour', 'day']).default('hour'),
  cluster: z.string().max(128).optional(),
  namespace: z.string().max(253).optional(),
});

export interface Summary {
  from: string;
  to: string;
  bucket: 'hour' | 'day';
  totals: { Allowed: number; Audited: number; Denied: number };
  buckets: SummaryBucket[];
}

export class MonitoringService {
  constructor(
    private readonly log: AdmissionLog,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly retentionDays: number,
  ) {}

  async query(params: unknown): Promise<Page<AdmissionEvent>> {
    const q: AdmissionQuery = parseInput(AdmissionQuerySchema, params, 'admissions query');
    if (q.from !== undefined && q.to !== undefined && Date.parse(q.from) >= Date.parse(q.to)) {
      throw new ValidationError('from must be before to');
    }
    return this.log.query(q);
  }

  /** Counts by decision per bucket; defaults to the last 24 hours. */
  async summary(params: unknown): Promise<Summary> {
    const q = parseInput(SummaryQuerySchema, params, 'summary query');
    const to = q.to ?? this.clock.now().toISOString();
    const from = q.from ?? new Date(Date.parse(to) - 86_400_000).toISOString();
    if (Date.parse(from) >= Date.parse(to)) throw new ValidationError('from must be before to');
    const query: SummaryQuery = { from, to, bucket: q.bucket, cluster: q.cluster, namespace: q.namespace };
    const buckets = await this.log.summary(query);
    const totals = { Allowed: 0, Audited: 0, Denied: 0 };
    for (const b of buckets) {
      totals.Allowed += b.Allowed;
      totals.Audited += b.Audited;
      totals.Denied += b.Denied;
    }
    return { from, to, bucket: q.bucket, totals, buckets };
  }

  /** Deletes events past the retention period (hourly job, for stores without TTL). */
  async purgeExpired(): Promise<number> {
    const before = new Date(this.clock.now().getTime() - this.retentionDays * 86_400_000).toISOString();
    const purged = await this.log.purgeBefore(before);
    if (purged > 0) this.logger.info('admission events purged', { purged, before });
    return purged;
  }
}
