/**
 * Amazon Inspector findings for ECR images: `aws inspector2 list-findings` (ListFindings,
 * `{ findings, nextToken }`), a bare array of findings, or Inspector's EventBridge events
 * (`detail-type: Inspector2 Finding`). ECR enhanced scanning returns the same finding shape in
 * `enhancedFindings`, so ecr.ts converts those findings here too.
 */
import { z } from 'zod';
import type { ImageScan, Vulnerability } from '../../core/domain.js';
import { ValidationError } from '../../core/errors.js';
import { parseInput } from '../../core/validation.js';
import { ecrRegistryHost, regionFromArn, resolveEcrRegion } from './aws.js';
import {
  type ConvertOptions,
  cleanTags,
  clip,
  cvssScore,
  finishScan,
  latestTime,
  WireTimeSchema,
} from './common.js';
import { SeverityLabelSchema } from './severity.js';

const CvssSchema = z.object({
  baseScore: z.number().nullish(),
  version: z.string().nullish(),
  source: z.string().nullish(),
});

const VulnerablePackageSchema = z.object({
  name: z.string().nullish(),
  version: z.string().nullish(),
  epoch: z.number().nullish(),
  release: z.string().nullish(),
  fixedInVersion: z.string().nullish(),
  filePath: z.string().nullish(),
});
type VulnerablePackage = z.output<typeof VulnerablePackageSchema>;

const EcrImageSchema = z.object({
  imageHash: z.string().trim().min(1, 'must not be empty'),
  repositoryName: z.string().trim().min(1, 'must not be empty').max(512),
  registry: z.string().nullish(),
  imageTags: z.array(z.string()).nullish(),
  pushedAt: WireTimeSchema,
});

const ResourceSchema = z.object({
  type: z.string().nullish(),
  id: z.string().nullish(),
  region: z.string().nullish(),
  details: z.object({ awsEcrContainerImage: EcrImageSchema.nullish() }).nullish(),
});

const ScoreSchema = z.object({ score: z.number().nullish() }).nullish();

/** One Inspector finding (also an ECR `enhancedFindings` entry), with the fields Portcullis reads. */
export const InspectorFindingSchema = z.object({
  findingArn: z.string().nullish(),
  awsAccountId: z.string().nullish(),
  type: z.string().nullish(),
  title: z.string().nullish(),
  severity: SeverityLabelSchema,
  status: z.string().nullish(),
  // A string, YES | NO | PARTIAL: not a boolean.
  fixAvailable: z.string().nullish(),
  firstObservedAt: WireTimeSchema,
  lastObservedAt: WireTimeSchema,
  updatedAt: WireTimeSchema,
  // ListFindings scores a finding in inspectorScore; ECR's enhancedFindings call it score.
  inspectorScore: z.number().nullish(),
  inspectorScoreDetails: z.object({ adjustedCvss: ScoreSchema }).nullish(),
  score: z.number().nullish(),
  scoreDetails: z.object({ cvss: ScoreSchema }).nullish(),
  packageVulnerabilityDetails: z
    .object({
      vulnerabilityId: z.string().trim().min(1, 'must not be empty').max(256),
      cvss: z.array(CvssSchema).nullish(),
      vulnerablePackages: z.array(VulnerablePackageSchema).nullish(),
    })
    .nullish(),
  resources: z.array(ResourceSchema).nullish(),
});
export type InspectorFinding = z.output<typeof InspectorFindingSchema>;

/** `NotAvailable` is how Inspector says there is no fixed version. */
function fixedVersionOf(pkg: VulnerablePackage): string | undefined {
  const v = clip(pkg.fixedInVersion, 512);
  return v === undefined || v.toLowerCase() === 'notavailable' ? undefined : v;
}

/**
 * The installed version as the package manager spells it: Inspector splits a Debian or RPM
 * version into `epoch`, `version` and `release` (`3.0.13` + `0ubuntu3.2`), while its
 * `fixedInVersion` keeps them together (`0:3.0.13-0ubuntu3.4`).
 */
function installedVersionOf(pkg: VulnerablePackage): string | undefined {
  const version = pkg.version?.trim();
  if (!version) return undefined;
  const epoch = pkg.epoch && pkg.epoch > 0 ? `${pkg.epoch}:` : '';
  const release = pkg.release?.trim() ? `-${pkg.release.trim()}` : '';
  return clip(`${epoch}${version}${release}`, 256);
}

/** The score Inspector rated the finding with, else the best CVSS v3 (then v2) it lists. */
function findingCvss(f: InspectorFinding): number | undefined {
  const rated = cvssScore(f.inspectorScoreDetails?.adjustedCvss?.score ?? f.scoreDetails?.cvss?.score);
  if (rated !== undefined) return rated;
  const entries = f.packageVulnerabilityDetails?.cvss ?? [];
  for (const major of ['3', '2', '4']) {
    const scores = entries
      .filter((e) => (e.version ?? '').trim().startsWith(major))
      .map((e) => cvssScore(e.baseScore))
      .filter((n): n is number => n !== undefined);
    if (scores.length > 0) return Math.max(...scores);
  }
  // A bare 0.0 score is what Inspector gives an UNTRIAGED finding: no score, not CVSS 0.
  const bare = cvssScore(f.inspectorScore ?? f.score);
  return bare === undefined || bare === 0 ? undefined : bare;
}

const STATES = new Map<string, Vulnerability['state']>([
  ['suppressed', 'Suppressed'],
  ['closed', 'Closed'],
]);

/**
 * Converts one Inspector finding into domain Vulnerabilities, one per vulnerable package (the
 * domain keeps one finding per advisory per package). Findings that are not package
 * vulnerabilities (network reachability, code) yield none. SUPPRESSED and CLOSED findings are
 * kept with that state and do not count.
 */
export function inspectorFindingToVulnerabilities(f: InspectorFinding): Vulnerability[] {
  const details = f.packageVulnerabilityDetails;
  if (!details) return [];
  const base: Vulnerability = { id: details.vulnerabilityId, ...f.severity };
  const cvss = findingCvss(f);
  if (cvss !== undefined) base.cvss = cvss;
  const state = STATES.get((f.status ?? '').trim().toLowerCase());
  if (state !== undefined) base.state = state;
  const title = clip(f.title, 1024);
  if (title !== undefined) base.title = title;
  const fix = (f.fixAvailable ?? '').trim().toUpperCase();
  const packages = details.vulnerablePackages ?? [];
  if (packages.length === 0) {
    return [fix === '' ? base : { ...base, fixAvailable: fix === 'YES' || fix === 'PARTIAL' }];
  }
  return packages.map((pkg) => {
    const v: Vulnerability = { ...base };
    const name = clip(pkg.name, 512);
    if (name !== undefined) v.package = name;
    const version = installedVersionOf(pkg);
    if (version !== undefined) v.version = version;
    const fixedVersion = fixedVersionOf(pkg);
    if (fixedVersion !== undefined) v.fixedVersion = fixedVersion;
    // PARTIAL means some packages have a fix: this one has when it names a fixed version.
    if (fixedVersion !== undefined) v.fixAvailable = true;
    else if (fix !== '') v.fixAvailable = fix === 'YES';
    return v;
  });
}

/** The ECR image a finding is about, with the region it names (if it names one). */
export interface FindingImage {
  account?: string;
  region?: string;
  repository: string;
  digest: string;
  tags: string[];
}

/** The ECR image a finding is about, or undefined for a finding on another kind of resource. */
export function findingImage(f: InspectorFinding): FindingImage | undefined {
  for (const r of f.resources ?? []) {
    const image = r.details?.awsEcrContainerImage;
    if (!image) continue;
    const account = image.registry?.trim() || f.awsAccountId?.trim() || undefined;
    const region = r.region?.trim() || regionFromArn(r.id) || regionFromArn(f.findingArn);
    return {
      ...(account === undefined ? {} : { account }),
      ...(region === undefined ? {} : { region }),
      repository: image.repositoryName,
      digest: image.imageHash,
      tags: cleanTags(image.imageTags ?? []),
    };
  }
  return undefined;
}

/** One image's findings, gathered from a listing that mixes images. */
export interface InspectorImageFindings {
  image: FindingImage;
  findings: InspectorFinding[];
}

/**
 * Groups findings by image digest (first-seen order); findings on other resources are left
 * out. The same digest pushed to two repositories is one image: the first repository names it.
 */
export function groupFindingsByImage(findings: readonly InspectorFinding[]): InspectorImageFindings[] {
  const byDigest = new Map<string, InspectorImageFindings>();
  for (const f of findings) {
    const image = findingImage(f);
    if (image === undefined) continue;
    const key = image.digest.toLowerCase();
    const group = byDigest.get(key);
    if (group === undefined) byDigest.set(key, { image: { ...image }, findings: [f] });
    else {
      group.findings.push(f);
      if (image.repository === group.image.repository) {
        group.image.tags = cleanTags([...group.image.tags, ...image.tags]);
      }
    }
  }
  return [...byDigest.values()];
}

/** What the Inspector sync knows of an image besides its findings (from ListCoverage). */
export interface InspectorScanContext {
  region?: string;
  /** Current tags (coverage metadata), replacing the tags recorded on the findings. */
  tags?: string[];
  /** When Inspector last scanned the image; used when no finding says. */
  lastScannedAt?: string;
  now: Date;
}

/**
 * Builds the complete scan of one image from all its findings. The scan time is the latest
 * `lastObservedAt` (Inspector re-observes every finding still present on each scan).
 */
export function inspectorImageToScan(
  group: InspectorImageFindings,
  context: InspectorScanContext,
): ImageScan {
  const { image, findings } = group;
  const region = resolveEcrRegion([image.region], context.region);
  if (image.account === undefined) {
    throw new ValidationError(
      'an Inspector finding names no registry account (awsEcrContainerImage.registry)',
      {
        details: [{ path: 'resources.details.awsEcrContainerImage.registry', message: 'required' }],
      },
    );
  }
  const observed = latestTime(findings.map((f) => f.lastObservedAt ?? f.updatedAt));
  return finishScan({
    registry: ecrRegistryHost(image.account, region),
    repository: image.repository,
    digest: image.digest,
    tags: context.tags ?? image.tags,
    source: 'inspector2',
    scannedAt: observed ?? context.lastScannedAt ?? context.now.toISOString(),
    status: 'Scanned',
    vulnerabilities: findings.flatMap(inspectorFindingToVulnerabilities),
  });
}

const ListFindingsSchema = z.object({ findings: z.array(z.unknown()) });
const EventSchema = z.object({ 'detail-type': z.string(), detail: z.unknown() });

/** The findings in a body: a ListFindings page, a bare array, or EventBridge events. */
function findingsOf(body: unknown): unknown[] {
  const items = Array.isArray(body) ? body : [body];
  return items.flatMap((item): unknown[] => {
    if (typeof item === 'object' && item !== null && 'findings' in item) {
      return parseInput(ListFindingsSchema, item, 'Inspector ListFindings output').findings;
    }
    if (typeof item === 'object' && item !== null && 'detail-type' in item) {
      const event = parseInput(EventSchema, item, 'Inspector EventBridge event');
      if (event['detail-type'] !== 'Inspector2 Finding') {
        throw new ValidationError(
          `an EventBridge event of type "${event['detail-type'].slice(0, 64)}" is not an Inspector finding`,
          {
            details: [{ path: 'detail-type', message: 'expected "Inspector2 Finding"' }],
          },
        );
      }
      return [event.detail];
    }
    return [item];
  });
}

/**
 * Converts Inspector findings (ListFindings output, a bare array, or EventBridge events) into
 * one scan per ECR image they name, each made of the findings present for it. Throws
 * ValidationError for anything else.
 *
 * @example inspector2ReportToScans(JSON.parse(execSync('aws inspector2 list-findings')), { now })
 */
export function inspector2ReportToScans(body: unknown, options: ConvertOptions): ImageScan[] {
  if (typeof body !== 'object' || body === null) {
    throw new ValidationError(
      'invalid Inspector report: expected the output of "aws inspector2 list-findings"',
      {
        details: [{ path: 'findings', message: 'required' }],
      },
    );
  }
  const findings = parseInput(z.array(InspectorFindingSchema), findingsOf(body), 'Inspector findings');
  return groupFindingsByImage(findings).map((group) =>
    inspectorImageToScan(group, {
      ...(options.region === undefined ? {} : { region: options.region }),
      now: options.now,
    }),
  );
}
