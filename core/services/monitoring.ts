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

/** Query-string filters of `GET /admissions/top`. */
export const TopQuerySchema = z.strictObject({
  from: IsoTime.optional(),
  to: IsoTime.optional(),
  cluster: z.string().max(128).optional(),
  namespace: z.string().max(253).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(10),
});

export interface TopEntry {
  name: string;
  /** Denied admission events it took part in. */
  count: number;
}

/** The images, rules and vulnerabilities behind the most denials in a window. */
export interface TopDenied {
  from: string;
  to: string;
  /** Denied events read; at most `maxEvents`. */
  scannedEvents: number;
  /** True when the window held more denied events than were read (the newest were). */
  truncated: boolean;
  maxEvents: number;
  images: TopEntry[];
  rules: TopEntry[];
  cves: TopEntry[];
}

/** At most this many denied events are tallied per `topDenied` call. */
const TOP_MAX_EVENTS = 5000;

function top(counts: Map<string, number>, limit: number): TopEntry[] {
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, limit)
    .map(([name, count]) => ({ name, count }));
}

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

  /**
   * Tallies the denied images, the Deny rules that denied them and the vulnerabilities that
   * triggered those rules, over the newest denied events of a window (default: the last 24 hours).
   * Each counts the events it took part in.
   */
  async topDenied(params: unknown): Promise<TopDenied> {
    const q = parseInput(TopQuerySchema, params, 'top query');
    const to = q.to ?? this.clock.now().toISOString();
    const from = q.from ?? new Date(Date.parse(to) - 86_400_000).toISOString();
    if (Date.parse(from) >= Date.parse(to)) throw new ValidationError('from must be before to');
    const images = new Map<string, number>();
    const rules = new Map<string, number>();
    const cves = new Map<string, number>();
    const bump = (m: Map<string, number>, keys: Set<string>) => {
      for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1);
    };
    let scannedEvents = 0;
    let cursor: string | undefined;
    let truncated = false;
    do {
      const limit = Math.min(500, TOP_MAX_EVENTS - scannedEvents);
      if (limit <= 0) {
        truncated = true;
        break;
      }
      const page = await this.log.query({
        decision: 'Denied',
        cluster: q.cluster,
        namespace: q.namespace,
        from,
        to,
        limit,
        cursor,
      });
      scannedEvents += page.items.length;
      for (const event of page.items) {
        const eventImages = new Set<string>();
        const eventRules = new Set<string>();
        const eventCves = new Set<string>();
        for (const image of event.images) {
          if (image.action !== 'Deny' || !image.gated) continue;
          eventImages.add(image.reference);
          for (const rule of image.triggeredRules) {
            if (rule.action !== 'Deny') continue;
            eventRules.add(rule.ruleName);
            for (const v of rule.vulnerabilities) eventCves.add(v.id);
          }
        }
        bump(images, eventImages);
        bump(rules, eventRules);
        bump(cves, eventCves);
      }
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
    return {
      from,
      to,
      scannedEvents,
      truncated,
      maxEvents: TOP_MAX_EVENTS,
      images: top(images, q.limit),
      rules: top(rules, q.limit),
      cves: top(cves, q.limit),
    };
  }

  /** Deletes events past the retention period (hourly job, for stores without TTL). */
  async purgeExpired(): Promise<number> {
    const before = new Date(this.clock.now().getTime() - this.retentionDays * 86_400_000).toISOString();
    const purged = await this.log.purgeBefore(before);
    if (purged > 0) this.logger.info('admission events purged', { purged, before });
    return purged;
  }
}
