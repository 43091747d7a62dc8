/**
 * What a developer reads: the denial message, kubectl warnings and audit annotations.
 * Kept short and actionable: which image, which rule, how bad, what to do next.
 */
import type { Decision, ImageResult, SeverityCounts, TriggeredRule } from './domain.js';
import type { Workload } from './workload.js';

export interface DecisionText {
  message: string;
  warnings: string[];
  auditAnnotations: Record<string, string>;
}

/** kubectl prints each warning on its own line; Kubernetes asks for short ones. */
const MAX_WARNING_LENGTH = 120;
const MAX_WARNINGS = 10;
const CVES_IN_MESSAGE = 5;

/** Cuts at a word boundary so that an id is never split ("CVE-2019-15…"). */
function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.lastIndexOf(' ', max - 1);
  let end = cut > max / 2 ? cut : max - 1;
  // Drops the punctuation the cut left dangling (",", ";", ":", "(" or spaces).
  while (end > 0 && ',;:( \t\n'.includes(text[end - 1]!)) end--;
  return `${text.slice(0, end)}…`;
}

// Counts and vulnerability lists are shared, immutable objects (scans and cached rule hits),
// so their text is built once per object rather than once per admission.
const countsText = new WeakMap<SeverityCounts, string>();
const cveText = new WeakMap<object, Map<number, string>>();

/** "2 Critical, 5 High" — the non-zero counts, most severe first. */
export function formatCounts(counts: SeverityCounts | undefined): string {
  if (counts === undefined) return 'no scan';
  let text = countsText.get(counts);
  if (text === undefined) {
    const parts = (['Critical', 'High', 'Medium', 'Low'] as const)
      .filter((s) => counts[s] > 0)
      .map((s) => `${counts[s]} ${s}`);
    text = parts.length === 0 ? 'no vulnerabilities' : parts.join(', ');
    countsText.set(counts, text);
  }
  return text;
}

function cveList(rule: TriggeredRule, max: number): string {
  let byMax = cveText.get(rule.vulnerabilities);
  if (byMax === undefined) {
    byMax = new Map();
    cveText.set(rule.vulnerabilities, byMax);
  }
  let text = byMax.get(max);
  if (text === undefined) {
    const ids = rule.vulnerabilities.slice(0, max).map((v) => v.id);
    const more = rule.vulnerabilityCount - ids.length;
    text = more > 0 ? `${ids.join(', ')} (+${more} more)` : ids.join(', ');
    byMax.set(max, text);
  }
  return text;
}

function shortDigest(digest: string | undefined): string {
  return digest === undefined ? '' : ` (${digest.slice(0, 19)})`;
}

const UNSCANNED_REASON: Record<string, string> = {
  NotFound: 'it has never been scanned',
  Pending: 'its scan is still pending',
  Failed: 'its scan failed',
  Unsupported: 'the scanner does not support it',
  Stale: 'its newest scan is older than the rule allows',
};

function why(rule: TriggeredRule, image: ImageResult): string {
  if (rule.reason === 'Unscanned') {
    return `${UNSCANNED_REASON[rule.scanState ?? 'NotFound'] ?? 'it has no usable scan'} (${rule.scanState})`;
  }
  return `of ${formatCounts(rule.counts ?? image.counts)} vulnerabilities: ${cveList(rule, CVES_IN_MESSAGE)} (the image has ${formatCounts(image.counts)} in all)`;
}

/** How many further Deny rules an image's line names before counting the rest. */
const OTHER_RULES_NAMED = 3;

function denyMessage(workload: Workload, images: readonly ImageResult[]): string {
  const parts: string[] = [];
  const denyRules = new Set<string>();
  for (const image of images) {
    if (!image.gated || image.action !== 'Deny') continue;
    // One line per image: the first Deny rule in full, the others by name, so that a
    // workload under many rules still gets a message a person can read.
    const denying = image.triggeredRules.filter((r) => r.action === 'Deny');
    const first = denying[0]!;
    for (const r of denying) denyRules.add(r.ruleName);
    let line = `image ${image.reference}${shortDigest(image.digest)} is denied by rule "${first.ruleName}" because ${why(first, image)}`;
    if (denying.length > 1) {
      const others = denying.slice(1, 1 + OTHER_RULES_NAMED).map((r) => `"${r.ruleName}"`);
      const more = denying.length - 1 - others.length;
      line += `, and by ${others.join(', ')}${more > 0 ? ` and ${more} more rules` : ''}`;
    }
    parts.push(line);
  }
  const where = workload.namespace === '' ? '' : ` in namespace ${workload.namespace}`;
  const names = [...denyRules];
  const rules =
    names.length <= OTHER_RULES_NAMED + 1
      ? `rule ${names.map((r) => `"${r}"`).join(', ')}`
      : `the rules above (${names.length} in all)`;
  return (
    `Portcullis denied ${workload.kind} ${workload.name}${where}: ${parts.join('; ')}. ` +
    'To deploy, use an image built on patched packages, or ask your security team for an exemption ' +
    `on ${rules} (for a CVE, this image digest, or this namespace).`
  );
}

function warningLine(image: ImageResult, rule: TriggeredRule): string {
  const subject = `${image.image}: rule "${rule.ruleName}"`;
  const detail =
    rule.reason === 'Unscanned'
      ? `no usable scan (${rule.scanState})`
      : `${formatCounts(rule.counts ?? image.counts)} (${cveList(rule, 2)})`;
  const prefix =
    rule.configuredAction === 'Deny' && rule.enforceFrom !== undefined
      ? `Portcullis: will be DENIED from ${rule.enforceFrom}: `
      : 'Portcullis audit: ';
  return clip(`${prefix}${subject}: ${detail}`, MAX_WARNING_LENGTH);
}

/** Builds the message, warnings and audit annotations for a decision. */
export function describeDecision(
  decision: Decision,
  workload: Workload,
  images: readonly ImageResult[],
): DecisionText {
  const warnings: string[] = [];
  const ruleNames = new Set<string>();
  let findings = 0;
  for (const image of images) {
    if (!image.gated) continue;
    for (const rule of image.triggeredRules) {
      ruleNames.add(rule.ruleName);
      if (rule.action !== 'Audit') continue;
      // Only the lines that will be kept are built.
      if (++findings <= MAX_WARNINGS) warnings.push(warningLine(image, rule));
    }
  }
  if (findings > MAX_WARNINGS) {
    warnings.length = MAX_WARNINGS - 1;
    warnings.push(`Portcullis: ${findings - (MAX_WARNINGS - 1)} more findings; see admission monitoring`);
  }
  const message =
    decision === 'Denied'
      ? denyMessage(workload, images)
      : decision === 'Audited'
        ? `Portcullis audited ${workload.kind} ${workload.name}: ${warnings.length} finding(s) recorded`
        : `Portcullis allowed ${workload.kind} ${workload.name}`;
  const auditAnnotations: Record<string, string> = { decision };
  if (ruleNames.size > 0) auditAnnotations.rules = clip([...ruleNames].join(','), 1000);
  return { message, warnings, auditAnnotations };
}
