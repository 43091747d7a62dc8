/**
 * AdmissionReview v1 in and out (DESIGN.md §3 steps 1, 5). `fromAdmissionReview` validates
 * what the API server sends; `toAdmissionResponse` builds what it expects back.
 */
import { z } from 'zod';
import { ValidationError } from './errors.js';

const GroupVersionKindSchema = z.object({
  group: z.string(),
  version: z.string(),
  kind: z.string().min(1),
});

/** The request part of an AdmissionReview; unknown fields are allowed, as Kubernetes adds them. */
export const AdmissionRequestSchema = z.object({
  uid: z.string().min(1, 'request.uid is required'),
  kind: GroupVersionKindSchema,
  resource: z.object({ group: z.string(), version: z.string(), resource: z.string() }).optional(),
  subResource: z.string().optional(),
  name: z.string().optional(),
  namespace: z.string().optional(),
  operation: z.enum(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']),
  userInfo: z
    .object({
      username: z.string().optional(),
      uid: z.string().optional(),
      groups: z.array(z.string()).optional(),
    })
    .optional(),
  object: z.unknown().optional(),
  oldObject: z.unknown().optional(),
  dryRun: z.boolean().optional(),
});
export type AdmissionRequest = z.infer<typeof AdmissionRequestSchema>;

const AdmissionReviewSchema = z.object({
  apiVersion: z.string(),
  kind: z.string(),
  request: z.unknown(),
});

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';

/**
 * Validates an AdmissionReview body and returns its request.
 * Throws ValidationError naming the problem (wrong apiVersion, missing uid, ...).
 */
export function fromAdmissionReview(body: unknown): AdmissionRequest {
  const review = AdmissionReviewSchema.safeParse(body);
  if (!review.success) {
    throw new ValidationError(
      'body is not an AdmissionReview: expected an object with apiVersion, kind and request',
      {
        details: review.error.issues,
      },
    );
  }
  const { apiVersion, kind, request } = review.data;
  if (kind !== 'AdmissionReview') throw new ValidationError(`kind must be AdmissionReview, not "${kind}"`);
  if (apiVersion !== ADMISSION_API_VERSION) {
    throw new ValidationError(
      `apiVersion must be ${ADMISSION_API_VERSION}, not "${apiVersion}"; register the webhook with admissionReviewVersions: ["v1"]`,
    );
  }
  if (request === undefined || request === null) throw new ValidationError('request is missing');
  const parsed = AdmissionRequestSchema.safeParse(request);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const where = first ? `request.${first.path.join('.')}: ${first.message}` : 'request is invalid';
    throw new ValidationError(`invalid AdmissionReview: ${where}`, { details: parsed.error.issues });
  }
  return parsed.data;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; reason?: string; message: string };
  warnings?: string[];
  auditAnnotations?: Record<string, string>;
}

export interface AdmissionReviewResponse {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

/** Wraps a response as the AdmissionReview the API server expects; empty lists are left out. */
export function toAdmissionResponse(response: AdmissionResponse): AdmissionReviewResponse {
  const r: AdmissionResponse = { uid: response.uid, allowed: response.allowed };
  if (response.status !== undefined) r.status = response.status;
  if (response.warnings !== undefined && response.warnings.length > 0) r.warnings = response.warnings;
  if (response.auditAnnotations !== undefined && Object.keys(response.auditAnnotations).length > 0) {
    r.auditAnnotations = response.auditAnnotations;
  }
  return { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response: r };
}

/** Kinds and subresources whose requests are gated; others are allowed at once. */
export function isGatedOperation(request: AdmissionRequest): boolean {
  if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') return false;
  const sub = request.subResource ?? '';
  return sub === '' || sub === 'ephemeralcontainers';
}
