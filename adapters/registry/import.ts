/**
 * `POST /findings:import?format=F` (DESIGN.md §4): turns a report, as a tool or API emits it,
 * into image scans. Each format has its own converter; this module only picks one.
 */
import type { ImageScan } from '../../core/domain.js';
import { ValidationError } from '../../core/errors.js';
import { azureResourceGraphToScans } from './azure-resource-graph.js';
import type { ConvertOptions } from './common.js';
import { ecrReportToScans } from './ecr.js';
import { grafeasReportToScans } from './grafeas.js';
import { grypeReportToScans } from './grype.js';
import { inspector2ReportToScans } from './inspector2.js';
import { nativeReportToScans } from './native.js';
import { trivyReportToScans } from './trivy.js';

/** The report formats `findings:import` accepts. */
export const IMPORT_FORMATS = [
  'native',
  'trivy',
  'grype',
  'ecr',
  'inspector2',
  'azure-resource-graph',
  'grafeas',
] as const;
export type ImportFormat = (typeof IMPORT_FORMATS)[number];

/** Options of an import: `image` names the image of a report that lacks a digest. */
export interface ParseReportOptions {
  /** A reference with a digest (`ghcr.io/x/y:1.0@sha256:...`), or tag-only when the report has the digest. */
  image?: string;
  /** The AWS region, for `ecr` payloads, which name the account but not the region. */
  region?: string;
  /** The scan time of reports that carry none. */
  now: Date;
}

const CONVERTERS: Readonly<Record<ImportFormat, (body: unknown, options: ConvertOptions) => ImageScan[]>> = {
  native: nativeReportToScans,
  trivy: trivyReportToScans,
  grype: grypeReportToScans,
  ecr: ecrReportToScans,
  inspector2: inspector2ReportToScans,
  'azure-resource-graph': azureResourceGraphToScans,
  grafeas: grafeasReportToScans,
};

/** True when `format` is exactly one of IMPORT_FORMATS (parseReport lower-cases first). */
export function isImportFormat(format: string): format is ImportFormat {
  return (IMPORT_FORMATS as readonly string[]).includes(format);
}

/**
 * Parses a scan report of the given format into validated scans, one per image digest.
 * Throws ValidationError (HTTP 400) for an unknown format, a body of the wrong shape (zod
 * issue paths in `details`), or a report whose image has no digest and no `image` option.
 *
 * @example parseReport('trivy', report, { image: 'ghcr.io/acme/api:1.4@sha256:…', now: new Date() })
 */
export function parseReport(format: string, body: unknown, options: ParseReportOptions): ImageScan[] {
  const name = String(format ?? '')
    .trim()
    .toLowerCase();
  if (!isImportFormat(name)) {
    throw new ValidationError(
      `unknown import format "${String(format).slice(0, 64)}"; expected one of ${IMPORT_FORMATS.join(', ')}`,
      { details: [{ path: 'format', message: `expected one of ${IMPORT_FORMATS.join(', ')}` }] },
    );
  }
  const convert: ConvertOptions = { now: options.now };
  if (options.image?.trim()) convert.image = options.image;
  if (options.region?.trim()) convert.region = options.region.trim();
  return CONVERTERS[name](body, convert);
}
