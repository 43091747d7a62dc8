/**
 * Rules compiled for evaluation: lower-cased match values, parsed label selectors and
 * CVE sets, built once per rule-set version so that each admission does only lookups.
 */
import type { Action, Cluster, Exemption, ExemptionMatch, Match, Rule, RuleSeverity } from './domain.js';
import { parseImageRef } from './image-ref.js';
import {
  type LabelSelector,
  type LoweredLabels,
  lowerLabels,
  lowerSelector,
  matchesLowered,
  parseLabelSelector,
} from './label-selector.js';
import type { Workload } from './workload.js';

interface CompiledResource {
  type: Rule['scope']['resources'][number]['type'];
  match: Match;
  value: string;
  selector?: LabelSelector;
}

export interface CompiledExemption {
  source: Exemption;
  match: ExemptionMatch;
  value: string;
  /** Epoch ms after which it no longer holds (end of `expiresOn`, UTC); Infinity without expiry. */
  endsAt: number;
}

export interface CompiledRule {
  rule: Rule;
  action: Action;
  /** Epoch ms from which a Deny rule denies; before it, it audits. */
  enforceFromMs?: number;
  severities: ReadonlySet<RuleSeverity>;
  cves: ReadonlySet<string>;
  /** Scopes on the workload (cluster, namespace, pod, deployment, labels): checked once per request. */
  workloadResources: CompiledResource[];
  /** Scopes on the image reference: checked per image. */
  imageResources: CompiledResource[];
  cveExemptions: CompiledExemption[];
  imageExemptions: CompiledExemption[];
}

export interface CompiledRuleSet {
  /** Changes whenever any rule changes; recorded with each decision. */
  version: string;
  rules: CompiledRule[];
}

const DAY_MS = 86_400_000;

/** Start of a `YYYY-MM-DD` day, UTC, in epoch ms. */
export function startOfDayUtc(date: string): number {
  return Date.parse(`${date}T00:00:00Z`);
}

/** True while an exemption holds: through the end of its `expiresOn` day, UTC. */
export function exemptionActive(e: Pick<Exemption, 'expiresOn' | 'expired'>, now: Date): boolean {
  if (e.expiresOn === undefined) return e.expired !== true;
  return now.getTime() < startOfDayUtc(e.expiresOn) + DAY_MS;
}

function compileExemption(e: Exemption): CompiledExemption {
  return {
    source: e,
    match: e.match,
    value: e.value.toLowerCase(),
    endsAt: e.expiresOn === undefined ? Number.POSITIVE_INFINITY : startOfDayUtc(e.expiresOn) + DAY_MS,
  };
}

function compileImageValue(match: Match, value: string): string {
  // `Equals nginx:1.25` should mean the image as a runtime would pull it.
  if (match === 'Equals' || match === 'NotEquals') {
    try {
      return parseImageRef(value).normalized.toLowerCase();
    } catch {
      return value.toLowerCase();
    }
  }
  return value.toLowerCase();
}

function compileResource(r: Rule['scope']['resources'][number]): CompiledResource {
  return {
    type: r.type,
    match: r.match,
    value: r.type === 'Image' ? compileImageValue(r.match, r.value) : r.value.toLowerCase(),
    selector: r.type === 'LabelSelector' ? lowerSelector(parseLabelSelector(r.value)) : undefined,
  };
}

/** Compiles the enabled rules; disabled rules never apply and are left out. */
export function compileRuleSet(rules: readonly Rule[]): CompiledRuleSet {
  const compiled = rules
    .filter((r) => r.enabled)
    .map(
      (rule): CompiledRule => ({
        rule,
        action: rule.action,
        enforceFromMs: rule.enforceFrom === undefined ? undefined : startOfDayUtc(rule.enforceFrom),
        severities: new Set(rule.conditions.severities),
        cves: new Set(rule.conditions.cves.map((c) => c.toUpperCase())),
        workloadResources: rule.scope.resources.filter((r) => r.type !== 'Image').map(compileResource),
        imageResources: rule.scope.resources.filter((r) => r.type === 'Image').map(compileResource),
        cveExemptions: rule.exemptions.filter((e) => e.type === 'CVE').map(compileExemption),
        imageExemptions: rule.exemptions.filter((e) => e.type !== 'CVE').map(compileExemption),
      }),
    );
  return { version: ruleSetVersion(rules), rules: compiled };
}

/** A short stable fingerprint of every rule's id and version (FNV-1a, 52 bits). */
export function ruleSetVersion(rules: readonly Pick<Rule, 'id' | 'version'>[]): string {
  const keys = rules.map((r) => `${r.id}:${r.version}`).sort();
  let h = 0xcbf29ce484222325n;
  for (const ch of keys.join(',')) {
    h ^= BigInt(ch.codePointAt(0)!);
    h = (h * 0x100000001b3n) & 0xfffffffffffffn;
  }
  return h.toString(16).padStart(13, '0');
}

/** Case-insensitive string match; `subject` and `value` are lower-cased already. */
export function matchString(match: Match, subject: string | undefined, value: string): boolean {
  if (subject === undefined) return match === 'NotEquals';
  switch (match) {
    case 'Equals':
      return subject === value;
    case 'NotEquals':
      return subject !== value;
    case 'StartsWith':
      return subject.startsWith(value);
    case 'EndsWith':
      return subject.endsWith(value);
    case 'Contains':
      return subject.includes(value);
    default:
      return false;
  }
}

/** What a rule's scope matches against, for one workload: lower-cased once per request. */
export interface WorkloadSubject {
  workload: Workload;
  cluster: Cluster;
  clusterName: string;
  namespace: string;
  podName: string;
  deployment?: string;
  podLabels: LoweredLabels;
  labels: LoweredLabels;
}

/** A workload subject plus one of its images (all lower-cased). */
export interface ImageSubject extends WorkloadSubject {
  reference: string;
  registry: string;
  repository: string;
  digest?: string;
}

/** Builds the subject of a request once, so that no rule lower-cases the same string again. */
export function workloadSubject(workload: Workload, cluster: Cluster): WorkloadSubject {
  return {
    workload,
    cluster,
    clusterName: cluster.name.toLowerCase(),
    namespace: workload.namespace.toLowerCase(),
    podName: workload.podName.toLowerCase(),
    deployment: workload.deployment?.toLowerCase(),
    podLabels: lowerLabels(workload.podLabels),
    labels: lowerLabels(workload.labels),
  };
}

/** True when the rule's cloud scope covers the cluster (no cloud scope = every cluster). */
export function cloudScopeMatches(rule: Rule, cluster: Cluster): boolean {
  const cloud = rule.scope.cloud;
  if (cloud === undefined) return true;
  if (cloud.provider !== cluster.provider) return false;
  if (cloud.accounts.length === 0) return true;
  const account = cluster.account.toLowerCase();
  return cloud.accounts.some((a) => a.toLowerCase() === account);
}

function resourceMatches(r: CompiledResource, s: WorkloadSubject): boolean {
  switch (r.type) {
    case 'Cluster':
      return matchString(r.match, s.clusterName, r.value);
    case 'Namespace':
      return matchString(r.match, s.namespace, r.value);
    case 'Pod':
      return matchString(r.match, s.podName, r.value);
    case 'Deployment':
      return matchString(r.match, s.deployment, r.value);
    case 'LabelSelector': {
      const hit = matchesLowered(r.selector!, s.podLabels) || matchesLowered(r.selector!, s.labels);
      return r.match === 'NotEquals' ? !hit : hit;
    }
    default:
      return false;
  }
}

/** True when every resource scope of the rule holds for the image (AND), and its cloud scope too. */
export function scopeMatches(rule: CompiledRule, s: ImageSubject): boolean {
  return workloadScopeMatches(rule, s) && imageScopeMatches(rule, s);
}

/** The part of the scope that does not depend on the image: the same for every container. */
export function workloadScopeMatches(rule: CompiledRule, s: WorkloadSubject): boolean {
  if (!cloudScopeMatches(rule.rule, s.cluster)) return false;
  for (const r of rule.workloadResources) if (!resourceMatches(r, s)) return false;
  return true;
}

/** The part of the scope on the image reference. */
export function imageScopeMatches(rule: CompiledRule, s: ImageSubject): boolean {
  for (const r of rule.imageResources) if (!matchString(r.match, s.reference, r.value)) return false;
  return true;
}

function exemptionSubject(e: Exemption['type'], s: ImageSubject): string | undefined {
  switch (e) {
    case 'Deployment':
      return s.deployment;
    case 'Image':
      return s.digest;
    case 'Namespace':
      return s.namespace;
    case 'Pod':
      return s.podName;
    case 'Registry':
      return s.registry;
    case 'Repository':
      return s.repository;
    default:
      return undefined;
  }
}

/** The first active non-CVE exemption that takes the image out of the rule, if any. */
export function findImageExemption(
  rule: CompiledRule,
  s: ImageSubject,
  nowMs: number,
): CompiledExemption | undefined {
  return rule.imageExemptions.find((e) => {
    if (nowMs >= e.endsAt || (e.source.expired === true && e.source.expiresOn === undefined)) return false;
    const subject = exemptionSubject(e.source.type, s);
    return subject !== undefined && matchString(e.match, subject, e.value);
  });
}

/** The active CVE exemption covering a vulnerability id (upper- or lower-case), if any. */
export function findCveExemption(
  rule: CompiledRule,
  id: string,
  nowMs: number,
): CompiledExemption | undefined {
  if (rule.cveExemptions.length === 0) return undefined;
  const lower = id.toLowerCase();
  return rule.cveExemptions.find((e) => nowMs < e.endsAt && matchString(e.match, lower, e.value));
}
