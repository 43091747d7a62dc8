/**
 * The evaluator (DESIGN.md §3 steps 3–4): pure and synchronous. Given a workload's images
 * with their scans already looked up, and the compiled rules, it returns the decision as
 * data — it never throws to say no.
 */
import {
  type Action,
  type AppliedExemption,
  type Cluster,
  compareSeverity,
  countSeverities,
  type Decision,
  type ImageResult,
  type ImageScan,
  type ImageScanState,
  type TriggeredRule,
  type Vulnerability,
} from './domain.js';
import type { ImageRef } from './image-ref.js';
import { type DecisionText, describeDecision } from './messages.js';
import {
  type CompiledRule,
  type CompiledRuleSet,
  findCveExemption,
  findImageExemption,
  type ImageSubject,
  scopeMatches,
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

/** How many triggering vulnerabilities an event keeps per rule and image. */
const MAX_RECORDED_VULNS = 20;
const DAY_MS = 86_400_000;

const ACTION_RANK = { Allow: 0, Audit: 1, Deny: 2 } as const;
type ImageAction = keyof typeof ACTION_RANK;

function stricter(a: ImageAction, b: ImageAction): ImageAction {
  return ACTION_RANK[b] > ACTION_RANK[a] ? b : a;
}

/** The scan state a rule sees: `Stale` when older than the rule's `maxScanAgeDays`. */
function scanStateFor(rule: CompiledRule, scan: ImageScan | null, nowMs: number): ImageScanState {
  if (scan === null) return 'NotFound';
  if (scan.status !== 'Scanned') return scan.status;
  const maxAge = rule.rule.maxScanAgeDays;
  if (maxAge !== undefined && nowMs - Date.parse(scan.scannedAt) > maxAge * DAY_MS) return 'Stale';
  return 'Scanned';
}

function effectiveAction(rule: CompiledRule, nowMs: number): Action {
  if (rule.action === 'Deny' && rule.enforceFromMs !== undefined && nowMs < rule.enforceFromMs)
    return 'Audit';
  return rule.action;
}

/** A scan's active vulnerabilities indexed by severity and id, built once per scan object. */
interface ScanIndex {
  active: Vulnerability[];
  bySeverity: Map<string, Vulnerability[]>;
  byId: Map<string, Vulnerability[]>;
}

const indexes = new WeakMap<ImageScan, ScanIndex>();

function indexScan(scan: ImageScan): ScanIndex {
  let index = indexes.get(scan);
  if (index !== undefined) return index;
  index = { active: [], bySeverity: new Map(), byId: new Map() };
  for (const v of scan.vulnerabilities) {
    if (v.state !== undefined && v.state !== 'Active') continue;
    index.active.push(v);
    const id = v.id.toUpperCase();
    const sameSeverity = index.bySeverity.get(v.severity);
    if (sameSeverity === undefined) index.bySeverity.set(v.severity, [v]);
    else sameSeverity.push(v);
    const sameId = index.byId.get(id);
    if (sameId === undefined) index.byId.set(id, [v]);
    else sameId.push(v);
  }
  indexes.set(scan, index);
  return index;
}

/**
 * The vulnerabilities meeting any of the rule's conditions, found through the scan's index so
 * that a rule costs what it matches, not what the image carries.
 */
function candidates(rule: CompiledRule, index: ScanIndex): Vulnerability[] {
  const c = rule.rule.conditions;
  const found = new Set<Vulnerability>();
  for (const s of rule.severities) for (const v of index.bySeverity.get(s) ?? []) found.add(v);
  for (const id of rule.cves) for (const v of index.byId.get(id) ?? []) found.add(v);
  if (c.minCvss !== undefined) {
    for (const v of index.active) if (v.cvss !== undefined && v.cvss >= c.minCvss) found.add(v);
  }
  if (c.fixAvailableOnly !== true) return [...found];
  return [...found].filter((v) => v.fixAvailable === true);
}

/** Applies one rule to one image; returns what it triggered, exemptions used and notes. */
function applyRule(
  rule: CompiledRule,
  image: ResolvedImage,
  nowMs: number,
  out: { triggeredRules: TriggeredRule[]; exemptions: AppliedExemption[]; notes: string[] },
): void {
  const name = rule.rule.name;
  const state = scanStateFor(rule, image.scan, nowMs);
  const action = effectiveAction(rule, nowMs);
  const base = {
    ruleId: rule.rule.id,
    ruleName: name,
    action,
    configuredAction: rule.action,
    enforceFrom: action !== rule.action ? rule.rule.enforceFrom : undefined,
  };
  if (state !== 'Scanned') {
    if (rule.rule.applyToUnscannedImages) {
      out.triggeredRules.push({
        ...base,
        reason: 'Unscanned',
        scanState: state,
        vulnerabilities: [],
        vulnerabilityCount: 0,
      });
    } else {
      out.notes.push(`not gated by rule "${name}": no usable scan (${state})`);
    }
    return;
  }
  const hits: Vulnerability[] = [];
  const exempted = new Map<string, { exemption: AppliedExemption; cves: Set<string> }>();
  for (const v of candidates(rule, indexScan(image.scan!))) {
    const ex = findCveExemption(rule, v.id, nowMs);
    if (ex !== undefined) {
      const e = ex.source;
      let entry = exempted.get(e.id);
      if (entry === undefined) {
        entry = {
          exemption: {
            ruleId: rule.rule.id,
            ruleName: name,
            exemptionId: e.id,
            type: e.type,
            value: e.value,
            expiresOn: e.expiresOn,
          },
          cves: new Set(),
        };
        exempted.set(e.id, entry);
      }
      entry.cves.add(v.id);
      continue;
    }
    hits.push(v);
  }
  for (const { exemption, cves } of exempted.values()) out.exemptions.push({ ...exemption, cves: [...cves] });
  if (hits.length === 0) return;
  hits.sort((a, b) => compareSeverity(a.severity, b.severity) || a.id.localeCompare(b.id));
  const seen = new Set<string>();
  const listed: TriggeredRule['vulnerabilities'] = [];
  for (const v of hits) {
    if (seen.has(v.id) || listed.length >= MAX_RECORDED_VULNS) continue;
    seen.add(v.id);
    listed.push({ id: v.id, severity: v.severity, package: v.package });
  }
  const counts = countSeverities(hits);
  out.triggeredRules.push({
    ...base,
    reason: 'Vulnerabilities',
    vulnerabilities: listed,
    vulnerabilityCount: counts.Critical + counts.High + counts.Medium + counts.Low + counts.Negligible,
    counts,
  });
}

function evaluateImage(input: EvaluationInput, image: ResolvedImage, nowMs: number): ImageResult {
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
    workload: input.workload,
    cluster: input.cluster,
    reference: result.reference.toLowerCase(),
    registry: ref?.registry ?? '',
    repository: ref?.repository ?? '',
    digest: image.digest,
  };
  for (const rule of input.ruleSet.rules) {
    if (!scopeMatches(rule, subject)) continue;
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
  const images = input.images.map((image) => evaluateImage(input, image, nowMs));
  let worst: ImageAction = 'Allow';
  for (const image of images) if (image.gated) worst = stricter(worst, image.action);
  const decision: Decision = worst === 'Deny' ? 'Denied' : worst === 'Audit' ? 'Audited' : 'Allowed';
  return { decision, images, ...describeDecision(decision, input.workload, images) };
}
