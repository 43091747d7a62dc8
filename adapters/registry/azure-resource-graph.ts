/**
 * Microsoft Defender for Cloud container-registry vulnerability findings, as Azure Resource
 * Graph rows of `microsoft.security/assessments/subassessments` (one row per vulnerability per
 * image). Accepted as the bare rows array, the Resource Graph response (`{ data, $skipToken }`,
 * also in the legacy table format), `az graph query` output (`{ data, skip_token }`) or the
 * Sub-Assessments REST list (`{ value, nextLink }`). Defender reports registry images of Azure,
 * AWS and GCP registries alike; rows about anything but a container image are left out.
 */
import { z } from 'zod';
import type { ImageScan, Vulnerability } from '../../core/domain.js';
import { ValidationError } from '../../core/errors.js';
import { parseInput } from '../../core/validation.js';
import { type ConvertOptions, cleanTags, clip, cvssScore, finishScan, WireTimeSchema } from './common.js';
import { normalizeSeverity } from './severity.js';

const CvssByVersionSchema = z
  .record(z.string(), z.object({ base: z.number().nullish() }).nullish())
  .nullish();

/** One Resource Graph row of a Defender sub-assessment, with the fields Portcullis reads. */
export const SubAssessmentRowSchema = z.object({
  id: z.string().nullish(),
  type: z.string().nullish(),
  timeGenerated: WireTimeSchema,
  properties: z
    .object({
      id: z.string().nullish(),
      displayName: z.string().nullish(),
      timeGenerated: WireTimeSchema,
      status: z
        .object({
          code: z.string().nullish(),
          severity: z.string().nullish(),
          cause: z.string().nullish(),
        })
        .nullish(),
      additionalData: z
        .object({
          assessedResourceType: z.string().nullish(),
          cvssV30Score: z.number().nullish(),
          vulnerabilityDetails: z
            .object({
              severity: z.string().nullish(),
              cveId: z.string().nullish(),
              cvss: CvssByVersionSchema,
            })
            .nullish(),
          artifactDetails: z
            .object({
              registryHost: z.string().nullish(),
              repositoryName: z.string().nullish(),
              digest: z.string().nullish(),
              tags: z.array(z.string()).nullish(),
              artifactType: z.string().nullish(),
            })
            .nullish(),
          softwareDetails: z
            .object({
              packageName: z.string().nullish(),
              version: z.string().nullish(),
              fixedVersion: z.string().nullish(),
              fixStatus: z.string().nullish(),
            })
            .nullish(),
        })
        .nullish(),
    })
    .nullish(),
});
export type SubAssessmentRow = z.output<typeof SubAssessmentRowSchema>;

/** True when a row is a finding on a container image (registry image of any cloud). */
export function isContainerImageRow(row: SubAssessmentRow): boolean {
  const artifact = row.properties?.additionalData?.artifactDetails;
  if (!artifact?.digest) return false;
  const type = artifact.artifactType?.trim().toLowerCase();
  return type === undefined || type === '' || type === 'containerimage';
}

function fail(path: string, message: string): never {
  throw new ValidationError(`invalid Resource Graph row: ${path}: ${message}`, {
    details: [{ path, message }],
  });
}

/** When the row was generated (the sub-assessment's time, else the row's). */
export function rowTime(row: SubAssessmentRow): string | undefined {
  return row.properties?.timeGenerated ?? row.timeGenerated;
}

const FIX_STATUS = new Map<string, boolean>([
  ['fixavailable', true],
  ['nofixavailable', false],
  ['wontfix', false],
  ['scheduled', false],
]);

const STATE = new Map<string, Vulnerability['state']>([
  // Exempted in Defender, or its parent assessment disabled.
  ['notapplicable', 'Suppressed'],
  ['healthy', 'Closed'],
]);

/**
 * Converts one sub-assessment row into a domain Vulnerability. Severity is the
 * sub-assessment's (`status.severity`, title case); `FixAvailable` can come without a
 * `fixedVersion` (an empty string). An `Unhealthy` row is a present finding; `NotApplicable`
 * (exempt) is kept as Suppressed and `Healthy` as Closed, neither of which counts.
 */
export function subAssessmentToVulnerability(row: SubAssessmentRow): Vulnerability {
  const p = row.properties;
  const data = p?.additionalData;
  const id = clip(p?.id ?? data?.vulnerabilityDetails?.cveId ?? p?.displayName, 256);
  if (id === undefined) fail('properties.id', 'required (the vulnerability id)');
  const v: Vulnerability = {
    id,
    ...normalizeSeverity(p?.status?.severity ?? data?.vulnerabilityDetails?.severity ?? undefined),
  };
  const byVersion = data?.vulnerabilityDetails?.cvss;
  const cvss =
    cvssScore(data?.cvssV30Score) ??
    cvssScore(byVersion?.['3.0']?.base) ??
    cvssScore(byVersion?.['2.0']?.base);
  if (cvss !== undefined) v.cvss = cvss;
  const software = data?.softwareDetails;
  const pkg = clip(software?.packageName, 512);
  if (pkg !== undefined) v.package = pkg;
  const version = clip(software?.version, 256);
  if (version !== undefined) v.version = version;
  const fixedVersion = clip(software?.fixedVersion, 512);
  if (fixedVersion !== undefined) v.fixedVersion = fixedVersion;
  const fix = FIX_STATUS.get((software?.fixStatus ?? '').trim().toLowerCase());
  if (fix !== undefined || fixedVersion !== undefined) v.fixAvailable = fix ?? true;
  const state = STATE.get((p?.status?.code ?? '').trim().toLowerCase());
  if (state !== undefined) v.state = state;
  return v;
}

/**
 * Builds the complete scan of one image from all its rows (the caller groups them by digest).
 * Tags come from the newest row; the scan time is the newest `timeGenerated`.
 */
export function subAssessmentsToScan(rows: readonly SubAssessmentRow[], now: Date): ImageScan {
  const newest = rows.reduce<SubAssessmentRow | undefined>(
    (a, b) => (a === undefined || (rowTime(b) ?? '') > (rowTime(a) ?? '') ? b : a),
    undefined,
  );
  const artifact = newest?.properties?.additionalData?.artifactDetails;
  const registry = artifact?.registryHost?.trim().toLowerCase();
  if (!registry) fail('properties.additionalData.artifactDetails.registryHost', 'required');
  const repository = artifact?.repositoryName?.trim();
  if (!repository) fail('properties.additionalData.artifactDetails.repositoryName', 'required');
  const time = newest === undefined ? undefined : rowTime(newest);
  return finishScan({
    registry,
    repository,
    digest: artifact?.digest?.trim() ?? '',
    tags: cleanTags(artifact?.tags ?? []),
    source: 'acr',
    scannedAt: time ?? now.toISOString(),
    status: 'Scanned',
    vulnerabilities: rows.map(subAssessmentToVulnerability),
  });
}

const TableSchema = z.object({
  columns: z.array(z.object({ name: z.string() })),
  rows: z.array(z.array(z.unknown())),
});

/** The rows in a body: a bare array, `data` (objects or the legacy table), or `value`. */
export function resourceGraphRows(body: unknown): unknown[] {
  if (Array.isArray(body)) return body;
  if (typeof body === 'object' && body !== null) {
    const data = (body as { data?: unknown }).data;
    if (Array.isArray(data)) return data;
    if (typeof data === 'object' && data !== null) {
      const table = parseInput(TableSchema, data, 'Resource Graph table');
      return table.rows.map((cells) => Object.fromEntries(table.columns.map((c, i) => [c.name, cells[i]])));
    }
    const value = (body as { value?: unknown }).value;
    if (Array.isArray(value)) return value;
  }
  throw new ValidationError(
    'invalid Resource Graph result: expected the rows of a securityresources sub-assessment query (an array, or { data: [...] })',
    { details: [{ path: 'data', message: 'required' }] },
  );
}

/** Groups container-image rows by digest (first-seen order), leaving other rows out. */
export function groupRowsByDigest(rows: readonly SubAssessmentRow[]): SubAssessmentRow[][] {
  const byDigest = new Map<string, SubAssessmentRow[]>();
  for (const row of rows) {
    if (!isContainerImageRow(row)) continue;
    const key = (row.properties?.additionalData?.artifactDetails?.digest ?? '').trim().toLowerCase();
    const group = byDigest.get(key);
    if (group === undefined) byDigest.set(key, [row]);
    else group.push(row);
  }
  return [...byDigest.values()];
}

/**
 * Converts Defender container-registry sub-assessment rows into one scan per image digest.
 * Throws ValidationError for a body of another shape or an image row missing its identity.
 *
 * @example azureResourceGraphToScans(JSON.parse(azGraphQueryOutput), { now: new Date() })
 */
export function azureResourceGraphToScans(body: unknown, options: ConvertOptions): ImageScan[] {
  const rows = parseInput(z.array(SubAssessmentRowSchema), resourceGraphRows(body), 'Resource Graph rows');
  return groupRowsByDigest(rows).map((group) => subAssessmentsToScan(group, options.now));
}
