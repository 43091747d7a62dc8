/**
 * Artifact Analysis (Container Analysis, Grafeas v1) occurrences: the output of
 * `projects.occurrences.list` (`{ occurrences, nextPageToken }`), a bare array of occurrences,
 * or `gcloud artifacts docker images describe --show-package-vulnerability --format=json`.
 * VULNERABILITY occurrences are findings; DISCOVERY occurrences carry the scan status. The API
 * omits false, zero and empty fields, and names images by digest only (`resourceUri`).
 */
import { z } from 'zod';
import type { ImageScan, ScanStatus, Vulnerability } from '../../core/domain.js';
import { ValidationError } from '../../core/errors.js';
import { parseImageRef } from '../../core/image-ref.js';
import { parseInput } from '../../core/validation.js';
import {
  type ConvertOptions,
  cleanTags,
  clip,
  cvssScore,
  finishScan,
  latestTime,
  WireTimeSchema,
} from './common.js';
import { normalizeSeverity } from './severity.js';

const VersionSchema = z
  .object({
    epoch: z.number().nullish(),
    name: z.string().nullish(),
    revision: z.string().nullish(),
    // NORMAL, or MINIMUM / MAXIMUM: a MAXIMUM fixed version means there is no fix.
    kind: z.string().nullish(),
    fullName: z.string().nullish(),
  })
  .nullish();
type GrafeasVersion = z.output<typeof VersionSchema>;

const PackageIssueSchema = z.object({
  affectedPackage: z.string().nullish(),
  affectedVersion: VersionSchema,
  fixedVersion: VersionSchema,
  fixAvailable: z.boolean().nullish(),
  effectiveSeverity: z.string().nullish(),
});

const StatusSchema = z.object({ code: z.number().nullish(), message: z.string().nullish() }).nullish();

/** One occurrence, with the fields Portcullis reads. */
export const OccurrenceSchema = z.object({
  name: z.string().nullish(),
  resourceUri: z.string().nullish(),
  noteName: z.string().nullish(),
  kind: z.string().nullish(),
  createTime: WireTimeSchema,
  updateTime: WireTimeSchema,
  vulnerability: z
    .object({
      severity: z.string().nullish(),
      effectiveSeverity: z.string().nullish(),
      cvssScore: z.number().nullish(),
      cvssv3: z.object({ baseScore: z.number().nullish() }).nullish(),
      cvssV2: z.object({ baseScore: z.number().nullish() }).nullish(),
      packageIssue: z.array(PackageIssueSchema).nullish(),
      fixAvailable: z.boolean().nullish(),
      shortDescription: z.string().nullish(),
      vexAssessment: z.object({ state: z.string().nullish() }).nullish(),
    })
    .nullish(),
  discovery: z
    .object({
      analysisStatus: z.string().nullish(),
      analysisStatusError: StatusSchema,
      analysisError: z.array(StatusSchema).nullish(),
      lastScanTime: WireTimeSchema,
    })
    .nullish(),
});
export type Occurrence = z.output<typeof OccurrenceSchema>;

/** The image a resource URI names (`https://us-docker.pkg.dev/p/r/img@sha256:...`), if it is one. */
export interface GrafeasImage {
  uri: string;
  registry: string;
  repository: string;
  digest: string;
}

/** Parses an occurrence's resource URI; undefined for anything but a container image by digest. */
export function imageOfResourceUri(uri: string | null | undefined): GrafeasImage | undefined {
  const text = uri?.trim();
  if (!text?.includes('@')) return undefined;
  try {
    const ref = parseImageRef(text.replace(/^https?:\/\//i, ''));
    if (ref.digest === undefined) return undefined;
    return { uri: text, registry: ref.registry, repository: ref.repository, digest: ref.digest };
  } catch (e) {
    if (e instanceof ValidationError) return undefined;
    throw e;
  }
}

function versionText(v: GrafeasVersion): string | undefined {
  if (!v || (v.kind && v.kind !== 'NORMAL')) return undefined;
  const full = v.fullName?.trim();
  if (full) return full;
  if (!v.name?.trim()) return undefined;
  return `${v.epoch ? `${v.epoch}:` : ''}${v.name.trim()}${v.revision?.trim() ? `-${v.revision.trim()}` : ''}`;
}

/** A VEX statement that the image is not affected, or fixed, takes the finding out of the count. */
const VEX_SUPPRESSED = new Set(['NOT_AFFECTED', 'FIXED']);

/**
 * Converts one VULNERABILITY occurrence into domain Vulnerabilities, one per package issue.
 * The severity is `effectiveSeverity` (the distro's rating), never the NVD `severity` unless no
 * effective one is given; a fix is available only when the API says so (absent means false).
 */
export function occurrenceToVulnerabilities(o: Occurrence): Vulnerability[] {
  const vuln = o.vulnerability;
  if (!vuln) return [];
  const id = clip(o.noteName?.split('/').pop() || vuln.shortDescription, 256);
  if (id === undefined) {
    throw new ValidationError(
      'invalid Artifact Analysis occurrence: noteName: required (names the vulnerability)',
      {
        details: [{ path: 'noteName', message: 'required' }],
      },
    );
  }
  const cvss =
    cvssScore(vuln.cvssScore) ?? cvssScore(vuln.cvssv3?.baseScore) ?? cvssScore(vuln.cvssV2?.baseScore);
  const suppressed = VEX_SUPPRESSED.has((vuln.vexAssessment?.state ?? '').toUpperCase());
  const issues = vuln.packageIssue?.length ? vuln.packageIssue : [undefined];
  return issues.map((issue) => {
    const label =
      issue?.effectiveSeverity ?? vuln.effectiveSeverity ?? vuln.severity ?? 'SEVERITY_UNSPECIFIED';
    const v: Vulnerability = { id, ...normalizeSeverity(label) };
    if (cvss !== undefined) v.cvss = cvss;
    const pkg = clip(issue?.affectedPackage, 512);
    if (pkg !== undefined) v.package = pkg;
    const version = clip(versionText(issue?.affectedVersion), 256);
    if (version !== undefined) v.version = version;
    const fixedVersion = clip(versionText(issue?.fixedVersion), 512);
    if (fixedVersion !== undefined) v.fixedVersion = fixedVersion;
    v.fixAvailable = issue?.fixAvailable ?? vuln.fixAvailable ?? fixedVersion !== undefined;
    if (suppressed) v.state = 'Suppressed';
    return v;
  });
}

const ANALYSIS_STATUS = new Map<string, ScanStatus>([
  ['PENDING', 'Pending'],
  ['SCANNING', 'Pending'],
  ['FINISHED_SUCCESS', 'Scanned'],
  ['COMPLETE', 'Scanned'],
  ['FINISHED_FAILED', 'Failed'],
  ['FINISHED_UNSUPPORTED', 'Unsupported'],
]);

/**
 * The scan status a DISCOVERY occurrence gives, with the API's own message for a failure.
 * An unspecified status (omitted) is Scanned when findings exist, else Pending.
 */
export function discoveryStatus(
  discovery: Occurrence['discovery'],
  hasFindings: boolean,
): { status: ScanStatus; statusReason?: string } {
  const word = (discovery?.analysisStatus ?? '').trim().toUpperCase();
  const status = ANALYSIS_STATUS.get(word) ?? (hasFindings ? 'Scanned' : 'Pending');
  if (status === 'Scanned') return { status };
  const message =
    discovery?.analysisStatusError?.message ?? discovery?.analysisError?.find((e) => e?.message)?.message;
  const reason = clip(
    message ? `${word || 'ANALYSIS_STATUS_UNSPECIFIED'}: ${message}` : word || 'ANALYSIS_STATUS_UNSPECIFIED',
    1024,
  );
  return reason === undefined ? { status } : { status, statusReason: reason };
}

/**
 * A DISCOVERY occurrence of another analysis than vulnerability scanning (Artifact Analysis
 * has several notes under goog-analysis, e.g. for SBOMs): its status is not the scan's.
 */
export function isOtherDiscovery(o: Occurrence): boolean {
  return /^projects\/goog-analysis\/notes\/(?!PACKAGE_VULNERABILITY$)/.test(o.noteName ?? '');
}

/** One image's occurrences, gathered from a listing that mixes images. */
export interface GrafeasImageOccurrences {
  image: GrafeasImage;
  occurrences: Occurrence[];
}

/** Groups occurrences of container images by digest (first-seen order); other resources are left out. */
export function groupOccurrencesByImage(occurrences: readonly Occurrence[]): GrafeasImageOccurrences[] {
  const byDigest = new Map<string, GrafeasImageOccurrences>();
  for (const o of occurrences) {
    const image = imageOfResourceUri(o.resourceUri);
    if (image === undefined) continue;
    const key = image.digest.toLowerCase();
    const group = byDigest.get(key);
    if (group === undefined) byDigest.set(key, { image, occurrences: [o] });
    else group.occurrences.push(o);
  }
  return [...byDigest.values()];
}

/**
 * Builds the complete scan of one image from its VULNERABILITY occurrences and its DISCOVERY
 * occurrence (if given). Tags come from Artifact Registry, since occurrences name none.
 */
export function grafeasImageToScan(
  group: GrafeasImageOccurrences,
  context: { tags?: readonly string[]; now: Date },
): ImageScan {
  const kind = (o: Occurrence) =>
    (o.kind ?? (o.discovery ? 'DISCOVERY' : o.vulnerability ? 'VULNERABILITY' : '')).toUpperCase();
  const findings = group.occurrences.filter((o) => kind(o) === 'VULNERABILITY');
  const discovery = group.occurrences.find((o) => kind(o) === 'DISCOVERY' && !isOtherDiscovery(o));
  const { status, statusReason } = discoveryStatus(discovery?.discovery, findings.length > 0);
  const scannedAt =
    discovery?.discovery?.lastScanTime ??
    discovery?.updateTime ??
    latestTime(findings.map((o) => o.updateTime ?? o.createTime)) ??
    context.now.toISOString();
  return finishScan({
    registry: group.image.registry,
    repository: group.image.repository,
    digest: group.image.digest,
    tags: cleanTags(context.tags ?? []),
    source: 'gar',
    scannedAt,
    status,
    ...(statusReason === undefined ? {} : { statusReason }),
    vulnerabilities: findings.flatMap(occurrenceToVulnerabilities),
  });
}

const GcloudDescribeSchema = z.object({
  package_vulnerability_summary: z
    .object({ vulnerabilities: z.record(z.string(), z.array(z.unknown())).nullish() })
    .nullish(),
  discovery_summary: z.object({ discovery: z.array(z.unknown()).nullish() }).nullish(),
});

/** The occurrences in a body: a ListOccurrences page, a bare array, or gcloud's describe output. */
function occurrencesOf(body: unknown): unknown[] {
  if (Array.isArray(body)) return body;
  if (typeof body === 'object' && body !== null) {
    if ('occurrences' in body) {
      return parseInput(z.object({ occurrences: z.array(z.unknown()) }), body, 'ListOccurrences output')
        .occurrences;
    }
    if ('package_vulnerability_summary' in body || 'discovery_summary' in body) {
      const d = parseInput(GcloudDescribeSchema, body, 'gcloud describe output');
      return [
        ...Object.values(d.package_vulnerability_summary?.vulnerabilities ?? {}).flat(),
        ...(d.discovery_summary?.discovery ?? []),
      ];
    }
    // An image Artifact Analysis has nothing on answers `{}`.
    if (Object.keys(body).length === 0 || 'nextPageToken' in body) return [];
  }
  throw new ValidationError(
    'invalid Artifact Analysis report: expected the output of projects.occurrences.list ({ occurrences: [...] })',
    { details: [{ path: 'occurrences', message: 'required' }] },
  );
}

/**
 * Converts Artifact Analysis occurrences into one scan per container image they name. Tags are
 * not in the payload: the scans carry none (the sync adds them from Artifact Registry).
 *
 * @example grafeasReportToScans(await (await fetch(listOccurrencesUrl)).json(), { now: new Date() })
 */
export function grafeasReportToScans(body: unknown, options: ConvertOptions): ImageScan[] {
  const occurrences = parseInput(
    z.array(OccurrenceSchema),
    occurrencesOf(body),
    'Artifact Analysis occurrences',
  );
  return groupOccurrencesByImage(occurrences).map((group) => grafeasImageToScan(group, { now: options.now }));
}
