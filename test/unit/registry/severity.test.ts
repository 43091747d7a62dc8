import { describe, expect, it } from 'vitest';
import { normalizeSeverity } from '../../../adapters/registry/severity.js';
import { ValidationError } from '../../../core/errors.js';

describe('normalizeSeverity', () => {
  it.each([
    // Trivy (upper case), Grype and Azure (title case), ECR, Artifact Analysis.
    ['CRITICAL', 'Critical'],
    ['Critical', 'Critical'],
    ['critical', 'Critical'],
    ['HIGH', 'High'],
    ['High', 'High'],
    ['MEDIUM', 'Medium'],
    ['mEdIuM', 'Medium'],
    ['LOW', 'Low'],
    ['Low', 'Low'],
    ['Negligible', 'Negligible'],
    ['NEGLIGIBLE', 'Negligible'],
    [' High ', 'High'],
  ] as const)('maps %j to %s without keeping the label', (label, severity) => {
    expect(normalizeSeverity(label)).toEqual({ severity });
  });

  it.each([
    ['INFORMATIONAL', 'Negligible'],
    ['Informational', 'Negligible'],
    ['UNDEFINED', 'Negligible'],
    ['UNTRIAGED', 'Negligible'],
    ['SEVERITY_UNSPECIFIED', 'Negligible'],
    ['MINIMAL', 'Negligible'],
    ['UNKNOWN', 'Negligible'],
    ['Unknown', 'Negligible'],
    ['Moderate', 'Medium'],
    ['Important', 'High'],
  ] as const)('maps %j to %s and keeps the original label', (label, severity) => {
    expect(normalizeSeverity(label)).toEqual({ severity, originalSeverity: label });
  });

  it('reads a missing or blank label as Negligible with nothing to keep', () => {
    expect(normalizeSeverity(undefined)).toEqual({ severity: 'Negligible' });
    expect(normalizeSeverity('  ')).toEqual({ severity: 'Negligible' });
  });

  it.each(['SEVERE', 'P1', 'constructor', '__proto__', 'toString', 'hasOwnProperty'])(
    'rejects %j instead of guessing',
    (label) => {
      expect(() => normalizeSeverity(label)).toThrow(ValidationError);
      expect(() => normalizeSeverity(label)).toThrow(/unknown severity/);
    },
  );
});
