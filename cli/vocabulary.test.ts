import { describe, expect, it } from 'vitest';
import {
  ClusterInputSchema,
  DecisionSchema,
  ExemptionMatchSchema,
  ExemptionTypeSchema,
  ProviderSchema,
  ScanStatusSchema,
} from '../core/domain.js';
import {
  DECISIONS,
  EXEMPTION_MATCHES,
  EXEMPTION_TYPES,
  FAILURE_POLICIES,
  PROVIDERS,
  SCAN_STATUSES,
} from './vocabulary.js';

describe('CLI vocabulary', () => {
  it('matches the domain enumerations the API validates against', () => {
    expect(EXEMPTION_TYPES).toEqual(ExemptionTypeSchema.options);
    expect(EXEMPTION_MATCHES).toEqual(ExemptionMatchSchema.options);
    expect(PROVIDERS).toEqual(ProviderSchema.options);
    expect(SCAN_STATUSES).toEqual(ScanStatusSchema.options);
    expect(DECISIONS).toEqual(DecisionSchema.options);
    expect(FAILURE_POLICIES).toEqual(ClusterInputSchema.shape.failurePolicy.unwrap().options);
  });
});
