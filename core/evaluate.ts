/**
 * The evaluator (DESIGN.md §3 steps 3–4): pure and synchronous. Given a workload's images
 * with their scans already looked up, and the compiled rules, it returns the decision as
 * data — it never throws to say no.
 */
import type {
  Action,
  AppliedExemption,
  Cluster,
  Decision,
  ImageResult,
  ImageScan,
  ImageScanState,
  TriggeredRule,
} from './domain.js';
import type { ImageRef } from './image-ref.js';
import { type DecisionText, describeDecision } from './messages.js';
import { ruleHits } from './rule-hits.js';
import {
  type CompiledRule,
  type CompiledRuleSet,
  findImageExemption,
  type ImageSubject,
  imageScopeMatches,
  type WorkloadSubject,
  workloadScopeMatches,
  workloadSubject,
} from './ruleset.js';
import type { ContainerImage, Workload } from './workload.js';

/** An image of the workload with what the store knows of it. */
export interface ResolvedImage {
  container: ContainerImage;
  /** Null when the reference cannot be parsed: treated as never scanned. */
  ref: ImageRef | null;
  /** The digest the reference names or its tag resolves to. */
  digest?: string;
  scan: ImageScan | null;
  /** False for images an UPDATE did not change: evaluated for the record only. */
  gated: boolean;
}

export interface EvaluationInput {
  workload: Workload;
  cluster: Cluster;
  images: readonly ResolvedImage[];
  ruleSet: CompiledRuleSet;
  now: Date;
}

export interface Evaluation extends DecisionText {
  decision: Decision;
  images: ImageResult[];
}

const DAY_MS = 86_400_000;

const ACTION_RANK = { Allow: 0, Audit: 1, Deny: 2 } as const;
type ImageAction = keyof typeof ACTION_RANK;

function stricter(a: ImageAction, b: ImageAction): ImageAction {
  return ACTION_RANK[b] > ACTION_RANK[a] ? b : a;
}

/** The scan state a rule sees: `Stale` when older than the rule's `maxScanAgeDays`. */
function scanStateFor(rule: CompiledRule, image: ResolvedImage, nowMs: number): ImageScanState {
  const scan = image.scan;
  if (scan === null) return 'NotFound';
  if (scan.status !== 'Scanned') return scan.status;
  const maxAge = rule.rule.maxScanAgeDays;
  if (maxAge !== undefined && nowMs - scannedAtMs(scan) > maxAge * DAY_MS) return 'Stale';
  return 'Scanned';
}

const scanTimes = new WeakMap<ImageScan, number>();

/** A scan's time in epoch ms, parsed once per scan object. */
function scannedAtMs(scan: ImageScan): number {
  let ms = scanTimes.get(scan);
  if (ms === undefined) {
    ms = Date.parse(scan.scannedAt);
    scanTimes.set(scan, ms);
  }
  return ms;
}

function effectiveAction(rule: CompiledRule, nowMs: number): Action {
  if (rule.action === 'Deny' && rule.enforceFromMs !== undefined && nowMs < rule.enforceFromMs)
    return 'Audit';
  return rule.action;
}

/** Applies one rule to one image, adding what it triggered, the exemptions used and notes. */
function applyRule(
  rule: CompiledRule,
  image: ResolvedImage,
  nowMs: number,
  out: { triggeredRules: TriggeredRule[]; exemptions: AppliedExemption[]; notes: string[] },
): void {
  const state = scanStateFor(rule, image, nowMs);
  const action = effectiveAction(rule, nowMs);
  const enforceFrom = action !== rule.action ? rule.rule.enforceFrom : undefined;
  // Plain object literals below: spreading a shared base costs microseconds per object.
  if (state !== 'Scanned') {
    if (rule.rule.applyToUnscannedImages) {
      out.triggeredRules.push({
        ruleId: rule.rule.id,
        ruleName: rule.rule.name,
        action,
        configuredAction: rule.action,
        enforceFrom,
        reason: 'Unscanned',
        scanState: state,
        vulnerabilities: [],
        vulnerabilityCount: 0,
      });
    } else {
      out.notes.push(`not gated by rule "${rule.rule.name}": no usable scan (${state})`);
    }
    return;
  }
  const hits = ruleHits(rule, image.scan!, nowMs);
  for (const e of hits.exemptions) out.exemptions.push(e);
  if (hits.count === 0) return;
  out.triggeredRules.push({
    ruleId: rule.rule.id,
    ruleName: rule.rule.name,
    action,
    configuredAction: rule.action,
    enforceFrom,
    reason: 'Vulnerabilities',
    vulnerabilities: hits.vulnerabilities,
    vulnerabilityCount: hits.count,
    counts: hits.counts,
  });
}

function evaluateImage(
  base: WorkloadSubject,
  rules: readonly CompiledRule[],
  image: ResolvedImage,
  nowMs: number,
): ImageResult {
  const { container, ref, scan } = image;
  const result: ImageResult = {
    container: container.container,
    containerType: container.type,
    image: container.image,
    reference: ref?.normalized ?? container.image,
    digest: image.digest,
    scanState: scan === null ? 'NotFound' : scan.status,
    scannedAt: scan?.scannedAt,
    counts: scan?.counts,
    gated: image.gated,
    action: 'Allow',
    triggeredRules: [],
    exemptions: [],
    notes: [],
  };
  if (ref === null) result.notes.push('image reference could not be parsed; treated as never scanned');
  const subject: ImageSubject = {
    workload: base.workload,
    cluster: base.cluster,
    clusterName: base.clusterName,
    namespace: base.namespace,
    podName: base.podName,
    deployment: base.deployment,
    podLabels: base.podLabels,
    labels: base.labels,
    reference: result.reference.toLowerCase(),
    registry: ref?.registry.toLowerCase() ?? '',
    repository: ref?.repository.toLowerCase() ?? '',
    digest: image.digest?.toLowerCase(),
  };
  for (const rule of rules) {
    if (!imageScopeMatches(rule, subject)) continue;
    const ex = findImageExemption(rule, subject, nowMs);
    if (ex !== undefined) {
      const e = ex.source;
      result.exemptions.push({
        ruleId: rule.rule.id,
        ruleName: rule.rule.name,
        exemptionId: e.id,
        type: e.type,
        value: e.value,
        expiresOn: e.expiresOn,
      });
      continue;
    }
    applyRule(rule, image, nowMs, result);
  }
  for (const t of result.triggeredRules) result.action = stricter(result.action, t.action);
  return result;
}

/**
 * Evaluates every image against every applicable rule. The image's action is the strictest
 * triggered action; the decision is the strictest over the gated images (Deny > Audit > Allow).
 */
export function evaluate(input: EvaluationInput): Evaluation {
  const nowMs = input.now.getTime();
  // Most of a scope is about the workload, the same for each of its containers: check it once.
  const subject = workloadSubject(input.workload, input.cluster);
  const rules = input.ruleSet.rules.filter((rule) => workloadScopeMatches(rule, subject));
  const images = input.images.map((image) => evaluateImage(subject, rules, image, nowMs));
  let worst: ImageAction = 'Allow';
  for (const image of images) if (image.gated) worst = stricter(worst, image.action);
  const decision: Decision = worst === 'Deny' ? 'Denied' : worst === 'Audit' ? 'Audited' : 'Allowed';
  const text = describeDecision(decision, input.workload, images);
  return {
    decision,
    images,
    message: text.message,
    warnings: text.warnings,
    auditAnnotations: text.auditAnnotations,
  };
}
