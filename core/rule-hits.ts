/**
 * Which vulnerabilities of a scan trigger a rule, after its CVE exemptions. This is the costly
 * part of an evaluation, and it depends only on the (compiled rule, scan) pair and on which
 * CVE exemptions are still active — so each result is kept per pair until the next of those
 * exemptions expires. Compiled rules and cached scans are immutable objects, so a rule edit or
 * a new scan simply finds no entry.
 */
import {
  type AppliedExemption,
  compareSeverity,
  countSeverities,
  type ImageScan,
  type SeverityCounts,
  type TriggeredRule,
  type Vulnerability,
} from './domain.js';
import { type CompiledRule, findCveExemption } from './ruleset.js';

/** How many triggering vulnerabilities an event keeps per rule and image (the message shows 5). */
export const MAX_RECORDED_VULNS = 10;

export interface RuleHits {
  /** The first triggering vulnerabilities, most severe first, one per id. */
  vulnerabilities: TriggeredRule['vulnerabilities'];
  /** Distinct triggering ids. */
  count: number;
  counts: SeverityCounts;
  /** CVE exemptions that removed vulnerabilities from the rule's view. */
  exemptions: AppliedExemption[];
  /** Epoch ms until which this result holds (the next expiry of an active CVE exemption). */
  validUntil: number;
}

/** A scan's active vulnerabilities, most severe first, indexed by severity and id. */
interface ScanIndex {
  active: Vulnerability[];
  position: Map<Vulnerability, number>;
  bySeverity: Map<string, Vulnerability[]>;
  byId: Map<string, Vulnerability[]>;
}

const indexes = new WeakMap<ImageScan, ScanIndex>();
const results = new WeakMap<ImageScan, WeakMap<CompiledRule, RuleHits>>();

function indexScan(scan: ImageScan): ScanIndex {
  let index = indexes.get(scan);
  if (index !== undefined) return index;
  const active = scan.vulnerabilities.filter((v) => v.state === undefined || v.state === 'Active');
  active.sort((a, b) => compareSeverity(a.severity, b.severity) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  index = { active, position: new Map(), bySeverity: new Map(), byId: new Map() };
  for (const [i, v] of active.entries()) {
    index.position.set(v, i);
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

/** The vulnerabilities meeting any condition of the rule, in the index's order. */
function candidates(rule: CompiledRule, index: ScanIndex): Vulnerability[] {
  const c = rule.rule.conditions;
  const found = new Set<Vulnerability>();
  for (const s of rule.severities) for (const v of index.bySeverity.get(s) ?? []) found.add(v);
  for (const id of rule.cves) for (const v of index.byId.get(id) ?? []) found.add(v);
  if (c.minCvss !== undefined) {
    for (const v of index.active) if (v.cvss !== undefined && v.cvss >= c.minCvss) found.add(v);
  }
  const list = c.fixAvailableOnly === true ? [...found].filter((v) => v.fixAvailable === true) : [...found];
  return list.sort((a, b) => index.position.get(a)! - index.position.get(b)!);
}

function compute(rule: CompiledRule, scan: ImageScan, nowMs: number): RuleHits {
  const hits: Vulnerability[] = [];
  const exempted = new Map<string, AppliedExemption & { cves: string[] }>();
  for (const v of candidates(rule, indexScan(scan))) {
    const ex = findCveExemption(rule, v.id, nowMs);
    if (ex === undefined) {
      hits.push(v);
      continue;
    }
    const e = ex.source;
    let applied = exempted.get(e.id);
    if (applied === undefined) {
      applied = {
        ruleId: rule.rule.id,
        ruleName: rule.rule.name,
        exemptionId: e.id,
        type: e.type,
        value: e.value,
        expiresOn: e.expiresOn,
        cves: [],
      };
      exempted.set(e.id, applied);
    }
    if (!applied.cves.includes(v.id)) applied.cves.push(v.id);
  }
  const vulnerabilities: RuleHits['vulnerabilities'] = [];
  const seen = new Set<string>();
  for (const v of hits) {
    if (vulnerabilities.length >= MAX_RECORDED_VULNS) break;
    if (seen.has(v.id)) continue;
    seen.add(v.id);
    vulnerabilities.push({ id: v.id, severity: v.severity, package: v.package });
  }
  const counts = countSeverities(hits);
  let validUntil = Number.POSITIVE_INFINITY;
  for (const e of rule.cveExemptions) if (e.endsAt > nowMs && e.endsAt < validUntil) validUntil = e.endsAt;
  return {
    vulnerabilities,
    count: counts.Critical + counts.High + counts.Medium + counts.Low + counts.Negligible,
    counts,
    exemptions: [...exempted.values()],
    validUntil,
  };
}

/** The rule's view of a scan at `nowMs`, from the per-pair cache when still valid. */
export function ruleHits(rule: CompiledRule, scan: ImageScan, nowMs: number): RuleHits {
  let perScan = results.get(scan);
  if (perScan === undefined) {
    perScan = new WeakMap();
    results.set(scan, perScan);
  }
  const cached = perScan.get(rule);
  if (cached !== undefined && nowMs < cached.validUntil) return cached;
  const fresh = compute(rule, scan, nowMs);
  perScan.set(rule, fresh);
  return fresh;
}
