/**
 * Data builders for the benchmarks: a Deployment as `kubectl apply` sends it, the
 * AdmissionReview the API server wraps it in, the cluster, and scans of ~200 vulnerabilities
 * per image (the rules are in rules.ts). Everything is deterministic (seeded), so two runs
 * measure the same work.
 */
import { createHash } from 'node:crypto';
import type { Cluster, Severity } from '../../core/domain.js';

/** The cluster every benchmark evaluates for: an EKS cluster, so AWS cloud scopes apply. */
export const BENCH_CLUSTER = { name: 'prod-eks', provider: 'aws', account: '123456789012' } as const;

/** Where the benchmark Deployment lives, and its name. */
export const NAMESPACE = 'payments';
export const DEPLOYMENT = 'payments-api';

/** A benchmark image: how the manifest names it, and where its scan says it lives. */
export interface BenchImage {
  /** Container name in the Deployment. */
  container: string;
  /** The reference as written in the manifest. */
  image: string;
  registry: string;
  repository: string;
  digest: string;
  tags: string[];
}

function digestOf(seed: string): string {
  return `sha256:${createHash('sha256').update(seed).digest('hex')}`;
}

const LEDGER_DIGEST = digestOf('ledger-worker@4.2.0');

/** The three images of the Deployment: a Docker Hub tag, a GHCR tag and an ECR digest. */
export const BENCH_IMAGES: readonly BenchImage[] = [
  {
    container: 'nginx',
    image: 'nginx:1.25.3',
    registry: 'docker.io',
    repository: 'library/nginx',
    digest: digestOf('nginx:1.25.3'),
    tags: ['1.25.3', '1.25'],
  },
  {
    container: 'api',
    image: 'ghcr.io/acme/payments-api:v2.14.1',
    registry: 'ghcr.io',
    repository: 'acme/payments-api',
    digest: digestOf('payments-api:v2.14.1'),
    tags: ['v2.14.1'],
  },
  {
    container: 'ledger-worker',
    image: `123456789012.dkr.ecr.us-east-1.amazonaws.com/acme/ledger-worker@${LEDGER_DIGEST}`,
    registry: '123456789012.dkr.ecr.us-east-1.amazonaws.com',
    repository: 'acme/ledger-worker',
    digest: LEDGER_DIGEST,
    tags: ['4.2.0'],
  },
];

/** A small fast PRNG (mulberry32): fixtures are the same on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One item of `items`, chosen by `random`. */
export function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

/** Days from `now` as a `YYYY-MM-DD` calendar date (negative = in the past). */
export function dateFrom(now: Date, days: number): string {
  return new Date(now.getTime() + days * 86_400_000).toISOString().slice(0, 10);
}

// ---------------------------------------------------------------------------------------------
// Workload and AdmissionReview

/** The manifest a developer applies: an apps/v1 Deployment with labels and three containers. */
function manifest(): Record<string, unknown> {
  const labels = {
    app: DEPLOYMENT,
    tier: 'backend',
    team: 'payments',
    'app.kubernetes.io/part-of': 'checkout',
  };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: DEPLOYMENT, namespace: NAMESPACE, labels },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: DEPLOYMENT } },
      template: {
        metadata: { labels: { ...labels, version: 'v2.14.1' } },
        spec: {
          serviceAccountName: DEPLOYMENT,
          containers: BENCH_IMAGES.map((image, i) => ({
            name: image.container,
            image: image.image,
            ports: [{ containerPort: 8080 + i, name: `http-${i}` }],
            env: [
              { name: 'LOG_LEVEL', value: 'info' },
              { name: 'OTEL_SERVICE_NAME', value: image.container },
            ],
            resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } },
          })),
        },
      },
    },
  };
}

/**
 * The Deployment as the API server hands it to a validating webhook on CREATE: the applied
 * manifest with server defaults, uid, managedFields and kubectl's last-applied annotation
 * (which alone doubles the body, as it does in real clusters).
 */
export function deploymentObject(): Record<string, unknown> {
  const applied = manifest();
  const spec = applied.spec as { template: { spec: { containers: Record<string, unknown>[] } } };
  const containers = spec.template.spec.containers.map((c) => ({
    ...c,
    imagePullPolicy: 'IfNotPresent',
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
  }));
  const metadata = applied.metadata as Record<string, unknown>;
  return {
    ...applied,
    metadata: {
      ...metadata,
      uid: '0b8c3f1e-6a9d-4c52-9f0e-7d2b1a4c5e6f',
      generation: 1,
      creationTimestamp: '2026-11-26T10:00:00Z',
      annotations: {
        'kubectl.kubernetes.io/last-applied-configuration': `${JSON.stringify(applied)}\n`,
      },
      managedFields: [
        {
          manager: 'kubectl-client-side-apply',
          operation: 'Update',
          apiVersion: 'apps/v1',
          time: '2026-11-26T10:00:00Z',
          fieldsType: 'FieldsV1',
          fieldsV1: {
            'f:metadata': {
              'f:annotations': { '.': {}, 'f:kubectl.kubernetes.io/last-applied-configuration': {} },
            },
            'f:spec': {
              'f:replicas': {},
              'f:selector': {},
              'f:template': { 'f:spec': { 'f:containers': {} } },
            },
          },
        },
      ],
    },
    spec: {
      ...(applied.spec as object),
      revisionHistoryLimit: 10,
      progressDeadlineSeconds: 600,
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } },
      template: {
        ...spec.template,
        spec: {
          ...spec.template.spec,
          containers,
          restartPolicy: 'Always',
          terminationGracePeriodSeconds: 30,
          dnsPolicy: 'ClusterFirst',
          securityContext: {},
          schedulerName: 'default-scheduler',
        },
      },
    },
    status: {},
  };
}

/** The CREATE AdmissionReview (admission.k8s.io/v1) for the Deployment, not a dry run. */
export function admissionReview(uid: string): Record<string, unknown> {
  const gvk = { group: 'apps', version: 'v1', kind: 'Deployment' };
  const gvr = { group: 'apps', version: 'v1', resource: 'deployments' };
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: gvk,
      resource: gvr,
      requestKind: gvk,
      requestResource: gvr,
      name: DEPLOYMENT,
      namespace: NAMESPACE,
      operation: 'CREATE',
      userInfo: {
        username: 'system:serviceaccount:argocd:argocd-application-controller',
        uid: '5d1c2b7e-2f8a-4e3b-8a51-3c6f0d9e4b21',
        groups: ['system:serviceaccounts', 'system:serviceaccounts:argocd', 'system:authenticated'],
      },
      object: deploymentObject(),
      oldObject: null,
      dryRun: false,
      options: {
        kind: 'CreateOptions',
        apiVersion: 'meta.k8s.io/v1',
        fieldManager: 'kubectl-client-side-apply',
      },
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Scans

/** Debian and Go packages with an installed and (sometimes) fixed version. */
const PACKAGES: ReadonlyArray<readonly [string, string, string | undefined]> = [
  ['openssl', '3.0.11-1~deb12u1', '3.0.13-1~deb12u1'],
  ['libssl3', '3.0.11-1~deb12u1', '3.0.13-1~deb12u1'],
  ['zlib1g', '1:1.2.13.dfsg-1', undefined],
  ['curl', '7.88.1-10+deb12u4', '7.88.1-10+deb12u5'],
  ['libcurl4', '7.88.1-10+deb12u4', '7.88.1-10+deb12u5'],
  ['libc6', '2.36-9+deb12u3', '2.36-9+deb12u4'],
  ['libexpat1', '2.5.0-1', undefined],
  ['libxml2', '2.9.14+dfsg-1.3~deb12u1', undefined],
  ['libtiff6', '4.5.0-6+deb12u1', undefined],
  ['perl-base', '5.36.0-7+deb12u1', undefined],
  ['libsqlite3-0', '3.40.1-2', undefined],
  ['libgnutls30', '3.7.9-2+deb12u1', '3.7.9-2+deb12u2'],
  ['libkrb5-3', '1.20.1-2+deb12u1', undefined],
  ['libsystemd0', '252.19-1~deb12u1', undefined],
  ['login', '1:4.13+dfsg1-1', undefined],
  ['tar', '1.34+dfsg-1.2', undefined],
  ['libpcre2-8-0', '10.42-1', undefined],
  ['stdlib', '1.21.4', '1.21.8'],
  ['golang.org/x/net', 'v0.17.0', 'v0.23.0'],
  ['google.golang.org/grpc', 'v1.58.2', 'v1.58.3'],
  ['github.com/golang-jwt/jwt/v4', 'v4.5.0', 'v4.5.1'],
];

/** An advisory id with its severity. */
export interface Advisory {
  id: string;
  severity: Severity;
}

/** Share of advisories per severity, roughly what a year-old Debian-based image carries. */
const SEVERITY_MIX: ReadonlyArray<readonly [Severity, number]> = [
  ['Critical', 0.04],
  ['High', 0.2],
  ['Medium', 0.4],
  ['Low', 0.25],
  ['Negligible', 0.11],
];

function severityFor(x: number): Severity {
  let acc = 0;
  for (const [severity, share] of SEVERITY_MIX) {
    acc += share;
    if (x < acc) return severity;
  }
  return 'Negligible';
}

/** The advisories images draw from; rule CVE lists draw partly from it too, so some hit. */
export const ADVISORIES: readonly Advisory[] = (() => {
  const random = prng(1);
  const seen = new Set<string>();
  const out: Advisory[] = [];
  while (out.length < 600) {
    const id =
      random() < 0.08
        ? `GHSA-${Math.floor(random() * 36 ** 4).toString(36)}-${Math.floor(random() * 36 ** 4).toString(36)}-${Math.floor(random() * 36 ** 4).toString(36)}`
        : `CVE-${2016 + Math.floor(random() * 9)}-${10_000 + Math.floor(random() * 40_000)}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push({ id, severity: severityFor(random()) });
  }
  return out;
})();

const CVSS_RANGE: Record<Severity, readonly [number, number] | undefined> = {
  Critical: [9, 10],
  High: [7, 8.9],
  Medium: [4, 6.9],
  Low: [0.1, 3.9],
  Negligible: undefined,
};

/** A vulnerability as the native import format carries it. */
export interface NativeVulnerability {
  id: string;
  severity: Severity;
  cvss?: number;
  package: string;
  version: string;
  fixedVersion?: string;
}

/** A native-format image entry (`POST /api/v1/findings:import?format=native`). */
export interface NativeImage {
  registry: string;
  repository: string;
  digest: string;
  tags: string[];
  status: 'Scanned';
  scannedAt: string;
  vulnerabilities: NativeVulnerability[];
}

/**
 * About `count` findings for an image: one per advisory per package, a third of the
 * advisories affecting two packages (openssl + libssl3, curl + libcurl4 and the like).
 * The same `seed` gives the same list.
 */
export function vulnerabilitiesFor(seed: number, count: number): NativeVulnerability[] {
  const random = prng(seed);
  const out: NativeVulnerability[] = [];
  const used = new Set<string>();
  while (out.length < count) {
    const advisory = pick(random, ADVISORIES);
    if (used.has(advisory.id)) continue;
    used.add(advisory.id);
    const packages = random() < 0.33 ? 2 : 1;
    for (let p = 0; p < packages && out.length < count; p++) {
      const [name, version, fixedVersion] = pick(random, PACKAGES);
      const range = CVSS_RANGE[advisory.severity];
      const v: NativeVulnerability = { id: advisory.id, severity: advisory.severity, package: name, version };
      if (range !== undefined) v.cvss = Math.round((range[0] + random() * (range[1] - range[0])) * 10) / 10;
      if (fixedVersion !== undefined && random() < 0.8) v.fixedVersion = fixedVersion;
      out.push(v);
    }
  }
  return out;
}

/** The native-format scans of the three benchmark images, `perImage` findings each, scanned 2 days ago. */
export function benchScans(now: Date, perImage = 200): NativeImage[] {
  const scannedAt = new Date(now.getTime() - 2 * 86_400_000).toISOString();
  return BENCH_IMAGES.map((image, i) => ({
    registry: image.registry,
    repository: image.repository,
    digest: image.digest,
    tags: image.tags,
    status: 'Scanned',
    scannedAt,
    vulnerabilities: vulnerabilitiesFor(100 + i, perImage),
  }));
}

/** The benchmark cluster as the registry returns it. */
export function benchCluster(now: Date): Cluster {
  const at = now.toISOString();
  return {
    id: 'cluster-bench',
    ...BENCH_CLUSTER,
    failurePolicy: 'Fail',
    timeoutSeconds: 5,
    createdAt: at,
    createdBy: 'apikey:bench',
    tokenRotatedAt: at,
  };
}
