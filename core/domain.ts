/**
 * The domain of Portcullis (DESIGN.md §2) as zod schemas and the types inferred from them.
 * Schemas named `*InputSchema` validate what a caller sends; the others describe stored state.
 */
import { z } from 'zod';
import { parseLabelSelector } from './label-selector.js';
import { REGISTRY_KINDS } from './sync.js';

export const SEVERITIES = ['Critical', 'High', 'Medium', 'Low', 'Negligible'] as const;
export const SeveritySchema = z.enum(SEVERITIES);
export type Severity = z.infer<typeof SeveritySchema>;

/** Severities a rule condition may name (Negligible is informational only). */
export const RuleSeveritySchema = z.enum(['Critical', 'High', 'Medium', 'Low']);
export type RuleSeverity = z.infer<typeof RuleSeveritySchema>;

export const ProviderSchema = z.enum(['azure', 'aws', 'gcp', 'other']);
export type Provider = z.infer<typeof ProviderSchema>;

export const ActionSchema = z.enum(['Audit', 'Deny']);
export type Action = z.infer<typeof ActionSchema>;

export const MatchSchema = z.enum(['Equals', 'StartsWith', 'EndsWith', 'Contains', 'NotEquals']);
export type Match = z.infer<typeof MatchSchema>;

export const ExemptionMatchSchema = z.enum(['Equals', 'StartsWith', 'EndsWith', 'Contains']);
export type ExemptionMatch = z.infer<typeof ExemptionMatchSchema>;

export const ResourceTypeSchema = z.enum([
  'Cluster',
  'Namespace',
  'Pod',
  'Deployment',
  'Image',
  'LabelSelector',
]);
export type ResourceType = z.infer<typeof ResourceTypeSchema>;

export const ExemptionTypeSchema = z.enum([
  'CVE',
  'Deployment',
  'Image',
  'Namespace',
  'Pod',
  'Registry',
  'Repository',
]);
export type ExemptionType = z.infer<typeof ExemptionTypeSchema>;

export const ScanStatusSchema = z.enum(['Scanned', 'Pending', 'Failed', 'Unsupported']);
export type ScanStatus = z.infer<typeof ScanStatusSchema>;

/** What the evaluator knows of an image's scan: a stored status, never seen, or too old for a rule. */
export type ImageScanState = ScanStatus | 'NotFound' | 'Stale';

export const ScanSourceSchema = z.enum(['ecr', 'inspector2', 'acr', 'gar', 'trivy', 'grype', 'native']);
export type ScanSource = z.infer<typeof ScanSourceSchema>;

export const DecisionSchema = z.enum(['Allowed', 'Audited', 'Denied']);
export type Decision = z.infer<typeof DecisionSchema>;

export const RoleSchema = z.enum(['SecurityAdmin', 'SecurityReader']);
export type Role = z.infer<typeof RoleSchema>;

/** A calendar date `YYYY-MM-DD` that exists (no 2027-02-30). */
export const CalendarDateSchema = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'expected a date as YYYY-MM-DD')
  .refine((s) => {
    const d = new Date(`${s}T00:00:00Z`);
    return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
  }, 'not a calendar date');

const IsoTimeSchema = z.iso.datetime({ offset: true });
const NonBlank = (max: number) => z.string().trim().min(1, 'must not be empty').max(max);

/** Rule names double as keys in rules-as-code files, so keep them DNS-label-like. */
export const RuleNameSchema = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(128)
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]*$/,
    'use letters, digits, ".", "_" and "-", starting with a letter or digit',
  );

export const ResourceScopeSchema = z
  .strictObject({
    type: ResourceTypeSchema,
    match: MatchSchema.default('Equals'),
    value: NonBlank(1024),
  })
  .superRefine((r, ctx) => {
    if (r.type === 'LabelSelector') {
      if (r.match !== 'Equals' && r.match !== 'NotEquals') {
        ctx.addIssue({
          code: 'custom',
          path: ['match'],
          message: 'a LabelSelector matches with Equals or NotEquals',
        });
      }
      try {
        parseLabelSelector(r.value);
      } catch (e) {
        ctx.addIssue({ code: 'custom', path: ['value'], message: (e as Error).message });
      }
    }
  });
export type ResourceScope = z.infer<typeof ResourceScopeSchema>;

export const CloudScopeSchema = z.strictObject({
  provider: ProviderSchema,
  accounts: z.array(NonBlank(128)).max(1000).default([]),
});
export type CloudScope = z.infer<typeof CloudScopeSchema>;

export const RuleScopeSchema = z.strictObject({
  name: z.string().trim().max(128).optional(),
  cloud: CloudScopeSchema.optional(),
  resources: z.array(ResourceScopeSchema).max(100).default([]),
});
export type RuleScope = z.infer<typeof RuleScopeSchema>;

export const ConditionsSchema = z.strictObject({
  severities: z.array(RuleSeveritySchema).max(4).default([]),
  cves: z.array(NonBlank(128)).max(10_000).default([]),
  minCvss: z.number().min(0).max(10).optional(),
  fixAvailableOnly: z.boolean().optional(),
});
export type Conditions = z.infer<typeof ConditionsSchema>;

/** Fields the server keeps; accepted in bodies (so GET → PUT round-trips) and ignored. */
const serverKeptExemption = {
  id: z.string().optional(),
  createdBy: z.string().optional(),
  createdAt: z.string().optional(),
  expired: z.boolean().optional(),
};

export const ExemptionInputSchema = z.strictObject({
  ...serverKeptExemption,
  type: ExemptionTypeSchema,
  match: ExemptionMatchSchema.default('Equals'),
  value: NonBlank(1024),
  expiresOn: CalendarDateSchema.optional(),
  reason: NonBlank(2000),
  ticket: z.string().trim().max(256).optional(),
});
export type ExemptionInput = z.infer<typeof ExemptionInputSchema>;

export const ExemptionSchema = z.object({
  id: z.string(),
  type: ExemptionTypeSchema,
  match: ExemptionMatchSchema,
  value: z.string(),
  expiresOn: z.string().optional(),
  reason: z.string(),
  ticket: z.string().optional(),
  createdBy: z.string(),
  createdAt: z.string(),
  /** Set by the expiry job once `expiresOn` has passed; evaluation checks the date itself. */
  expired: z.boolean().optional(),
});
export type Exemption = z.infer<typeof ExemptionSchema>;

const serverKeptRule = {
  id: z.string().optional(),
  version: z.string().optional(),
  createdAt: z.string().optional(),
  createdBy: z.string().optional(),
  updatedAt: z.string().optional(),
  updatedBy: z.string().optional(),
};

/** A rule as an admin writes it (POST, PUT, rules-as-code). */
export const RuleInputSchema = z
  .strictObject({
    ...serverKeptRule,
    name: RuleNameSchema,
    description: z.string().max(2000).default(''),
    enabled: z.boolean().default(true),
    action: ActionSchema,
    scope: RuleScopeSchema.default({ resources: [] }),
    conditions: ConditionsSchema.default({ severities: [], cves: [] }),
    applyToUnscannedImages: z.boolean().default(false),
    maxScanAgeDays: z.number().int().min(1).max(3650).optional(),
    enforceFrom: CalendarDateSchema.optional(),
    exemptions: z.array(ExemptionInputSchema).max(1000).default([]),
  })
  .superRefine((r, ctx) => {
    const c = r.conditions;
    if (
      c.severities.length === 0 &&
      c.cves.length === 0 &&
      c.minCvss === undefined &&
      !r.applyToUnscannedImages
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['conditions'],
        message: 'a rule needs a condition (severities, cves or minCvss) or applyToUnscannedImages: true',
      });
    }
    if (r.enforceFrom !== undefined && r.action !== 'Deny') {
      ctx.addIssue({
        code: 'custom',
        path: ['enforceFrom'],
        message: 'enforceFrom applies to Deny rules only',
      });
    }
  });
export type RuleInput = z.infer<typeof RuleInputSchema>;

/** A PATCH body: any subset of a rule's fields (JSON merge patch semantics on the top level). */
export const RulePatchSchema = z.strictObject({
  ...serverKeptRule,
  name: RuleNameSchema.optional(),
  description: z.string().max(2000).optional(),
  enabled: z.boolean().optional(),
  action: ActionSchema.optional(),
  scope: RuleScopeSchema.optional(),
  conditions: ConditionsSchema.optional(),
  applyToUnscannedImages: z.boolean().optional(),
  maxScanAgeDays: z.number().int().min(1).max(3650).nullable().optional(),
  enforceFrom: CalendarDateSchema.nullable().optional(),
  exemptions: z.array(ExemptionInputSchema).max(1000).optional(),
});
export type RulePatch = z.infer<typeof RulePatchSchema>;

export const RuleSchema = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  enabled: z.boolean(),
  action: ActionSchema,
  scope: z.object({
    name: z.string().optional(),
    cloud: z.object({ provider: ProviderSchema, accounts: z.array(z.string()) }).optional(),
    resources: z.array(z.object({ type: ResourceTypeSchema, match: MatchSchema, value: z.string() })),
  }),
  conditions: z.object({
    severities: z.array(RuleSeveritySchema),
    cves: z.array(z.string()),
    minCvss: z.number().optional(),
    fixAvailableOnly: z.boolean().optional(),
  }),
  applyToUnscannedImages: z.boolean(),
  maxScanAgeDays: z.number().optional(),
  enforceFrom: z.string().optional(),
  exemptions: z.array(ExemptionSchema),
  version: z.string(),
  createdAt: z.string(),
  createdBy: z.string(),
  updatedAt: z.string(),
  updatedBy: z.string(),
});
export type Rule = z.infer<typeof RuleSchema>;

export const VulnerabilitySchema = z.object({
  id: NonBlank(256),
  severity: SeveritySchema,
  /** The source's own label when it differs from `severity` (e.g. `UNTRIAGED`, `INFORMATIONAL`). */
  originalSeverity: z.string().max(64).optional(),
  cvss: z.number().min(0).max(10).optional(),
  package: z.string().max(512).optional(),
  version: z.string().max(256).optional(),
  fixedVersion: z.string().max(512).optional(),
  fixAvailable: z.boolean().optional(),
  /** Findings a source reports as suppressed or closed are kept for the record but never count. */
  state: z.enum(['Active', 'Suppressed', 'Closed']).optional(),
  title: z.string().max(1024).optional(),
});
export type Vulnerability = z.infer<typeof VulnerabilitySchema>;

export const SeverityCountsSchema = z.object({
  Critical: z.number().int(),
  High: z.number().int(),
  Medium: z.number().int(),
  Low: z.number().int(),
  Negligible: z.number().int(),
});
export type SeverityCounts = z.infer<typeof SeverityCountsSchema>;

export const DigestSchema = z
  .string()
  .regex(/^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}$/, 'expected a digest such as sha256:<hex>');

export const ImageScanSchema = z.object({
  registry: NonBlank(255),
  repository: NonBlank(512),
  digest: DigestSchema,
  tags: z.array(z.string().max(128)).max(1000),
  source: ScanSourceSchema,
  scannedAt: IsoTimeSchema,
  status: ScanStatusSchema,
  /** Why a scan is Pending/Failed/Unsupported, in the source's words. */
  statusReason: z.string().max(1024).optional(),
  vulnerabilities: z.array(VulnerabilitySchema),
  counts: SeverityCountsSchema,
});
export type ImageScan = z.infer<typeof ImageScanSchema>;

export const ClusterInputSchema = z.strictObject({
  name: z
    .string()
    .trim()
    .min(1, 'must not be empty')
    .max(63)
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'use lower-case letters, digits and "-" (a DNS label)'),
  provider: ProviderSchema.default('other'),
  account: z.string().trim().max(128).default(''),
  failurePolicy: z.enum(['Fail', 'Ignore']).default('Fail'),
  timeoutSeconds: z.number().int().min(1).max(30).default(5),
});
export type ClusterInput = z.infer<typeof ClusterInputSchema>;

export const ClusterSchema = z.object({
  id: z.string(),
  name: z.string(),
  provider: ProviderSchema,
  account: z.string(),
  failurePolicy: z.enum(['Fail', 'Ignore']),
  timeoutSeconds: z.number(),
  createdAt: z.string(),
  createdBy: z.string(),
  tokenRotatedAt: z.string(),
});
export type Cluster = z.infer<typeof ClusterSchema>;

/** A cluster as stored: the token's SHA-256 only, never the token. */
export type ClusterRecord = Cluster & { tokenHash: string };

export const TriggeredRuleSchema = z.object({
  ruleId: z.string(),
  ruleName: z.string(),
  /** What the rule did to this image: `Audit` also for a Deny rule before its `enforceFrom`. */
  action: ActionSchema,
  configuredAction: ActionSchema,
  reason: z.enum(['Vulnerabilities', 'Unscanned']),
  scanState: z.string().optional(),
  vulnerabilities: z.array(
    z.object({ id: z.string(), severity: SeveritySchema, package: z.string().optional() }),
  ),
  /** Total number of triggering vulnerabilities (the list above may be cut short). */
  vulnerabilityCount: z.number().int(),
  /** The triggering vulnerabilities per severity (distinct ids, each at its highest). */
  counts: SeverityCountsSchema.optional(),
  enforceFrom: z.string().optional(),
});
export type TriggeredRule = z.infer<typeof TriggeredRuleSchema>;

export const AppliedExemptionSchema = z.object({
  ruleId: z.string(),
  ruleName: z.string(),
  exemptionId: z.string(),
  type: ExemptionTypeSchema,
  value: z.string(),
  expiresOn: z.string().optional(),
  /** For CVE exemptions: the vulnerability ids it removed from the rule's view. */
  cves: z.array(z.string()).optional(),
});
export type AppliedExemption = z.infer<typeof AppliedExemptionSchema>;

export const ImageResultSchema = z.object({
  container: z.string(),
  containerType: z.enum(['container', 'initContainer', 'ephemeralContainer']),
  /** The reference as written in the manifest. */
  image: z.string(),
  /** The normalized reference (`docker.io/library/nginx:latest`). */
  reference: z.string(),
  digest: z.string().optional(),
  scanState: z.enum(['Scanned', 'Pending', 'Failed', 'Unsupported', 'NotFound']),
  scannedAt: z.string().optional(),
  counts: SeverityCountsSchema.optional(),
  /** False for an image an UPDATE left unchanged: recorded, not gated. */
  gated: z.boolean(),
  action: z.enum(['Allow', 'Audit', 'Deny']),
  triggeredRules: z.array(TriggeredRuleSchema),
  exemptions: z.array(AppliedExemptionSchema),
  /** Human notes, e.g. "not gated by rule X: image not scanned (NotFound)". */
  notes: z.array(z.string()),
});
export type ImageResult = z.infer<typeof ImageResultSchema>;

export const AdmissionEventSchema = z.object({
  id: z.string(),
  uid: z.string(),
  time: z.string(),
  clusterId: z.string(),
  cluster: z.string(),
  namespace: z.string(),
  kind: z.string(),
  name: z.string(),
  operation: z.string(),
  user: z.string(),
  dryRun: z.boolean(),
  decision: DecisionSchema,
  message: z.string(),
  warnings: z.array(z.string()),
  images: z.array(ImageResultSchema),
  rulesetVersion: z.string(),
  latencyMs: z.number(),
  /**
   * The workload facts rule scopes match on besides its names, kept so that the event can be
   * re-evaluated later (exposure). Absent on events recorded before it was kept.
   */
  workload: z
    .object({
      labels: z.record(z.string(), z.string()),
      podLabels: z.record(z.string(), z.string()),
      podName: z.string(),
      deployment: z.string().optional(),
    })
    .optional(),
});
export type AdmissionEvent = z.infer<typeof AdmissionEventSchema>;

export const ApiKeyInputSchema = z.strictObject({
  name: NonBlank(128),
  role: RoleSchema,
});
export type ApiKeyInput = z.infer<typeof ApiKeyInputSchema>;

export const ApiKeySchema = z.object({
  id: z.string(),
  name: z.string(),
  role: RoleSchema,
  /** The first characters of the key, to recognise it in listings. */
  prefix: z.string(),
  createdAt: z.string(),
  createdBy: z.string(),
  lastUsedAt: z.string().optional(),
});
export type ApiKey = z.infer<typeof ApiKeySchema>;
export type ApiKeyRecord = ApiKey & { keyHash: string };

export const RegistryKindSchema = z.enum(REGISTRY_KINDS);

/** Registry connector names are used on the command line and in URLs: a DNS label. */
export const RegistryNameSchema = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'use lower-case letters, digits and "-" (a DNS label)');

const HostnameSchema = z
  .string()
  .trim()
  .toLowerCase()
  .max(253)
  .regex(
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$/,
    'expected a host name such as myreg.azurecr.io',
  );

/** Amazon ECR basic scanning, or enhanced scanning through Amazon Inspector. */
export const EcrSettingsSchema = z.strictObject({
  region: z
    .string()
    .trim()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'expected an AWS region such as us-east-1'),
  /** The registry's AWS account; the caller's own account when absent. */
  registryId: z
    .string()
    .trim()
    .regex(/^\d{12}$/, 'expected a 12-digit AWS account id')
    .optional(),
  /** Repository name prefixes; every repository when absent. */
  repositories: z.array(NonBlank(256)).min(1).max(1000).optional(),
  scanning: z.enum(['basic', 'enhanced']).default('basic'),
});
export type EcrSettings = z.infer<typeof EcrSettingsSchema>;

/** Azure Container Registry findings from Defender for Cloud, through Azure Resource Graph. */
export const AcrSettingsSchema = z.strictObject({
  subscriptions: z
    .array(
      z
        .string()
        .trim()
        .toLowerCase()
        .regex(
          /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
          'expected a subscription id (GUID)',
        ),
    )
    .min(1, 'name at least one subscription')
    .max(1000),
  /** Login servers (myreg.azurecr.io); every registry of the subscriptions when absent. */
  registries: z.array(HostnameSchema).min(1).max(1000).optional(),
});
export type AcrSettings = z.infer<typeof AcrSettingsSchema>;

/** Google Artifact Registry findings from Artifact Analysis (Grafeas occurrences). */
export const GarSettingsSchema = z.strictObject({
  projects: z
    .array(
      z
        .string()
        .trim()
        .regex(
          /^([a-z0-9][-a-z0-9.]*:)?[a-z][-a-z0-9]{4,28}[a-z0-9]$/,
          'expected a GCP project id such as my-project-123',
        ),
    )
    .min(1, 'name at least one project')
    .max(1000),
  /** Artifact Registry locations (us, europe-west1); every location when absent. */
  locations: z
    .array(
      z
        .string()
        .trim()
        .regex(/^[a-z][-a-z0-9]*[a-z0-9]$/, 'expected a location such as us or europe-west1'),
    )
    .min(1)
    .max(100)
    .optional(),
  /** Repository ids; every repository when absent. */
  repositories: z.array(NonBlank(256)).min(1).max(1000).optional(),
});
export type GarSettings = z.infer<typeof GarSettingsSchema>;

const registryInput = { name: RegistryNameSchema, enabled: z.boolean().default(true) };

/** A registry connector as an admin registers it (POST /registries). */
export const RegistryInputSchema = z.discriminatedUnion('kind', [
  z.strictObject({ ...registryInput, kind: z.literal('ecr'), settings: EcrSettingsSchema }),
  z.strictObject({ ...registryInput, kind: z.literal('acr'), settings: AcrSettingsSchema }),
  z.strictObject({ ...registryInput, kind: z.literal('gar'), settings: GarSettingsSchema }),
]);
export type RegistryInput = z.infer<typeof RegistryInputSchema>;

/** A registry connector as stored (core/sync.ts RegistryConfig). */
export const RegistrySchema = z.object({
  id: z.string(),
  name: z.string(),
  kind: RegistryKindSchema,
  settings: z.record(z.string(), z.unknown()),
  enabled: z.boolean(),
  createdAt: z.string(),
  createdBy: z.string(),
});

/** At most this many errors are kept on a run; the rest are counted in the last entry. */
export const SYNC_RUN_MAX_ERRORS = 20;

/** One findings-sync run of one registry, as recorded and shown by the API. */
export const SyncRunSchema = z.object({
  id: z.string(),
  registryId: z.string(),
  registryName: z.string(),
  trigger: z.enum(['schedule', 'manual']),
  status: z.enum(['running', 'succeeded', 'failed']),
  startedAt: z.string(),
  finishedAt: z.string().optional(),
  /** Images and vulnerabilities ingested so far. */
  images: z.number().int(),
  vulnerabilities: z.number().int(),
  /** The connector's estimate of the images this run will see, when it knows. */
  totalImages: z.number().int().optional(),
  errors: z.array(z.string().max(2000)).max(SYNC_RUN_MAX_ERRORS),
  /** The checkpoint the run started from, and the last one it saved. */
  checkpointBefore: z.string().optional(),
  checkpointAfter: z.string().optional(),
});
export type SyncRun = z.infer<typeof SyncRunSchema>;

/** Zero counts, the start of every tally. */
export function emptyCounts(): SeverityCounts {
  return { Critical: 0, High: 0, Medium: 0, Low: 0, Negligible: 0 };
}

const SEVERITY_RANK: Record<Severity, number> = { Critical: 4, High: 3, Medium: 2, Low: 1, Negligible: 0 };

/** Orders severities, most severe first. */
export function compareSeverity(a: Severity, b: Severity): number {
  return SEVERITY_RANK[b] - SEVERITY_RANK[a];
}

/**
 * Counts distinct vulnerability ids per severity, each id at its highest severity in the
 * image (DESIGN.md §2); suppressed and closed findings do not count.
 */
export function countSeverities(vulnerabilities: readonly Vulnerability[]): SeverityCounts {
  const worst = new Map<string, Severity>();
  for (const v of vulnerabilities) {
    if (v.state !== undefined && v.state !== 'Active') continue;
    const key = v.id.toUpperCase();
    const seen = worst.get(key);
    if (seen === undefined || SEVERITY_RANK[v.severity] > SEVERITY_RANK[seen]) worst.set(key, v.severity);
  }
  const counts = emptyCounts();
  for (const s of worst.values()) counts[s]++;
  return counts;
}
