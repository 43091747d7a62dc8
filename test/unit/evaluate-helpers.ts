/** Builders for evaluator tests: rules, scans, workloads and a one-call evaluation. */
import {
  type Cluster,
  countSeverities,
  type ImageScan,
  type Rule,
  RuleInputSchema,
  type Vulnerability,
} from '../../core/domain.js';
import { type Evaluation, evaluate, type ResolvedImage } from '../../core/evaluate.js';
import { parseImageRef } from '../../core/image-ref.js';
import { compileRuleSet } from '../../core/ruleset.js';
import { changedImages, imageKey, workloadFromObject } from '../../core/workload.js';

export const NOW = new Date('2026-11-26T12:00:00Z');

export const CLUSTER: Cluster = {
  id: 'c1',
  name: 'prod-eks',
  provider: 'aws',
  account: '123456789012',
  failurePolicy: 'Fail',
  timeoutSeconds: 5,
  createdAt: '2026-01-01T00:00:00Z',
  createdBy: 'test',
  tokenRotatedAt: '2026-01-01T00:00:00Z',
};

let ruleCounter = 0;

/** A rule as the API would store it, from input fields (validated by the real schema). */
export function rule(input: Record<string, unknown>): Rule {
  const parsed = RuleInputSchema.parse({ name: `rule-${++ruleCounter}`, ...input });
  return {
    ...parsed,
    id: `id-${parsed.name}`,
    version: '1',
    scope: { ...parsed.scope, resources: parsed.scope.resources },
    exemptions: parsed.exemptions.map((e, i) => ({
      ...e,
      id: `ex-${i}`,
      createdBy: 'test',
      createdAt: '2026-01-01T00:00:00Z',
    })),
    createdAt: '2026-01-01T00:00:00Z',
    createdBy: 'test',
    updatedAt: '2026-01-01T00:00:00Z',
    updatedBy: 'test',
  } as Rule;
}

export function vuln(
  id: string,
  severity: Vulnerability['severity'],
  extra: Partial<Vulnerability> = {},
): Vulnerability {
  return { id, severity, package: 'openssl', version: '1.1.1', ...extra };
}

/** A scan of the image reference's repository at `digest`. */
export function scan(
  ref: string,
  digest: string,
  vulnerabilities: Vulnerability[],
  extra: Partial<ImageScan> = {},
): ImageScan {
  const parsed = parseImageRef(ref);
  return {
    registry: parsed.registry,
    repository: parsed.repository,
    digest,
    tags: parsed.tag ? [parsed.tag] : [],
    source: 'trivy',
    scannedAt: '2026-11-20T00:00:00Z',
    status: 'Scanned',
    vulnerabilities,
    counts: countSeverities(vulnerabilities),
    ...extra,
  };
}

export const D1 = `sha256:${'1'.repeat(64)}`;
export const D2 = `sha256:${'2'.repeat(64)}`;

/** A Deployment as `kubectl create deployment` builds it. */
export function deployment(
  name: string,
  namespace: string,
  images: string[],
  labels: Record<string, string> = {},
) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, labels: { app: name, ...labels } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name, ...labels } },
        spec: { containers: images.map((image, i) => ({ name: `c${i}`, image })) },
      },
    },
  };
}

export interface Case {
  object: unknown;
  oldObject?: unknown;
  kind?: string;
  namespace?: string;
  rules: Rule[];
  /** Scans by the image reference as written in the manifest. */
  scans?: Record<string, ImageScan | null>;
  cluster?: Cluster;
  now?: Date;
}

/** Evaluates as the admission service does, with scans looked up from the table. */
export function run(c: Case): Evaluation {
  const o = c.object as { kind: string; metadata: { name: string; namespace?: string } };
  const request = {
    kind: c.kind ?? o.kind,
    name: o.metadata.name,
    namespace: c.namespace ?? o.metadata.namespace,
  };
  const workload = workloadFromObject(c.object, request);
  if (workload === null) throw new Error('not a workload');
  const old = c.oldObject === undefined ? null : workloadFromObject(c.oldObject, request);
  const changed = changedImages(workload, old);
  const images: ResolvedImage[] = workload.images.map((container) => {
    const s = c.scans?.[container.image] ?? null;
    let ref: ResolvedImage['ref'] = null;
    try {
      ref = parseImageRef(container.image);
    } catch {
      ref = null;
    }
    return {
      container,
      ref,
      digest: s?.digest ?? ref?.digest,
      scan: s,
      gated: changed.has(imageKey(container)),
    };
  });
  return evaluate({
    workload,
    cluster: c.cluster ?? CLUSTER,
    images,
    ruleSet: compileRuleSet(c.rules),
    now: c.now ?? NOW,
  });
}
