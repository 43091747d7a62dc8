/** Fixture loading and shared assertions for the registry import tests. */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { expect } from 'vitest';
import { type ImageScan, ImageScanSchema } from '../../../core/domain.js';
import { ValidationError } from '../../../core/errors.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/scans');

/** A scan report from test/fixtures/scans, gunzipped when its name ends in .gz. */
export function loadScanFixture(name: string): unknown {
  const raw = readFileSync(join(FIXTURES, name));
  return JSON.parse((name.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8'));
}

const CLOUD_FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/cloud');

/** A cloud API payload from test/fixtures/cloud (`ecr/...`, `inspector/...`, `azure/...`, `gcp/...`). */
export function loadCloudFixture(name: string): unknown {
  return JSON.parse(readFileSync(join(CLOUD_FIXTURES, name), 'utf8'));
}

export const NOW = new Date('2025-06-01T12:00:00Z');
export const DIGEST_A = `sha256:${'a'.repeat(64)}`;
export const DIGEST_B = `sha256:${'b'.repeat(64)}`;

/** Asserts every scan passes the domain schema unchanged, as the store will require. */
export function expectValidScans(scans: readonly ImageScan[]): void {
  for (const scan of scans) expect(ImageScanSchema.parse(scan)).toEqual(scan);
}

/** Runs `fn` and returns the ValidationError it throws; fails on success or any other error. */
export function validationError(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError);
    return e as ValidationError;
  }
  throw new Error('expected a ValidationError, got a result');
}

/** The dotted paths in a ValidationError's details. */
export function detailPaths(error: ValidationError): string[] {
  return (error.details as { path: string }[]).map((d) => d.path);
}
