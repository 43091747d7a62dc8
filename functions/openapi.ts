/**
 * The OpenAPI 3.1 document of the admin API and the webhook, generated from the same zod
 * schemas that validate requests, so the document cannot drift from the code.
 */
import { z } from 'zod';
import {
  AdmissionEventSchema,
  ApiKeyInputSchema,
  ApiKeySchema,
  ClusterInputSchema,
  ClusterSchema,
  ExemptionInputSchema,
  ImageScanSchema,
  RegistryInputSchema,
  RegistrySchema,
  RuleInputSchema,
  RulePatchSchema,
  RuleSchema,
  SyncRunSchema,
} from '../core/domain.js';
import { ExemptionListSchema, ExposureReportSchema, TopDeniedSchema } from './monitoring.js';

type Schema = z.ZodType;

interface Operation {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  path: string;
  summary: string;
  role?: 'SecurityReader' | 'SecurityAdmin' | 'none';
  query?: string[];
  body?: Schema | 'report' | 'review';
  response?: Schema | 'review' | 'object';
  status?: number;
  etag?: boolean;
}

const list = (item: Schema) =>
  z.object({ items: z.array(item), nextCursor: z.string().nullable().optional() });
const ClusterRegistration = ClusterSchema.extend({
  token: z.string().describe('Shown once; the webhook URL carries it.'),
  webhookUrl: z.string(),
  webhookConfiguration: z.string().describe('ValidatingWebhookConfiguration YAML'),
});

const OPERATIONS: Operation[] = [
  {
    method: 'post',
    path: '/admission/{token}',
    summary: 'Validating admission webhook',
    role: 'none',
    body: 'review',
    response: 'review',
  },
  { method: 'get', path: '/healthz', summary: 'Liveness', role: 'none', response: 'object' },
  { method: 'get', path: '/api/v1/rules', summary: 'List rules', response: list(RuleSchema) },
  {
    method: 'post',
    path: '/api/v1/rules',
    summary: 'Create a rule',
    role: 'SecurityAdmin',
    body: RuleInputSchema,
    response: RuleSchema,
    status: 201,
    etag: true,
  },
  {
    method: 'get',
    path: '/api/v1/rules/{ref}',
    summary: 'Get a rule by id or name',
    response: RuleSchema,
    etag: true,
  },
  {
    method: 'put',
    path: '/api/v1/rules/{ref}',
    summary: 'Replace a rule (If-Match: version → 412 when stale)',
    role: 'SecurityAdmin',
    body: RuleInputSchema,
    response: RuleSchema,
    etag: true,
  },
  {
    method: 'patch',
    path: '/api/v1/rules/{ref}',
    summary: 'Change some fields of a rule; null clears an optional field',
    role: 'SecurityAdmin',
    body: RulePatchSchema,
    response: RuleSchema,
    etag: true,
  },
  {
    method: 'delete',
    path: '/api/v1/rules/{ref}',
    summary: 'Delete a rule',
    role: 'SecurityAdmin',
    status: 204,
  },
  {
    method: 'post',
    path: '/api/v1/rules/{ref}:enable',
    summary: 'Enable a rule',
    role: 'SecurityAdmin',
    response: RuleSchema,
    etag: true,
  },
  {
    method: 'post',
    path: '/api/v1/rules/{ref}:disable',
    summary: 'Disable a rule',
    role: 'SecurityAdmin',
    response: RuleSchema,
    etag: true,
  },
  {
    method: 'post',
    path: '/api/v1/rules/{ref}/exemptions',
    summary: 'Add an exemption',
    role: 'SecurityAdmin',
    body: ExemptionInputSchema,
    response: RuleSchema,
    status: 201,
    etag: true,
  },
  {
    method: 'delete',
    path: '/api/v1/rules/{ref}/exemptions/{exemptionId}',
    summary: 'Remove an exemption',
    role: 'SecurityAdmin',
    response: RuleSchema,
    etag: true,
  },
  { method: 'get', path: '/api/v1/clusters', summary: 'List clusters', response: list(ClusterSchema) },
  {
    method: 'post',
    path: '/api/v1/clusters',
    summary: 'Register a cluster: the token is shown once',
    role: 'SecurityAdmin',
    body: ClusterInputSchema,
    response: ClusterRegistration,
    status: 201,
  },
  { method: 'get', path: '/api/v1/clusters/{id}', summary: 'Get a cluster', response: ClusterSchema },
  {
    method: 'delete',
    path: '/api/v1/clusters/{id}',
    summary: 'Revoke a cluster',
    role: 'SecurityAdmin',
    status: 204,
  },
  {
    method: 'post',
    path: '/api/v1/clusters/{id}:rotate-token',
    summary: 'Issue a new webhook token',
    role: 'SecurityAdmin',
    response: ClusterRegistration,
  },
  {
    method: 'get',
    path: '/api/v1/images',
    summary: 'List images by their newest scan',
    query: ['registry', 'repository', 'status', 'limit', 'cursor'],
    response: list(ImageScanSchema.omit({ vulnerabilities: true })),
  },
  {
    method: 'get',
    path: '/api/v1/images/{digest}',
    summary: 'The newest scan of an image digest',
    response: ImageScanSchema,
  },
  {
    method: 'post',
    path: '/api/v1/findings:import',
    summary: 'Import a scan report (format=native|trivy|grype|ecr|inspector2|azure-resource-graph|grafeas)',
    role: 'SecurityAdmin',
    query: ['format', 'region', 'image'],
    body: 'report',
    response: z.object({ images: z.number(), vulnerabilities: z.number() }),
  },
  {
    method: 'get',
    path: '/api/v1/registries',
    summary: 'List registry connectors',
    response: list(RegistrySchema),
  },
  {
    method: 'post',
    path: '/api/v1/registries',
    summary: 'Add a registry connector (kind ecr, acr or gar, with its settings)',
    role: 'SecurityAdmin',
    body: RegistryInputSchema,
    response: RegistrySchema,
    status: 201,
  },
  {
    method: 'get',
    path: '/api/v1/registries/{ref}',
    summary: 'Get a registry connector by id or name',
    response: RegistrySchema,
  },
  {
    method: 'delete',
    path: '/api/v1/registries/{ref}',
    summary: 'Remove a registry connector with its checkpoint and runs (synced scans stay)',
    role: 'SecurityAdmin',
    status: 204,
  },
  {
    method: 'post',
    path: '/api/v1/registries/{ref}:enable',
    summary: 'Include a registry in the scheduled sync',
    role: 'SecurityAdmin',
    response: RegistrySchema,
  },
  {
    method: 'post',
    path: '/api/v1/registries/{ref}:disable',
    summary: 'Leave a registry out of the scheduled sync',
    role: 'SecurityAdmin',
    response: RegistrySchema,
  },
  {
    method: 'post',
    path: '/api/v1/registries/{ref}:sync',
    summary:
      'Sync a registry now: 202 with the running run (follow it at /syncruns/{id}) where runs continue in the background, else (or with wait=true) 200 with the finished run; 409 while a run of it is going',
    role: 'SecurityAdmin',
    query: ['wait'],
    response: SyncRunSchema,
    status: 202,
  },
  {
    method: 'get',
    path: '/api/v1/registries/{ref}/runs',
    summary: 'Sync runs of a registry, newest first',
    query: ['limit'],
    response: list(SyncRunSchema),
  },
  {
    method: 'get',
    path: '/api/v1/syncruns',
    summary: 'Sync runs of every registry, newest first',
    query: ['limit'],
    response: list(SyncRunSchema),
  },
  {
    method: 'get',
    path: '/api/v1/syncruns/{id}',
    summary: 'One sync run: status, progress, counts, errors',
    response: SyncRunSchema,
  },
  {
    method: 'get',
    path: '/api/v1/admissions',
    summary: 'Admission events, newest first',
    query: ['uid', 'cluster', 'namespace', 'decision', 'image', 'rule', 'from', 'to', 'limit', 'cursor'],
    response: list(AdmissionEventSchema),
  },
  {
    method: 'get',
    path: '/api/v1/admissions/summary',
    summary: 'Decisions per time bucket',
    query: ['from', 'to', 'bucket', 'cluster', 'namespace'],
    response: 'object',
  },
  {
    method: 'post',
    path: '/api/v1/evaluate',
    summary: 'What-if evaluation of an object or AdmissionReview (records nothing)',
    role: 'SecurityReader',
    body: z.object({
      cluster: z.string().optional(),
      object: z.unknown().optional(),
      review: z.unknown().optional(),
    }),
    response: 'object',
  },
  { method: 'get', path: '/api/v1/apikeys', summary: 'List API keys', response: list(ApiKeySchema) },
  {
    method: 'post',
    path: '/api/v1/apikeys',
    summary: 'Create an API key: the key is shown once',
    role: 'SecurityAdmin',
    body: ApiKeyInputSchema,
    response: ApiKeySchema.extend({ key: z.string() }),
    status: 201,
  },
  {
    method: 'delete',
    path: '/api/v1/apikeys/{id}',
    summary: 'Delete an API key',
    role: 'SecurityAdmin',
    status: 204,
  },
  {
    method: 'get',
    path: '/api/v1/exposure',
    summary:
      'Workloads admitted within the retention window that the current rules and findings would now deny or audit',
    query: ['cluster', 'namespace', 'decision'],
    response: ExposureReportSchema,
  },
  {
    method: 'get',
    path: '/api/v1/exemptions',
    summary:
      'Every exemption across rules with its expiry; expiringWithinDays=N keeps those ending within N days',
    query: ['expiringWithinDays', 'rule'],
    response: ExemptionListSchema,
  },
  {
    method: 'get',
    path: '/api/v1/admissions/top',
    summary: 'The images, Deny rules and CVEs behind the most denials in a window',
    query: ['from', 'to', 'cluster', 'namespace', 'limit'],
    response: TopDeniedSchema,
  },
];

function jsonSchema(schema: Schema | 'report' | 'review' | 'object', io: 'input' | 'output'): unknown {
  if (schema === 'report') return { description: 'The report as the scanner or cloud API emits it' };
  if (schema === 'review') return { $ref: '#/components/schemas/AdmissionReview' };
  if (schema === 'object') return { type: 'object' };
  return z.toJSONSchema(schema, { io, unrepresentable: 'any' });
}

const ERROR = {
  description: 'Error',
  content: {
    'application/json': {
      schema: {
        type: 'object',
        properties: {
          error: {
            type: 'object',
            required: ['code', 'message'],
            properties: { code: { type: 'string' }, message: { type: 'string' }, details: {} },
          },
        },
      },
    },
  },
};

let cached: unknown;

/** The OpenAPI document (built once). */
export function openApiDocument(): unknown {
  if (cached !== undefined) return cached;
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of OPERATIONS) {
    const params = [...op.path.matchAll(/\{(\w+)\}/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    const query = (op.query ?? []).map((name) => ({
      name,
      in: 'query',
      required: name === 'format',
      schema: { type: 'string' },
    }));
    const status = String(op.status ?? 200);
    const ok =
      op.response === undefined
        ? { description: 'Done' }
        : {
            description: 'OK',
            ...(op.etag
              ? { headers: { ETag: { schema: { type: 'string' }, description: 'The rule version' } } }
              : {}),
            content: { 'application/json': { schema: jsonSchema(op.response, 'output') } },
          };
    const operation: Record<string, unknown> = {
      summary: op.summary,
      parameters: [...params, ...query],
      responses: {
        [status]: ok,
        '400': ERROR,
        '401': ERROR,
        '403': ERROR,
        '404': ERROR,
        '412': ERROR,
        '413': ERROR,
      },
      ...(op.role === 'none' ? { security: [] } : {}),
      ...(op.role === 'SecurityAdmin' ? { 'x-required-role': 'SecurityAdmin' } : {}),
    };
    if (op.body !== undefined) {
      operation.requestBody = {
        required: true,
        content: { 'application/json': { schema: jsonSchema(op.body, 'input') } },
      };
    }
    paths[op.path] ??= {};
    paths[op.path]![op.method] = operation;
  }
  cached = {
    openapi: '3.1.0',
    info: {
      title: 'Portcullis',
      version: '1',
      description: 'Gated deployment for Kubernetes: the admission webhook and the admin API.',
    },
    components: {
      securitySchemes: {
        apiKey: {
          type: 'http',
          scheme: 'bearer',
          description: 'An API key (SecurityAdmin or SecurityReader)',
        },
      },
      schemas: {
        AdmissionReview: {
          type: 'object',
          required: ['apiVersion', 'kind'],
          properties: {
            apiVersion: { const: 'admission.k8s.io/v1' },
            kind: { const: 'AdmissionReview' },
            request: { type: 'object' },
            response: { type: 'object' },
          },
        },
      },
    },
    security: [{ apiKey: [] }],
    paths,
  };
  return cached;
}
