/**
 * The ValidatingWebhookConfiguration a cluster applies to point its API server at Portcullis
 * (what `clusters register` answers and iac/kubernetes/ documents).
 */
import { stringify } from 'yaml';
import type { Cluster } from './domain.js';

/** Resources gated by Portcullis (DESIGN.md §3): everything that carries a pod spec. */
export const GATED_RESOURCES = [
  {
    apiGroups: [''],
    apiVersions: ['v1'],
    resources: ['pods', 'pods/ephemeralcontainers', 'replicationcontrollers'],
  },
  {
    apiGroups: ['apps'],
    apiVersions: ['v1'],
    resources: ['deployments', 'replicasets', 'statefulsets', 'daemonsets'],
  },
  { apiGroups: ['batch'], apiVersions: ['v1'], resources: ['jobs', 'cronjobs'] },
] as const;

export interface WebhookConfigOptions {
  cluster: Pick<Cluster, 'name' | 'failurePolicy' | 'timeoutSeconds'>;
  /** The full webhook URL including the token. */
  url: string;
  /** PEM CA bundle for a server whose certificate is not publicly trusted (the local emulator). */
  caBundlePem?: string;
}

/** The configuration as a Kubernetes object. */
export function webhookConfiguration(options: WebhookConfigOptions): Record<string, unknown> {
  const { cluster, url, caBundlePem } = options;
  const clientConfig: Record<string, string> = { url };
  if (caBundlePem !== undefined) clientConfig.caBundle = btoa(caBundlePem);
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: 'portcullis', labels: { 'app.kubernetes.io/name': 'portcullis' } },
    webhooks: [
      {
        name: 'images.portcullis.dev',
        admissionReviewVersions: ['v1'],
        sideEffects: 'NoneOnDryRun',
        failurePolicy: cluster.failurePolicy,
        timeoutSeconds: cluster.timeoutSeconds,
        matchPolicy: 'Equivalent',
        clientConfig,
        rules: GATED_RESOURCES.map((r) => ({
          operations: ['CREATE', 'UPDATE'],
          apiGroups: [...r.apiGroups],
          apiVersions: [...r.apiVersions],
          resources: [...r.resources],
          scope: 'Namespaced',
        })),
        namespaceSelector: {
          matchExpressions: [
            { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system'] },
          ],
        },
      },
    ],
  };
}

/** The configuration as YAML, ready for `kubectl apply -f -`. */
export function webhookConfigurationYaml(options: WebhookConfigOptions): string {
  return `# Portcullis webhook for cluster ${options.cluster.name}. Apply with: kubectl apply -f <this file>\n${stringify(
    webhookConfiguration(options),
  )}`;
}
