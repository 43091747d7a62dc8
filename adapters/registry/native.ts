/**
 * Portcullis' own import format (DESIGN.md §4): `{ images: [ { registry, repository, digest,
 * tags, status, scannedAt, vulnerabilities } ] }`, for scanners without a converter of their
 * own. Validated strictly: an unknown field is a mistake worth reporting, not ignoring.
 */
import { z } from 'zod';
import {
  DigestSchema,
  type ImageScan,
  ScanStatusSchema,
  type Vulnerability,
  VulnerabilitySchema,
} from '../../core/domain.js';
import { ValidationError } from '../../core/errors.js';
import { parseInput } from '../../core/validation.js';
import { type ConvertOptions, finishScan } from './common.js';
import { refFromReport } from './identity.js';
import { SeverityLabelSchema } from './severity.js';

const Text = (max: number) => z.string().trim().min(1, 'must not be empty').max(max);

/** The tag grammar of the OCI distribution spec. */
const TagSchema = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, 'not a valid tag');

const NativeVulnerabilitySchema = z.strictObject({
  id: Text(256),
  severity: SeverityLabelSchema,
  originalSeverity: z.string().trim().max(64).optional(),
  cvss: z.number().min(0).max(10).optional(),
  package: z.string().trim().max(512).optional(),
  version: z.string().trim().max(256).optional(),
  fixedVersion: z.string().trim().max(512).optional(),
  fixAvailable: z.boolean().optional(),
  state: VulnerabilitySchema.shape.state,
  title: z.string().trim().max(1024).optional(),
});
/** One vulnerability of a native image entry, as validated. */
export type NativeVulnerability = z.output<typeof NativeVulnerabilitySchema>;

const NativeImageSchema = z.strictObject({
  registry: Text(255),
  repository: Text(512),
  digest: DigestSchema,
  tags: z.array(TagSchema).max(1000).default([]),
  status: ScanStatusSchema.default('Scanned'),
  statusReason: z.string().trim().max(1024).optional(),
  scannedAt: z.iso.datetime({ offset: true }).optional(),
  vulnerabilities: z.array(NativeVulnerabilitySchema).max(100_000).default([]),
  // What GET /images/{digest} returns may be sent back as it is: these are recomputed or
  // implied by the format, so they are accepted and ignored.
  source: z.string().optional(),
  counts: z.unknown().optional(),
});
type NativeImage = z.output<typeof NativeImageSchema>;

const NativeReportSchema = z.strictObject({
  images: z.array(NativeImageSchema).max(10_000),
});

/** Converts one native vulnerability; a given `fixedVersion` implies a fix is available. */
export function nativeVulnerabilityToVulnerability(v: NativeVulnerability): Vulnerability {
  const out: Vulnerability = { id: v.id, severity: v.severity.severity };
  const original = v.severity.originalSeverity ?? v.originalSeverity;
  if (original) out.originalSeverity = original;
  if (v.cvss !== undefined) out.cvss = v.cvss;
  if (v.package) out.package = v.package;
  if (v.version) out.version = v.version;
  if (v.fixedVersion) out.fixedVersion = v.fixedVersion;
  const fixAvailable = v.fixAvailable ?? (v.fixedVersion ? true : undefined);
  if (fixAvailable !== undefined) out.fixAvailable = fixAvailable;
  if (v.state !== undefined) out.state = v.state;
  if (v.title) out.title = v.title;
  return out;
}

const DOCKER_HUB = new Set([
  'docker.io',
  'index.docker.io',
  'registry-1.docker.io',
  'registry.hub.docker.com',
]);

/**
 * Normalizes registry and repository the way admission normalizes image references
 * (`docker.io` + `nginx` -> `docker.io/library/nginx`), so a native scan is found for a pod.
 */
function normalizeLocation(image: NativeImage, index: number): { registry: string; repository: string } {
  const ref = refFromReport(`${image.registry}/${image.repository}@${image.digest}`);
  const given = image.registry.toLowerCase();
  const sameRegistry =
    ref !== undefined && (ref.registry === given || (DOCKER_HUB.has(given) && ref.registry === 'docker.io'));
  if (ref === undefined || !sameRegistry) {
    const path = ref === undefined ? 'repository' : 'registry';
    const message =
      ref === undefined
        ? `"${image.registry}/${image.repository}" is not an image repository`
        : `"${image.registry}" is not a registry host (one with a dot or a port, or localhost)`;
    throw new ValidationError(`invalid native report: images.${index}.${path}: ${message}`, {
      details: [{ path: `images.${index}.${path}`, message }],
    });
  }
  return { registry: ref.registry, repository: ref.repository };
}

/**
 * Converts a native report into scans: severities normalized, counts computed (any `counts`
 * in the input are ignored), status Scanned and scan time `now` unless given. Throws
 * ValidationError naming the offending field, also for an image listed twice.
 */
export function nativeReportToScans(body: unknown, options: ConvertOptions): ImageScan[] {
  if (options.image?.trim()) {
    throw new ValidationError('image does not apply to native reports: each entry names its image', {
      details: [{ path: 'image', message: 'not allowed with format=native' }],
    });
  }
  const report = parseInput(NativeReportSchema, body, 'native report');
  const seen = new Map<string, number>();
  return report.images.map((image, index) => {
    const location = normalizeLocation(image, index);
    const key = image.digest.toLowerCase();
    const first = seen.get(key);
    if (first !== undefined) {
      const message = `digest ${image.digest} is already listed at images.${first}`;
      throw new ValidationError(`invalid native report: images.${index}.digest: ${message}`, {
        details: [{ path: `images.${index}.digest`, message }],
      });
    }
    seen.set(key, index);
    return finishScan({
      ...location,
      digest: image.digest,
      tags: image.tags,
      source: 'native',
      scannedAt: new Date(image.scannedAt ?? options.now).toISOString(),
      status: image.status,
      ...(image.statusReason ? { statusReason: image.statusReason } : {}),
      vulnerabilities: image.vulnerabilities.map(nativeVulnerabilityToVulnerability),
    });
  });
}
