/**
 * The webhook's work (DESIGN.md §3): AdmissionReview in, decision out, recorded for monitoring.
 * Store reads run under a deadline; when the store is slow or down, the configured fail mode
 * answers instead of a hang.
 */
import {
  type AdmissionRequest,
  type AdmissionResponse,
  type AdmissionReviewResponse,
  fromAdmissionReview,
  isGatedOperation,
  toAdmissionResponse,
} from '../admission.js';
import type { AdmissionEvent, Cluster } from '../domain.js';
import { DeadlineExceededError, PortcullisError, UnavailableError, ValidationError } from '../errors.js';
import { type Evaluation, evaluate, type ResolvedImage } from '../evaluate.js';
import { parseImageRef } from '../image-ref.js';
import type { AdmissionLog, Clock, Logger } from '../ports.js';
import { newId } from '../secrets.js';
import { changedImages, imageKey, type Workload, workloadFromObject } from '../workload.js';
import type { RuleService } from './rules.js';
import type { ScanService } from './scans.js';

/**
 * What to answer when the store cannot: `error` fails the call (HTTP 503) so the cluster's
 * `failurePolicy` decides; `open` allows with a warning; `closed` denies with a message.
 */
export type FailMode = 'error' | 'open' | 'closed';

export interface AdmissionOptions {
  /** Budget for the store reads of one review. */
  deadlineMs: number;
  failMode: FailMode;
}

export interface ReviewOutcome {
  review: AdmissionReviewResponse;
  /** Absent when the request was not gated (DELETE, a non-workload kind). */
  event?: AdmissionEvent;
}

export interface WhatIfResult extends Evaluation {
  rulesetVersion: string;
  kind: string;
  name: string;
  namespace: string;
}

/** Runs `work` with a deadline; rejects with DeadlineExceededError when it is not done in time. */
export async function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineExceededError(`${what} took longer than ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export class AdmissionService {
  constructor(
    private readonly rules: RuleService,
    private readonly scans: ScanService,
    private readonly log: AdmissionLog,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly options: AdmissionOptions,
  ) {}

  /**
   * Answers one AdmissionReview for a cluster. Throws ValidationError for a malformed body
   * and UnavailableError when the store fails and the fail mode is `error`.
   */
  async review(cluster: Cluster, body: unknown): Promise<ReviewOutcome> {
    const started = performance.now();
    const request = fromAdmissionReview(body);
    const allow = (): ReviewOutcome => ({ review: toAdmissionResponse({ uid: request.uid, allowed: true }) });
    if (!isGatedOperation(request)) return allow();
    const workload = workloadOf(request);
    if (workload === null) return allow();
    let result: { evaluation: Evaluation; rulesetVersion: string };
    try {
      result = await this.evaluateWorkload(cluster, workload, request);
    } catch (error) {
      return { review: this.failed(request, error) };
    }
    const { evaluation, rulesetVersion } = result;
    const response: AdmissionResponse = {
      uid: request.uid,
      allowed: evaluation.decision !== 'Denied',
      warnings: evaluation.warnings,
      auditAnnotations: evaluation.auditAnnotations,
    };
    if (evaluation.decision === 'Denied') {
      response.status = { code: 403, reason: 'Forbidden', message: evaluation.message };
    }
    const event: AdmissionEvent = {
      id: newId(),
      uid: request.uid,
      time: this.clock.now().toISOString(),
      clusterId: cluster.id,
      cluster: cluster.name,
      namespace: workload.namespace,
      kind: workload.kind,
      name: workload.name,
      operation: request.operation,
      user: request.userInfo?.username ?? '',
      dryRun: request.dryRun === true,
      decision: evaluation.decision,
      message: evaluation.message,
      warnings: evaluation.warnings,
      images: evaluation.images,
      rulesetVersion,
      latencyMs: Math.round((performance.now() - started) * 1000) / 1000,
      workload: {
        labels: workload.labels,
        podLabels: workload.podLabels,
        podName: workload.podName,
        ...(workload.deployment !== undefined ? { deployment: workload.deployment } : {}),
      },
    };
    // dryRun requests have no side effects (the webhook is registered NoneOnDryRun).
    if (!event.dryRun) {
      // The whole review, recording included, stays within the deadline: a slow store must
      // not hold up the answer. A write still running then may yet land; the log says which.
      const left = Math.max(1, this.options.deadlineMs - (performance.now() - started));
      try {
        await withDeadline(this.log.record(event), left, 'recording the admission event');
      } catch (error) {
        // The decision stands; losing a record must not block a deploy.
        this.logger.error('admission event not recorded', {
          uid: request.uid,
          eventId: event.id,
          error: String(error),
          ...(error instanceof DeadlineExceededError ? { stillWriting: true } : {}),
        });
      }
    }
    return { review: toAdmissionResponse(response), event };
  }

  /**
   * What-if: evaluates an AdmissionReview or a bare Kubernetes object for a cluster without
   * recording anything (`POST /evaluate`, `portcullis evaluate`).
   */
  async whatIf(cluster: Cluster, input: unknown): Promise<WhatIfResult> {
    const request = isReview(input) ? fromAdmissionReview(input) : requestForObject(input);
    const workload = workloadOf(request);
    if (workload === null) {
      const kind = request.kind.kind;
      throw new ValidationError(
        `${kind} ${request.name ?? ''} has no pod template: Portcullis does not gate it`,
      );
    }
    const { evaluation, rulesetVersion } = await this.evaluateWorkload(cluster, workload, request);
    return {
      ...evaluation,
      rulesetVersion,
      kind: workload.kind,
      name: workload.name,
      namespace: workload.namespace,
    };
  }

  private async evaluateWorkload(
    cluster: Cluster,
    workload: Workload,
    request: AdmissionRequest,
  ): Promise<{ evaluation: Evaluation; rulesetVersion: string }> {
    const old = request.operation === 'UPDATE' ? workloadOf({ ...request, object: request.oldObject }) : null;
    const changed = changedImages(workload, old);
    const lookups = async () => {
      const ruleSet = await this.rules.compiled();
      const images = await Promise.all(
        workload.images.map(async (container): Promise<ResolvedImage> => {
          const gated = changed.has(imageKey(container));
          let ref: ResolvedImage['ref'];
          try {
            ref = parseImageRef(container.image);
          } catch {
            return { container, ref: null, scan: null, gated };
          }
          const { digest, scan } = await this.scans.resolve(ref);
          return { container, ref, digest, scan, gated };
        }),
      );
      return { ruleSet, images };
    };
    const { ruleSet, images } = await withDeadline(
      lookups(),
      this.options.deadlineMs,
      'reading rules and scans',
    );
    const evaluation = evaluate({ workload, cluster, images, ruleSet, now: this.clock.now() });
    return { evaluation, rulesetVersion: ruleSet.version };
  }

  /** The answer when the store could not be read in time, per the fail mode. */
  private failed(request: AdmissionRequest, error: unknown): AdmissionReviewResponse {
    if (!(error instanceof DeadlineExceededError || error instanceof UnavailableError)) {
      if (error instanceof PortcullisError) throw error;
      this.logger.error('admission evaluation failed', { uid: request.uid, error: String(error) });
    }
    const reason = error instanceof Error ? error.message : String(error);
    this.logger.warn('scan results unavailable; applying fail mode', {
      uid: request.uid,
      mode: this.options.failMode,
      reason,
    });
    const what = `Portcullis could not read scan results (${reason})`;
    switch (this.options.failMode) {
      case 'open':
        return toAdmissionResponse({
          uid: request.uid,
          allowed: true,
          warnings: [`${what}; allowed by the fail-open policy`.slice(0, 120)],
          auditAnnotations: { decision: 'FailedOpen' },
        });
      case 'closed':
        return toAdmissionResponse({
          uid: request.uid,
          allowed: false,
          status: {
            code: 503,
            reason: 'ServiceUnavailable',
            message: `${what}; denied by the fail-closed policy. Retry shortly.`,
          },
        });
      default:
        throw new UnavailableError(`${what}; the cluster's failurePolicy applies`, { cause: error });
    }
  }
}

function workloadOf(request: AdmissionRequest): Workload | null {
  return workloadFromObject(request.object, {
    kind: request.kind.kind,
    name: request.name,
    namespace: request.namespace,
  });
}

function isReview(input: unknown): boolean {
  return (
    typeof input === 'object' && input !== null && (input as { kind?: unknown }).kind === 'AdmissionReview'
  );
}

/** Wraps a bare object (from a manifest) as the CREATE request the API server would send. */
function requestForObject(object: unknown): AdmissionRequest {
  if (typeof object !== 'object' || object === null || Array.isArray(object)) {
    throw new ValidationError('expected a Kubernetes object or an AdmissionReview');
  }
  const o = object as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
  if (typeof o.kind !== 'string' || o.kind === '') throw new ValidationError('the object has no kind');
  const name = typeof o.metadata?.name === 'string' ? o.metadata.name : undefined;
  const namespace = typeof o.metadata?.namespace === 'string' ? o.metadata.namespace : 'default';
  return {
    uid: 'what-if',
    kind: { group: '', version: '', kind: o.kind },
    name,
    namespace,
    operation: 'CREATE',
    object,
    dryRun: true,
  };
}
