/**
 * Exposure: the workloads admitted within the retention window that the current rules and
 * findings would now deny or audit ("would be denied now"). Computed on request: the latest
 * admitted event of each workload is re-evaluated by the pure evaluator, with the images it was
 * admitted with, their newest scans and today's rules. Nothing is stored.
 */
import { z } from 'zod';
import type { AdmissionEvent, Cluster, Decision, ImageResult } from '../domain.js';
import { evaluate, type ResolvedImage } from '../evaluate.js';
import { type ImageRef, parseImageRef } from '../image-ref.js';
import type { AdmissionLog, Clock } from '../ports.js';
import { parseInput } from '../validation.js';
import type { Workload } from '../workload.js';
import type { ClusterService } from './clusters.js';
import type { RuleService } from './rules.js';
import type { ResolvedScan, ScanService } from './scans.js';

/** Query-string filters of `GET /exposure`. */
export const ExposureQuerySchema = z.strictObject({
  cluster: z.string().max(128).optional(),
  namespace: z.string().max(253).optional(),
  /** Only workloads that would now be Denied, or only those that would be Audited. */
  decision: z.enum(['Denied', 'Audited']).optional(),
});
export type ExposureQuery = z.infer<typeof ExposureQuerySchema>;

/** How the digest evaluated now was found. */
export type DigestSource = 'recorded' | 'resolvedNow' | 'none';

export interface ExposedImage extends ImageResult {
  /**
   * `recorded`: the digest resolved at admission (what runs); `resolvedNow`: the image was not
   * resolved then and its tag points to this digest now (a best guess of what runs); `none`.
   */
  digestSource: DigestSource;
}

export interface ExposedWorkload {
  clusterId: string;
  cluster: string;
  namespace: string;
  kind: string;
  name: string;
  deployment?: string;
  /** The latest admitted event of the workload. */
  eventId: string;
  uid: string;
  admittedAt: string;
  admittedDecision: Decision;
  /** What the webhook would answer now. */
  decision: 'Denied' | 'Audited';
  /** True when that is stricter than the decision it was admitted with. */
  stricterThanAdmitted: boolean;
  /** Names of the rules that would trigger, strictest first. */
  rules: string[];
  /** Ids of the vulnerabilities that would trigger them (as far as the evaluator lists them). */
  cves: string[];
  /** The message a developer would see now. */
  message: string;
  images: ExposedImage[];
  /** `missing` for events recorded before workload labels were kept: re-evaluated with none. */
  workloadFacts: 'recorded' | 'missing';
  notes: string[];
}

export interface ExposureReport {
  evaluatedAt: string;
  /** The admitted events looked at: from `from` on; `to` is when the report was made. */
  window: { from: string; to: string };
  rulesetVersion: string;
  /** Admission events read from the log. */
  scannedEvents: number;
  /** Distinct admitted workloads re-evaluated. */
  workloads: number;
  /** True when the log held more events than `maxEvents`: older workloads were not looked at. */
  truncated: boolean;
  maxEvents: number;
  items: ExposedWorkload[];
  notes: string[];
}

export interface ExposureOptions {
  retentionDays: number;
  /** At most this many admission events are read per request (default 20,000). */
  maxEvents?: number;
}

const DAY_MS = 86_400_000;
const PAGE = 500;
const RANK: Record<Decision, number> = { Allowed: 0, Audited: 1, Denied: 2 };
const ADMITTED: ReadonlySet<Decision> = new Set(['Allowed', 'Audited']);
/** Kinds a Deployment makes: shown as their Deployment when it is listed. */
const OWNED_BY_DEPLOYMENT = new Set(['ReplicaSet', 'Pod']);

function workloadKey(clusterId: string, namespace: string, kind: string, name: string): string {
  return `${clusterId}\u0000${namespace}\u0000${kind}\u0000${name}`;
}

/** The workload an event was admitted for, as the evaluator reads it. */
export function workloadOfEvent(event: AdmissionEvent): Workload {
  const facts = event.workload;
  const workload: Workload = {
    kind: event.kind,
    name: event.name,
    namespace: event.namespace,
    labels: facts?.labels ?? {},
    podLabels: facts?.podLabels ?? {},
    podName: facts?.podName ?? event.name,
    images: event.images.map((i) => ({ container: i.container, type: i.containerType, image: i.image })),
  };
  const deployment =
    facts === undefined ? (event.kind === 'Deployment' ? event.name : undefined) : facts.deployment;
  if (deployment !== undefined) workload.deployment = deployment;
  return workload;
}

/** A cluster no longer registered: its cloud scope is unknown. */
function unknownCluster(event: AdmissionEvent): Cluster {
  return {
    id: event.clusterId,
    name: event.cluster,
    provider: 'other',
    account: '',
    failurePolicy: 'Fail',
    timeoutSeconds: 5,
    createdAt: '',
    createdBy: '',
    tokenRotatedAt: '',
  };
}

export class ExposureService {
  private readonly maxEvents: number;

  constructor(
    private readonly log: AdmissionLog,
    private readonly rules: RuleService,
    private readonly scans: ScanService,
    private readonly clusters: ClusterService,
    private readonly clock: Clock,
    private readonly options: ExposureOptions,
  ) {
    this.maxEvents = options.maxEvents ?? 20_000;
  }

  /**
   * Re-evaluates the latest admitted (Allowed or Audited, not dry-run) event of every workload
   * in the retention window, newest events first, reading at most `maxEvents` events; answers the
   * workloads that would now be Denied or Audited.
   *
   * @example await services.exposure.report({ namespace: 'payments', decision: 'Denied' })
   */
  async report(params: unknown): Promise<ExposureReport> {
    const q = parseInput(ExposureQuerySchema, params, 'exposure query');
    const now = this.clock.now();
    const to = now.toISOString();
    const from = new Date(now.getTime() - this.options.retentionDays * DAY_MS).toISOString();
    const { latest, scannedEvents, truncated, oldest } = await this.latestAdmitted(q, from, to);

    const ruleSet = await this.rules.compiled();
    const clusters = new Map((await this.clusters.list()).map((c) => [c.id, c]));
    const resolved = new Map<string, Promise<ResolvedScan>>();
    const resolve = (ref: ImageRef): Promise<ResolvedScan> => {
      const key = ref.digest ?? ref.normalized;
      let found = resolved.get(key);
      if (found === undefined) {
        found = this.scans.resolve(ref);
        resolved.set(key, found);
      }
      return found;
    };

    const deployments = new Set<string>();
    for (const e of latest.values()) {
      if (e.kind === 'Deployment')
        deployments.add(workloadKey(e.clusterId, e.namespace, 'Deployment', e.name));
    }
    const items: ExposedWorkload[] = [];
    const missingClusters = new Set<string>();
    let collapsed = 0;
    for (const event of latest.values()) {
      const workload = workloadOfEvent(event);
      if (
        OWNED_BY_DEPLOYMENT.has(event.kind) &&
        workload.deployment !== undefined &&
        deployments.has(workloadKey(event.clusterId, event.namespace, 'Deployment', workload.deployment))
      ) {
        collapsed++;
        continue;
      }
      let cluster = clusters.get(event.clusterId);
      if (cluster === undefined) {
        missingClusters.add(event.cluster);
        cluster = unknownCluster(event);
      }
      const sources: DigestSource[] = [];
      const images = await Promise.all(
        workload.images.map(async (container, i): Promise<ResolvedImage> => {
          const recorded = event.images[i]?.digest;
          let ref: ImageRef;
          try {
            ref = parseImageRef(container.image);
          } catch {
            sources[i] = 'none';
            return { container, ref: null, scan: null, gated: true };
          }
          // The digest resolved at admission is what runs, whatever the tag points to now.
          const { digest, scan } = await resolve(recorded !== undefined ? { ...ref, digest: recorded } : ref);
          sources[i] = recorded !== undefined ? 'recorded' : digest !== undefined ? 'resolvedNow' : 'none';
          return { container, ref, digest, scan, gated: true };
        }),
      );
      const evaluation = evaluate({ workload, cluster, images, ruleSet, now });
      if (evaluation.decision === 'Allowed') continue;
      if (q.decision !== undefined && evaluation.decision !== q.decision) continue;
      items.push(toExposed(event, workload, evaluation, sources));
    }
    items.sort(
      (a, b) =>
        RANK[b.decision] - RANK[a.decision] ||
        Number(b.stricterThanAdmitted) - Number(a.stricterThanAdmitted) ||
        a.cluster.localeCompare(b.cluster) ||
        a.namespace.localeCompare(b.namespace) ||
        a.kind.localeCompare(b.kind) ||
        a.name.localeCompare(b.name),
    );

    const notes: string[] = ['Deletions are not sent to the webhook: a listed workload may no longer run.'];
    if (truncated) {
      notes.push(
        `Only the newest ${this.maxEvents} admission events were read (back to ${oldest}); workloads last admitted before then are not included. Narrow with cluster or namespace.`,
      );
    }
    if (collapsed > 0) {
      notes.push(`${collapsed} ReplicaSets and Pods are shown as the Deployment that made them.`);
    }
    for (const name of missingClusters) {
      notes.push(
        `Cluster ${name} is no longer registered: its cloud scope is unknown (evaluated as "other").`,
      );
    }
    const missingFacts = items.filter((i) => i.workloadFacts === 'missing').length;
    if (missingFacts > 0) {
      notes.push(
        `${missingFacts} workloads were admitted before their labels were recorded: label and pod scopes were evaluated without them.`,
      );
    }
    return {
      evaluatedAt: to,
      window: { from, to },
      rulesetVersion: ruleSet.version,
      scannedEvents,
      workloads: latest.size,
      truncated,
      maxEvents: this.maxEvents,
      items,
      notes,
    };
  }

  /** The newest admitted, non-dry-run event per workload, paging the log newest first. */
  private async latestAdmitted(
    q: ExposureQuery,
    from: string,
    to: string,
  ): Promise<{
    latest: Map<string, AdmissionEvent>;
    scannedEvents: number;
    truncated: boolean;
    oldest: string;
  }> {
    const latest = new Map<string, AdmissionEvent>();
    let scannedEvents = 0;
    let oldest = to;
    let cursor: string | undefined;
    for (;;) {
      const limit = Math.min(PAGE, this.maxEvents - scannedEvents);
      if (limit <= 0) return { latest, scannedEvents, truncated: cursor !== undefined, oldest };
      const page = await this.log.query({
        cluster: q.cluster,
        namespace: q.namespace,
        // No upper bound: an event recorded this millisecond, or by an instance whose clock is
        // a little ahead, is admitted all the same.
        from,
        limit,
        cursor,
      });
      scannedEvents += page.items.length;
      oldest = page.items.at(-1)?.time ?? oldest;
      for (const event of page.items) {
        if (event.dryRun || !ADMITTED.has(event.decision)) continue;
        const key = workloadKey(event.clusterId, event.namespace, event.kind, event.name);
        // Newest first: the first event seen of a workload is its latest.
        if (!latest.has(key)) latest.set(key, event);
      }
      if (page.nextCursor === null) return { latest, scannedEvents, truncated: false, oldest };
      cursor = page.nextCursor;
    }
  }
}

function toExposed(
  event: AdmissionEvent,
  workload: Workload,
  evaluation: ReturnType<typeof evaluate>,
  sources: readonly DigestSource[],
): ExposedWorkload {
  const decision = evaluation.decision as 'Denied' | 'Audited';
  const rules = new Map<string, number>();
  const cves = new Set<string>();
  const notes: string[] = [];
  const images = evaluation.images.map((image, i): ExposedImage => {
    for (const t of image.triggeredRules) {
      rules.set(t.ruleName, Math.max(rules.get(t.ruleName) ?? 0, t.action === 'Deny' ? 2 : 1));
      for (const v of t.vulnerabilities) cves.add(v.id);
    }
    const digestSource = sources[i] ?? 'none';
    if (digestSource === 'resolvedNow') {
      notes.push(
        `${image.reference} was not resolved when admitted; evaluated as ${image.digest}, the digest its tag names now.`,
      );
    }
    return { ...image, digestSource };
  });
  return {
    clusterId: event.clusterId,
    cluster: event.cluster,
    namespace: event.namespace,
    kind: event.kind,
    name: event.name,
    ...(workload.deployment !== undefined ? { deployment: workload.deployment } : {}),
    eventId: event.id,
    uid: event.uid,
    admittedAt: event.time,
    admittedDecision: event.decision,
    decision,
    stricterThanAdmitted: RANK[decision] > RANK[event.decision],
    rules: [...rules.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([name]) => name),
    cves: [...cves],
    message: evaluation.message,
    images,
    workloadFacts: event.workload === undefined ? 'missing' : 'recorded',
    notes,
  };
}
