/**
 * One severity scale for every source (DESIGN.md §2): each registry and scanner spells its
 * ratings its own way, and the evaluator only knows Critical, High, Medium, Low, Negligible.
 */
import { z } from 'zod';
import type { Severity } from '../../core/domain.js';
import { ValidationError } from '../../core/errors.js';

/**
 * Every label a source is known to emit, lower-cased. A Map, not an object literal, so that a
 * hostile label such as `constructor` or `__proto__` never reaches Object.prototype.
 */
const LABELS = new Map<string, Severity>([
  ['critical', 'Critical'],
  ['high', 'High'],
  // Red Hat and GitHub advisories rate Important / Moderate.
  ['important', 'High'],
  ['medium', 'Medium'],
  ['moderate', 'Medium'],
  ['low', 'Low'],
  ['negligible', 'Negligible'],
  // ECR basic scanning.
  ['informational', 'Negligible'],
  ['info', 'Negligible'],
  ['undefined', 'Negligible'],
  // ECR enhanced scanning and Inspector.
  ['untriaged', 'Negligible'],
  // Artifact Analysis.
  ['minimal', 'Negligible'],
  ['severity_unspecified', 'Negligible'],
  ['unspecified', 'Negligible'],
  // Trivy and Grype.
  ['unknown', 'Negligible'],
  // CVSS qualitative rating of a 0.0 score.
  ['none', 'Negligible'],
]);

/** A severity on Portcullis' scale, with the source's label when it meant something else. */
export interface NormalizedSeverity {
  severity: Severity;
  /** Set only when the source's word differs from `severity` (`UNTRIAGED`, `Moderate`), not for `HIGH`. */
  originalSeverity?: string;
}

/**
 * Maps any source's severity label onto Critical/High/Medium/Low/Negligible, case-insensitively.
 * Informational, minimal, untriaged, unknown and undefined become Negligible and keep their label
 * in `originalSeverity`. A missing or blank label is Negligible (Trivy's own reading of it).
 * Throws ValidationError for a label no source uses, rather than guess that it is harmless.
 *
 * @example normalizeSeverity('UNTRIAGED') // { severity: 'Negligible', originalSeverity: 'UNTRIAGED' }
 */
export function normalizeSeverity(label: string | undefined): NormalizedSeverity {
  const original = label?.trim() ?? '';
  if (original === '') return { severity: 'Negligible' };
  const severity = LABELS.get(original.toLowerCase());
  if (severity === undefined) {
    throw new ValidationError(`unknown severity "${original.slice(0, 64)}"`, {
      details: [{ path: 'severity', message: `expected one of ${[...LABELS.keys()].join(', ')}` }],
    });
  }
  return severity.toLowerCase() === original.toLowerCase()
    ? { severity }
    : { severity, originalSeverity: original };
}

/**
 * A zod field for a source's severity label: validates it and yields the normalized pair, so
 * an unknown label becomes an issue with its path instead of an exception mid-conversion.
 */
export const SeverityLabelSchema = z
  .string()
  .max(64)
  .nullish()
  .transform((label, ctx): NormalizedSeverity => {
    try {
      return normalizeSeverity(label ?? undefined);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message });
      return z.NEVER;
    }
  });
