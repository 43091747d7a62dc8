/**
 * Trivy JSON reports (`trivy image --format json`): schema 2 (an object with `SchemaVersion: 2`,
 * `Metadata` and `Results`) and the legacy format of Trivy < 0.20 (a bare array of results).
 */
import { z } from 'zod';
import type { ImageScan, Vulnerability } from '../../core/domain.js';
import { ValidationError } from '../../core/errors.js';
import { parseInput } from '../../core/validation.js';
import { type ConvertOptions, clip, finishScan, scanTime } from './common.js';
import { resolveIdentity } from './identity.js';
import { SeverityLabelSchema } from './severity.js';

const ScoreSchema = z.number().nullish();

const TrivyCvssSchema = z
  .object({ V2Score: ScoreSchema, V3Score: ScoreSchema, V40Score: ScoreSchema })
  .nullish();

const TrivyVulnerabilitySchema = z.object({
  VulnerabilityID: z.string().trim().min(1, 'must not be empty').max(256),
  PkgName: z.string().nullish(),
  PkgID: z.string().nullish(),
  InstalledVersion: z.string().nullish(),
  FixedVersion: z.string().nullish(),
  Severity: SeverityLabelSchema,
  SeveritySource: z.string().nullish(),
  Title: z.string().nullish(),
  CVSS: z.record(z.string(), TrivyCvssSchema).nullish(),
});
/** One entry of a result's `Vulnerabilities`, as validated. */
export type TrivyVulnerability = z.output<typeof TrivyVulnerabilitySchema>;

/**
 * `--show-suppressed` lists findings that `.trivyignore` or VEX removed here; only the
 * vulnerability ones concern an image's scan, and they are kept as Suppressed.
 */
const ModifiedFindingSchema = z
  .object({ Type: z.string().nullish(), Status: z.string().nullish(), Finding: z.unknown() })
  .transform((f, ctx) => {
    if (f.Type !== 'vulnerability') return undefined;
    const parsed = TrivyVulnerabilitySchema.safeParse(f.Finding);
    if (parsed.success) return parsed.data;
    for (const issue of parsed.error.issues) {
      ctx.addIssue({ code: 'custom', path: ['Finding', ...issue.path], message: issue.message });
    }
    return z.NEVER;
  });

const TrivyResultSchema = z.object({
  Target: z.string().nullish(),
  // Trivy writes `"Vulnerabilities": null` for a target with nothing found.
  Vulnerabilities: z.array(TrivyVulnerabilitySchema).nullish(),
  ExperimentalModifiedFindings: z.array(ModifiedFindingSchema).nullish(),
});
type TrivyResult = z.output<typeof TrivyResultSchema>;

const TrivyV2Schema = z.object({
  SchemaVersion: z.literal(2, 'expected SchemaVersion 2'),
  ArtifactName: z.string().nullish(),
  CreatedAt: z.string().nullish(),
  Metadata: z
    .object({
      RepoDigests: z.array(z.string()).nullish(),
      RepoTags: z.array(z.string()).nullish(),
    })
    .nullish(),
  // Omitted altogether when Trivy found no packages to report on.
  Results: z.array(TrivyResultSchema).nullish(),
});

const TrivyLegacySchema = z.array(TrivyResultSchema);

const isScore = (n: number | null | undefined): n is number =>
  typeof n === 'number' && Number.isFinite(n) && n >= 0 && n <= 10;

type TrivyCvss = NonNullable<z.output<typeof TrivyCvssSchema>>;
type ScoreKey = 'V3Score' | 'V2Score' | 'V40Score';
const SCORE_ORDER: readonly ScoreKey[] = ['V3Score', 'V2Score', 'V40Score'];

/**
 * The CVSS base score of a Trivy finding: the vendor that set the severity
 * (`SeveritySource`) when it scored it, else the highest V3 score over all vendors, else V2.
 */
export function trivyCvss(
  cvss: Record<string, TrivyCvss | null | undefined> | null | undefined,
  severitySource?: string | null,
): number | undefined {
  if (!cvss) return undefined;
  if (severitySource && Object.hasOwn(cvss, severitySource)) {
    const vendor = cvss[severitySource];
    for (const key of SCORE_ORDER) {
      const score = vendor?.[key];
      if (isScore(score)) return score;
    }
  }
  const vendors = Object.values(cvss);
  for (const key of SCORE_ORDER) {
    const scores = vendors.map((v) => v?.[key]).filter(isScore);
    if (scores.length > 0) return Math.max(...scores);
  }
  return undefined;
}

/** Converts one Trivy finding into a domain Vulnerability. */
export function trivyVulnerabilityToVulnerability(v: TrivyVulnerability): Vulnerability {
  const fixedVersion = clip(v.FixedVersion, 512);
  const vulnerability: Vulnerability = {
    id: v.VulnerabilityID,
    ...v.Severity,
    fixAvailable: fixedVersion !== undefined,
  };
  const cvss = trivyCvss(v.CVSS, v.SeveritySource);
  if (cvss !== undefined) vulnerability.cvss = cvss;
  const pkg = clip(v.PkgName ?? v.PkgID, 512);
  if (pkg !== undefined) vulnerability.package = pkg;
  const version = clip(v.InstalledVersion, 256);
  if (version !== undefined) vulnerability.version = version;
  if (fixedVersion !== undefined) vulnerability.fixedVersion = fixedVersion;
  const title = clip(v.Title, 1024);
  if (title !== undefined) vulnerability.title = title;
  return vulnerability;
}

function resultsToVulnerabilities(results: readonly TrivyResult[]): Vulnerability[] {
  const out: Vulnerability[] = [];
  for (const result of results) {
    for (const v of result.Vulnerabilities ?? []) out.push(trivyVulnerabilityToVulnerability(v));
    for (const f of result.ExperimentalModifiedFindings ?? []) {
      if (f !== undefined) out.push({ ...trivyVulnerabilityToVulnerability(f), state: 'Suppressed' });
    }
  }
  return out;
}

const WHAT = 'Trivy report';

/** The image name in a legacy OS target, `debian:10.8 (debian 10.8)` -> `debian:10.8`. */
function legacyImageName(results: readonly TrivyResult[]): string | undefined {
  const target = results[0]?.Target;
  return target ? target.replace(/\s+\([^()]*\)$/, '') : undefined;
}

/**
 * Converts a Trivy JSON report (schema 2 or legacy) into the scan of the image it describes.
 * Identity comes from `Metadata.RepoDigests` (legacy reports have none: pass `image`), the
 * scan time from `CreatedAt`. Throws ValidationError for anything that is not such a report.
 */
export function trivyReportToScans(body: unknown, options: ConvertOptions): ImageScan[] {
  if (Array.isArray(body)) {
    const results = parseInput(TrivyLegacySchema, body, `${WHAT} (legacy format)`);
    const identity = resolveIdentity(
      'Trivy',
      { digestRefs: [], tagRefs: [], scanned: legacyImageName(results) },
      options.image,
    );
    return [
      finishScan({
        ...identity,
        source: 'trivy',
        scannedAt: scanTime(undefined, options.now),
        vulnerabilities: resultsToVulnerabilities(results),
      }),
    ];
  }
  if (typeof body !== 'object' || body === null || !('SchemaVersion' in body)) {
    throw new ValidationError(
      `invalid ${WHAT}: expected the output of "trivy image --format json" (an object with SchemaVersion 2, or the legacy array)`,
      { details: [{ path: '', message: 'expected a Trivy JSON report' }] },
    );
  }
  const report = parseInput(TrivyV2Schema, body, WHAT);
  const identity = resolveIdentity(
    'Trivy',
    {
      // `trivy image alpine@sha256:...` names its digest in ArtifactName even when the
      // image metadata has no RepoDigests.
      digestRefs: [...(report.Metadata?.RepoDigests ?? []), report.ArtifactName],
      tagRefs: report.Metadata?.RepoTags ?? [],
      scanned: report.ArtifactName,
    },
    options.image,
  );
  return [
    finishScan({
      ...identity,
      source: 'trivy',
      scannedAt: scanTime(report.CreatedAt, options.now),
      vulnerabilities: resultsToVulnerabilities(report.Results ?? []),
    }),
  ];
}
