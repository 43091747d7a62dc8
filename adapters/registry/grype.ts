/**
 * Grype JSON reports (`grype IMAGE -o json`), bare or wrapped in a Kubescape kubevuln CVE
 * manifest (the Grype document under `.Content`, the image under `.ID`).
 */
import { z } from 'zod';
import type { ImageScan, Vulnerability } from '../../core/domain.js';
import { ValidationError } from '../../core/errors.js';
import { parseInput } from '../../core/validation.js';
import { type ConvertOptions, clip, finishScan, scanTime } from './common.js';
import { resolveIdentity } from './identity.js';
import { SeverityLabelSchema } from './severity.js';

const GrypeCvssSchema = z.object({
  version: z.string().nullish(),
  metrics: z.object({ baseScore: z.number().nullish() }).nullish(),
});
type GrypeCvss = z.output<typeof GrypeCvssSchema>;

const GrypeMatchSchema = z.object({
  vulnerability: z.object({
    id: z.string().trim().min(1, 'must not be empty').max(256),
    severity: SeverityLabelSchema,
    cvss: z.array(GrypeCvssSchema).nullish(),
    fix: z.object({ state: z.string().nullish(), versions: z.array(z.string()).nullish() }).nullish(),
  }),
  relatedVulnerabilities: z.array(z.object({ cvss: z.array(GrypeCvssSchema).nullish() })).nullish(),
  artifact: z.object({ name: z.string().nullish(), version: z.string().nullish() }),
});
/** One entry of `matches` (or `ignoredMatches`), as validated. */
export type GrypeMatch = z.output<typeof GrypeMatchSchema>;

const GrypeImageTargetSchema = z.object({
  userInput: z.string().nullish(),
  manifestDigest: z.string().nullish(),
  repoDigests: z.array(z.string()).nullish(),
  tags: z.array(z.string()).nullish(),
});

const GrypeDocumentSchema = z.object({
  // Grype writes `[]` for a clean image; a Go nil slice would be `null`, which means the same.
  matches: z.array(GrypeMatchSchema).nullable(),
  ignoredMatches: z.array(GrypeMatchSchema).nullish(),
  source: z
    .object({
      type: z.string().nullish(),
      // A directory or file scan names its target with a bare string.
      target: z.union([GrypeImageTargetSchema, z.string()]).nullish(),
    })
    .nullish(),
  descriptor: z.object({ timestamp: z.string().nullish() }).nullish(),
});
type GrypeDocument = z.output<typeof GrypeDocumentSchema>;

const isScore = (n: number | null | undefined): n is number =>
  typeof n === 'number' && Number.isFinite(n) && n >= 0 && n <= 10;

/** Highest CVSS v3 base score, else v2, else any other version. */
function bestScore(entries: readonly GrypeCvss[]): number | undefined {
  const major = (e: GrypeCvss) => (e.version ?? '').trim().split('.')[0];
  for (const want of ['3', '2', undefined]) {
    const scores = entries
      .filter((e) => want === undefined || major(e) === want)
      .map((e) => e.metrics?.baseScore)
      .filter(isScore);
    if (scores.length > 0) return Math.max(...scores);
  }
  return undefined;
}

/**
 * Converts one Grype match into a domain Vulnerability. Distro feeds usually leave
 * `vulnerability.cvss` empty, so the NVD record in `relatedVulnerabilities` supplies the score.
 */
export function grypeMatchToVulnerability(match: GrypeMatch): Vulnerability {
  const v = match.vulnerability;
  const versions = (v.fix?.versions ?? []).map((s) => s.trim()).filter((s) => s !== '');
  const vulnerability: Vulnerability = {
    id: v.id,
    ...v.severity,
    fixAvailable: v.fix?.state?.toLowerCase() === 'fixed' || versions.length > 0,
  };
  const cvss =
    bestScore(v.cvss ?? []) ?? bestScore((match.relatedVulnerabilities ?? []).flatMap((r) => r.cvss ?? []));
  if (cvss !== undefined) vulnerability.cvss = cvss;
  const pkg = clip(match.artifact.name, 512);
  if (pkg !== undefined) vulnerability.package = pkg;
  const version = clip(match.artifact.version, 256);
  if (version !== undefined) vulnerability.version = version;
  const fixedVersion = clip(versions.join(', '), 512);
  if (fixedVersion !== undefined) vulnerability.fixedVersion = fixedVersion;
  return vulnerability;
}

/** Sources stereoscope reads from files, whose manifest digest no registry knows. */
const FILE_SCHEME = /^(?:docker-archive|oci-archive|oci-dir|singularity|dir|file|sbom):/i;
/** Sources that name a registry image; `registry:2` (the image) keeps its name. */
const IMAGE_SCHEME = /^(?:docker|podman|containerd|registry):(?=.*[/:@])/i;

/** The registry reference the user asked Grype to scan, if it was one. */
function scannedReference(userInput: string | null | undefined): string | undefined {
  const input = userInput?.trim();
  if (!input || FILE_SCHEME.test(input)) return undefined;
  return input.replace(IMAGE_SCHEME, '');
}

/** Finds the Grype document in a body: bare, or a kubevuln manifest's `.Content`. */
function unwrap(body: unknown): { document: unknown; wrapperId?: unknown } {
  if (typeof body !== 'object' || body === null || Array.isArray(body) || 'matches' in body) {
    return { document: body };
  }
  if (!('Content' in body)) {
    throw new ValidationError(
      'invalid Grype report: expected the output of "grype IMAGE -o json" (with matches)',
      {
        details: [{ path: 'matches', message: 'required' }],
      },
    );
  }
  const wrapper = body as { Content: unknown; ID?: unknown };
  let document = wrapper.Content;
  if (typeof document === 'string') {
    try {
      document = JSON.parse(document) as unknown;
    } catch (e) {
      throw new ValidationError('invalid Grype report: Content is not JSON', {
        details: [{ path: 'Content', message: 'not JSON' }],
        cause: e,
      });
    }
  }
  return { document, wrapperId: wrapper.ID };
}

function documentRefs(doc: GrypeDocument, wrapperId: unknown) {
  const target = typeof doc.source?.target === 'object' ? doc.source.target : undefined;
  const scanned = scannedReference(target?.userInput);
  const digestRefs: unknown[] = [...(target?.repoDigests ?? []), wrapperId, scanned];
  // The manifest digest Grype pulled is a pullable digest of the scanned repository, but only
  // when the input was a registry or daemon image (not an archive with a made-up manifest).
  const manifestDigest = target?.manifestDigest?.trim();
  if (scanned && !scanned.includes('@') && manifestDigest) digestRefs.push(`${scanned}@${manifestDigest}`);
  return { digestRefs, tagRefs: [...(target?.tags ?? []), scanned], scanned: scanned ?? wrapperId };
}

/**
 * Converts a Grype JSON report into the scan of the image it describes. Identity comes from
 * `source.target.repoDigests`, a digest-pinned `userInput` or `manifestDigest`, or a kubevuln
 * wrapper's `ID`; the scan time from `descriptor.timestamp`. `ignoredMatches` are kept as
 * Suppressed. Throws ValidationError for anything that is not such a report.
 */
export function grypeReportToScans(body: unknown, options: ConvertOptions): ImageScan[] {
  const { document, wrapperId } = unwrap(body);
  const doc = parseInput(GrypeDocumentSchema, document, 'Grype report');
  const identity = resolveIdentity('Grype', documentRefs(doc, wrapperId), options.image);
  const vulnerabilities = [
    ...(doc.matches ?? []).map(grypeMatchToVulnerability),
    ...(doc.ignoredMatches ?? []).map(
      (m): Vulnerability => ({ ...grypeMatchToVulnerability(m), state: 'Suppressed' }),
    ),
  ];
  return [
    finishScan({
      ...identity,
      source: 'grype',
      scannedAt: scanTime(doc.descriptor?.timestamp, options.now),
      vulnerabilities,
    }),
  ];
}
