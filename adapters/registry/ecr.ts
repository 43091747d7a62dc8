/**
 * Amazon ECR image scan findings: the output of DescribeImageScanFindings
 * (`aws ecr describe-image-scan-findings`), with basic scanning's `findings` or enhanced
 * scanning's `enhancedFindings` (Inspector findings). The payload names the account
 * (`registryId`) but not the region, which the pull host needs: it comes from an enhanced
 * finding's ARN or from the caller's `region` option.
 */
import { z } from 'zod';
import type { ImageScan, ScanStatus, Vulnerability } from '../../core/domain.js';
import { ValidationError } from '../../core/errors.js';
import { parseInput } from '../../core/validation.js';
import { checkAccount, ecrRegistryHost, resolveEcrRegion } from './aws.js';
import {
  type ConvertOptions,
  cleanTags,
  clip,
  cvssScore,
  finishScan,
  latestTime,
  WireTimeSchema,
} from './common.js';
import { findingImage, InspectorFindingSchema, inspectorFindingToVulnerabilities } from './inspector2.js';
import { SeverityLabelSchema } from './severity.js';

const EcrFindingSchema = z.object({
  name: z.string().trim().min(1, 'must not be empty').max(256),
  severity: SeverityLabelSchema,
  uri: z.string().nullish(),
  attributes: z.array(z.object({ key: z.string(), value: z.string().nullish() })).nullish(),
});
/** One basic-scanning finding (`imageScanFindings.findings[]`), as validated. */
export type EcrFinding = z.output<typeof EcrFindingSchema>;

/** One DescribeImageScanFindings response (or page of one), with the fields Portcullis reads. */
export const EcrScanFindingsSchema = z.object({
  registryId: z.string().trim().min(1, 'must not be empty'),
  repositoryName: z.string().trim().min(1, 'must not be empty').max(512),
  imageId: z.object({ imageDigest: z.string().nullish(), imageTag: z.string().nullish() }).nullish(),
  imageScanStatus: z.object({ status: z.string().nullish(), description: z.string().nullish() }).nullish(),
  imageScanFindings: z
    .object({
      imageScanCompletedAt: WireTimeSchema,
      findings: z.array(EcrFindingSchema).nullish(),
      enhancedFindings: z.array(InspectorFindingSchema).nullish(),
    })
    .nullish(),
});
export type EcrScanFindings = z.output<typeof EcrScanFindingsSchema>;

function attribute(f: EcrFinding, key: string): string | undefined {
  const value = f.attributes?.find((a) => a.key.toLowerCase() === key)?.value?.trim();
  return value === '' ? undefined : value;
}

/**
 * Converts one basic-scanning finding into a domain Vulnerability. Package, version and CVSS
 * live in `attributes` (`package_name`, `package_version`, `CVSS3_SCORE`, `CVSS2_SCORE`); basic
 * scanning reports no fixed version, so fix availability is left unknown.
 */
export function ecrFindingToVulnerability(f: EcrFinding): Vulnerability {
  const v: Vulnerability = { id: f.name, ...f.severity };
  const cvss = cvssScore(Number(attribute(f, 'cvss3_score') ?? attribute(f, 'cvss2_score') ?? Number.NaN));
  if (cvss !== undefined) v.cvss = cvss;
  const pkg = clip(attribute(f, 'package_name'), 512);
  if (pkg !== undefined) v.package = pkg;
  const version = clip(attribute(f, 'package_version'), 256);
  if (version !== undefined) v.version = version;
  return v;
}

const STATUSES = new Map<string, ScanStatus>([
  ['COMPLETE', 'Scanned'],
  ['ACTIVE', 'Scanned'],
  ['IN_PROGRESS', 'Pending'],
  ['PENDING', 'Pending'],
  ['FAILED', 'Failed'],
  ['SCAN_ELIGIBILITY_EXPIRED', 'Failed'],
  ['FINDINGS_UNAVAILABLE', 'Failed'],
  ['LIMIT_EXCEEDED', 'Failed'],
  ['UNSUPPORTED_IMAGE', 'Unsupported'],
  ['IMAGE_ARCHIVED', 'Unsupported'],
]);

/**
 * Maps ECR's `imageScanStatus` onto the domain's scan status; the reason is ECR's own
 * description, or its status word. An unknown status is a Failed scan that says so.
 */
export function ecrScanStatus(
  status: string | null | undefined,
  description?: string | null,
): { status: ScanStatus; statusReason?: string } {
  const word = (status ?? '').trim().toUpperCase();
  const mapped = STATUSES.get(word);
  if (mapped === 'Scanned') return { status: 'Scanned' };
  const said = clip(description, 1024);
  if (mapped === undefined) {
    const reason = clip(`ECR scan status ${word || '(none)'}${said ? `: ${said}` : ''}`, 1024);
    return reason === undefined ? { status: 'Failed' } : { status: 'Failed', statusReason: reason };
  }
  return { status: mapped, statusReason: said ?? word };
}

/** Options for one image's findings: the region the host needs, and tags known elsewhere. */
export interface EcrScanOptions {
  region?: string;
  /** Tags from DescribeImages; the payload itself only names the tag it was asked for. */
  tags?: readonly string[];
  now: Date;
}

/**
 * Converts the complete DescribeImageScanFindings output of one image (all pages merged) into
 * its scan. Throws ValidationError when the image has no digest in the payload (it was asked for
 * by tag and has no enhanced finding naming it) or the region is unknown.
 */
export function ecrScanFindingsToScan(output: EcrScanFindings, options: EcrScanOptions): ImageScan {
  const findings = output.imageScanFindings;
  const enhanced = findings?.enhancedFindings ?? [];
  const images = enhanced.map(findingImage).filter((i) => i !== undefined);
  const sameRepository = images.filter((i) => i.repository === output.repositoryName);
  const digest = output.imageId?.imageDigest?.trim() || sameRepository[0]?.digest || images[0]?.digest;
  if (!digest) {
    throw new ValidationError(
      `the ECR findings of ${output.repositoryName} name no image digest; ask for them by digest (--image-id imageDigest=sha256:...)`,
      { details: [{ path: 'imageId.imageDigest', message: 'required' }] },
    );
  }
  const account = checkAccount(output.registryId, 'registryId');
  const region = resolveEcrRegion(
    images.map((i) => i.region),
    options.region,
  );
  // A payload without a status still lists findings: it is a scan.
  const { status, statusReason } = output.imageScanStatus?.status?.trim()
    ? ecrScanStatus(output.imageScanStatus.status, output.imageScanStatus.description)
    : { status: 'Scanned' as const, statusReason: undefined };
  const vulnerabilities = [
    ...(findings?.findings ?? []).map(ecrFindingToVulnerability),
    ...enhanced.flatMap(inspectorFindingToVulnerabilities),
  ];
  const scannedAt =
    findings?.imageScanCompletedAt ?? latestTime(enhanced.map((f) => f.lastObservedAt ?? f.updatedAt));
  return finishScan({
    registry: ecrRegistryHost(account, region),
    repository: output.repositoryName,
    digest,
    tags: cleanTags([
      ...(options.tags ?? []),
      output.imageId?.imageTag,
      ...sameRepository.flatMap((i) => i.tags),
    ]),
    source: 'ecr',
    scannedAt: scannedAt ?? options.now.toISOString(),
    status,
    ...(statusReason === undefined ? {} : { statusReason }),
    vulnerabilities,
  });
}

/** Merges pages of the same image's findings (the CLI merges them itself; the API does not). */
function mergePages(pages: readonly EcrScanFindings[]): EcrScanFindings[] {
  const byImage = new Map<string, EcrScanFindings>();
  for (const page of pages) {
    const id = page.imageId?.imageDigest?.trim().toLowerCase() || `tag:${page.imageId?.imageTag ?? ''}`;
    const key = `${page.registryId}/${page.repositoryName}@${id}`;
    const seen = byImage.get(key);
    if (seen === undefined) {
      byImage.set(key, page);
      continue;
    }
    const a = seen.imageScanFindings;
    const b = page.imageScanFindings;
    byImage.set(key, {
      ...seen,
      imageScanFindings: {
        imageScanCompletedAt: a?.imageScanCompletedAt ?? b?.imageScanCompletedAt,
        findings: [...(a?.findings ?? []), ...(b?.findings ?? [])],
        enhancedFindings: [...(a?.enhancedFindings ?? []), ...(b?.enhancedFindings ?? [])],
      },
    });
  }
  return [...byImage.values()];
}

/**
 * Converts `aws ecr describe-image-scan-findings` output (one object, or an array of them for
 * several images or pages) into scans. `region` is needed unless an enhanced finding's ARN
 * names it. Throws ValidationError for anything else.
 *
 * @example ecrReportToScans(output, { region: 'eu-west-1', now: new Date() })
 */
export function ecrReportToScans(body: unknown, options: ConvertOptions): ImageScan[] {
  if (typeof body !== 'object' || body === null || (!Array.isArray(body) && !('registryId' in body))) {
    throw new ValidationError(
      'invalid ECR report: expected the output of "aws ecr describe-image-scan-findings" (with registryId, repositoryName and imageScanFindings)',
      { details: [{ path: 'registryId', message: 'required' }] },
    );
  }
  const pages = parseInput(
    z.array(EcrScanFindingsSchema),
    Array.isArray(body) ? body : [body],
    'ECR DescribeImageScanFindings output',
  );
  const seen = new Set<string>();
  const scans: ImageScan[] = [];
  for (const page of mergePages(pages)) {
    const scan = ecrScanFindingsToScan(page, {
      ...(options.region === undefined ? {} : { region: options.region }),
      now: options.now,
    });
    // The same image asked for by digest and by tag is still one image.
    if (seen.has(scan.digest.toLowerCase())) continue;
    seen.add(scan.digest.toLowerCase());
    scans.push(scan);
  }
  return scans;
}
