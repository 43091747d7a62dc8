/**
 * The API's enumerations the CLI checks options against. Spelled out rather than imported from
 * core/domain.ts so the CLI does not build zod schemas at every start (≈0.4 s);
 * cli/vocabulary.test.ts keeps them equal to the domain's.
 */
import type { Decision, ExemptionMatch, ExemptionType, Provider, ScanStatus } from '../core/domain.js';

export const EXEMPTION_TYPES: readonly ExemptionType[] = [
  'CVE',
  'Deployment',
  'Image',
  'Namespace',
  'Pod',
  'Registry',
  'Repository',
];
export const EXEMPTION_MATCHES: readonly ExemptionMatch[] = ['Equals', 'StartsWith', 'EndsWith', 'Contains'];
export const PROVIDERS: readonly Provider[] = ['azure', 'aws', 'gcp', 'other'];
export const SCAN_STATUSES: readonly ScanStatus[] = ['Scanned', 'Pending', 'Failed', 'Unsupported'];
export const DECISIONS: readonly Decision[] = ['Allowed', 'Audited', 'Denied'];
export const FAILURE_POLICIES = ['Fail', 'Ignore'] as const;
