/**
 * Pieces every import format shares: choosing a
 * scan time, merging duplicate findings and sealing a scan against ImageScanSchema.
 */

import { z } from 'zod';
import {
  compareSeverity,
  countSeverities,
  type ImageScan,
  ImageScanSchema,
  type ScanSource,
  type ScanStatus,
  type Vulnerability,
} from '../../core/domain.js';
import { parseInput } from '../../core/validation.js';

/** Options every converter takes; `now` is the scan time when a report carries none. */
export interface ConvertOptions {
  /** An image reference that supplies or overrides the report's identity. */
  image?: string;
  /** The AWS region, for `ecr` payloads, which name the account but not the region. */
  region?: string;
  now: Date;
}

/** Timestamps before this are placeholders (Go's zero time is year 1), not scan times. */
const EARLIEST_SCAN = Date.UTC(2000, 0, 1);

/**
 * The report's own timestamp as UTC ISO time, or `now` when it has none (or Go's zero time):
 * an old report imported today must not pass for a fresh scan when one is known.
 */
export function scanTime(raw: string | null | undefined, now: Date): string {
  if (raw) {
    const ms = Date.parse(raw);
    if (!Number.isNaN(ms) && ms >= EARLIEST_SCAN) return new Date(ms).toISOString();
  }
  return now.toISOString();
}

/**
 * A timestamp as the cloud APIs send it, as UTC ISO time (undefined when absent or unreadable):
 * a `Date` (AWS SDK), epoch seconds (the AWS JSON protocols, CLI v1), ISO 8601 with any
 * precision (CLI v2, Google, Azure's seven fractional digits) or EventBridge's
 * `Wed Sep 04 16:55:38.411 UTC 2024`.
 */
export function wireTime(raw: unknown): string | undefined {
  let ms: number;
  if (raw instanceof Date) ms = raw.getTime();
  // Epoch seconds; a value this large can only be milliseconds.
  else if (typeof raw === 'number') ms = raw > 1e11 ? raw : raw * 1000;
  else if (typeof raw === 'string' && raw.trim() !== '') ms = Date.parse(raw.trim());
  else return undefined;
  return Number.isFinite(ms) && ms >= EARLIEST_SCAN ? new Date(ms).toISOString() : undefined;
}

/** A zod field for a wire timestamp (see wireTime); an unreadable one is treated as absent. */
export const WireTimeSchema = z
  .union([z.date(), z.number(), z.string()])
  .nullish()
  .transform((raw) => wireTime(raw));

/** The latest of some ISO timestamps, or undefined when there are none. */
export function latestTime(times: Iterable<string | undefined>): string | undefined {
  let latest: string | undefined;
  for (const t of times) if (t !== undefined && (latest === undefined || t > latest)) latest = t;
  return latest;
}

/** A CVSS base score when `n` is one (0 to 10), else undefined. */
export function cvssScore(n: unknown): number | undefined {
  return typeof n === 'number' && Number.isFinite(n) && n >= 0 && n <= 10 ? n : undefined;
}

const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** The tags a registry reports that are valid tags (the OCI grammar), without duplicates. */
export function cleanTags(tags: Iterable<string | null | undefined>): string[] {
  const out = new Set<string>();
  for (const t of tags) {
    const tag = t?.trim();
    if (tag && TAG.test(tag)) out.add(tag);
  }
  return [...out];
}

/** Cuts a free-text field to the length the domain stores. */
export function clip(text: string | null | undefined, max: number): string | undefined {
  const t = text?.trim();
  if (!t) return undefined;
  return t.length <= max ? t : `${t.slice(0, max - 1)}…`;
}

/** Ranks a finding for merging: active before suppressed, then the more severe, then higher CVSS. */
function outranks(a: Vulnerability, b: Vulnerability): boolean {
  const activeA = a.state === undefined || a.state === 'Active';
  const activeB = b.state === undefined || b.state === 'Active';
  if (activeA !== activeB) return activeA;
  const bySeverity = compareSeverity(a.severity, b.severity);
  if (bySeverity !== 0) return bySeverity < 0;
  return (a.cvss ?? -1) > (b.cvss ?? -1);
}

/**
 * Keeps one finding per (advisory id, package), as the domain stores them: scanners repeat a
 * finding per file or layer that holds the package. The strongest record wins and keeps the
 * highest CVSS seen; first-seen order is preserved.
 */
export function mergeVulnerabilities(vulnerabilities: readonly Vulnerability[]): Vulnerability[] {
  const byKey = new Map<string, Vulnerability>();
  for (const v of vulnerabilities) {
    const key = `${v.id.toUpperCase()}\u0000${v.package ?? ''}`;
    const seen = byKey.get(key);
    if (seen === undefined) {
      byKey.set(key, v);
      continue;
    }
    const winner = outranks(v, seen) ? v : seen;
    const cvss = Math.max(v.cvss ?? -1, seen.cvss ?? -1);
    byKey.set(key, cvss >= 0 ? { ...winner, cvss } : winner);
  }
  return [...byKey.values()];
}

/** What a converter knows of one image before counts and validation. */
export interface ScanDraft {
  registry: string;
  repository: string;
  digest: string;
  tags: readonly string[];
  source: ScanSource;
  scannedAt: string;
  status?: ScanStatus;
  statusReason?: string;
  vulnerabilities: readonly Vulnerability[];
}

/**
 * Merges duplicate findings, computes the counts (never taken from input) and checks the
 * result against ImageScanSchema, so nothing malformed reaches a store.
 */
export function finishScan(draft: ScanDraft): ImageScan {
  const vulnerabilities = mergeVulnerabilities(draft.vulnerabilities);
  const scan: ImageScan = {
    registry: draft.registry,
    repository: draft.repository,
    digest: draft.digest,
    tags: [...new Set(draft.tags)],
    source: draft.source,
    scannedAt: draft.scannedAt,
    status: draft.status ?? 'Scanned',
    ...(draft.statusReason === undefined ? {} : { statusReason: draft.statusReason }),
    vulnerabilities,
    counts: countSeverities(vulnerabilities),
  };
  return parseInput(ImageScanSchema, scan, `${draft.source} scan of ${draft.registry}/${draft.repository}`);
}

/**
 * A scan that only says where an image stands (Pending, Failed, Unsupported) and has no
 * findings: the sync reports such images so that monitoring tells them apart from clean ones.
 */
export function statusScan(
  image: { registry: string; repository: string; digest: string; tags: readonly string[] },
  source: ScanSource,
  status: { status: ScanStatus; statusReason?: string },
  scannedAt: string,
): ImageScan {
  return finishScan({ ...image, source, scannedAt, ...status, vulnerabilities: [] });
}
