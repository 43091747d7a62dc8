/**
 * Small builders of valid domain values for the store contract suite. Each takes overrides
 * so a test states only what it is about.
 */
import { createHash, randomUUID } from 'node:crypto';
import {
  type AdmissionEvent,
  type ApiKeyRecord,
  type ClusterRecord,
  countSeverities,
  type ImageResult,
  type ImageScan,
  type Rule,
  SEVERITIES,
  type Severity,
  type Vulnerability,
} from '../../core/domain.js';

let seq = 0;
/** A short suffix unique within this process, for names and ids. */
export function unique(): string {
  seq += 1;
  return `${seq.toString(36).padStart(4, '0')}${randomUUID().slice(0, 8)}`;
}

/** SHA-256 hex of `s`, the way tokens and API keys are stored. */
export function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/** A syntactically valid sha256 digest derived from `seed`. */
export function digestOf(seed: string): string {
  return `sha256:${sha256(seed)}`;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * The start of the UTC day two days ago: recent enough that no store's retention or TTL
 * removes events built from it during a test run, and aligned for hour and day buckets.
 */
export function baseTime(now = Date.now()): number {
  return Math.floor(now / DAY) * DAY - 2 * DAY;
}

/** An ISO time `hours` after `base` (fractions allowed). */
export function at(base: number, hours: number): string {
  return new Date(base + hours * HOUR).toISOString();
}

/** A stored rule: Audit on Critical and High, every cluster, no exemptions. */
export function makeRule(overrides: Partial<Rule> = {}): Rule {
  const now = '2026-01-05T10:00:00.000Z';
  return {
    id: randomUUID(),
    name: `rule-${unique()}`,
    description: 'made by the contract suite',
    enabled: true,
    action: 'Audit',
    scope: { resources: [] },
    conditions: { severities: ['Critical', 'High'], cves: [] },
    applyToUnscannedImages: false,
    exemptions: [],
    version: randomUUID(),
    createdAt: now,
    createdBy: 'contract',
    updatedAt: now,
    updatedBy: 'contract',
    ...overrides,
  };
}

/** A registered cluster; its token's hash is `sha256(token)`. */
export function makeCluster(overrides: Partial<ClusterRecord> = {}): ClusterRecord {
  return {
    id: randomUUID(),
    name: `cluster-${unique()}`,
    provider: 'aws',
    account: '123456789012',
    failurePolicy: 'Fail',
    timeoutSeconds: 5,
    createdAt: '2026-01-05T10:00:00.000Z',
    createdBy: 'contract',
    tokenRotatedAt: '2026-01-05T10:00:00.000Z',
    tokenHash: sha256(`token-${unique()}`),
    ...overrides,
  };
}

/** `n` vulnerabilities cycling through the severities. */
export function makeVulnerabilities(n: number, prefix = 'CVE-2024-'): Vulnerability[] {
  return Array.from({ length: n }, (_, i) => {
    const severity: Severity = SEVERITIES[i % SEVERITIES.length]!;
    return {
      id: `${prefix}${10000 + i}`,
      severity,
      cvss: 9.8 - (i % 9),
      package: `pkg-${i % 7}`,
      version: '1.0.0',
      fixedVersion: i % 2 === 0 ? '1.0.1' : undefined,
      fixAvailable: i % 2 === 0,
    };
  });
}

/** A scan with consistent counts; `vulnCount` vulnerabilities unless `vulnerabilities` is given. */
export function makeScan(overrides: Partial<ImageScan> & { vulnCount?: number } = {}): ImageScan {
  const { vulnCount = 3, ...rest } = overrides;
  const vulnerabilities = rest.vulnerabilities ?? makeVulnerabilities(vulnCount);
  const scan: ImageScan = {
    registry: '123456789012.dkr.ecr.us-east-1.amazonaws.com',
    repository: 'team/app',
    digest: digestOf(unique()),
    tags: [],
    source: 'ecr',
    scannedAt: '2026-01-05T10:00:00.000Z',
    status: 'Scanned',
    vulnerabilities,
    counts: countSeverities(vulnerabilities),
    ...rest,
  };
  // JSON drops undefined members; so does any store, and so should the expected value.
  return JSON.parse(JSON.stringify(scan)) as ImageScan;
}

/** One image's result inside an admission event. */
export function makeImageResult(overrides: Partial<ImageResult> = {}): ImageResult {
  return {
    container: 'app',
    containerType: 'container',
    image: 'nginx:1.25',
    reference: 'docker.io/library/nginx:1.25',
    scanState: 'Scanned',
    gated: true,
    action: 'Allow',
    triggeredRules: [],
    exemptions: [],
    notes: [],
    ...overrides,
  };
}

/** An image result in which `rule` triggered with `action`. */
export function triggered(rule: Pick<Rule, 'id' | 'name'>, action: 'Audit' | 'Deny' = 'Audit') {
  return {
    ruleId: rule.id,
    ruleName: rule.name,
    action,
    configuredAction: action,
    reason: 'Vulnerabilities' as const,
    vulnerabilities: [{ id: 'CVE-2024-10000', severity: 'Critical' as const }],
    vulnerabilityCount: 1,
  };
}

/** An admission event of a Deployment; one nginx image unless `images` is given. */
export function makeEvent(overrides: Partial<AdmissionEvent> = {}): AdmissionEvent {
  return {
    id: `evt-${unique()}`,
    uid: randomUUID(),
    time: new Date(baseTime()).toISOString(),
    clusterId: 'cluster-id-1',
    cluster: 'prod',
    namespace: 'default',
    kind: 'Deployment',
    name: 'web',
    operation: 'CREATE',
    user: 'system:serviceaccount:ci:deployer',
    dryRun: false,
    decision: 'Allowed',
    message: '',
    warnings: [],
    images: [makeImageResult()],
    rulesetVersion: 'rs-1',
    latencyMs: 1.5,
    ...overrides,
  };
}

/** An API key record; its hash is `sha256(secret)`. */
export function makeApiKey(overrides: Partial<ApiKeyRecord> & { secret?: string } = {}): ApiKeyRecord {
  const { secret = `pk_${unique()}`, ...rest } = overrides;
  return {
    id: randomUUID(),
    name: `key-${unique()}`,
    role: 'SecurityReader',
    prefix: secret.slice(0, 7),
    createdAt: '2026-01-05T10:00:00.000Z',
    createdBy: 'contract',
    keyHash: sha256(secret),
    ...rest,
  };
}
