import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { changedImages, type Workload, workloadFromObject } from '../../core/workload.js';

// biome-ignore lint/suspicious/noExplicitAny: tests reach into fixtures to edit them
type Json = Record<string, any>;

function fixture(name: string): Json {
  return JSON.parse(readFileSync(new URL(`../fixtures/kubernetes/${name}.json`, import.meta.url), 'utf8'));
}

const debugRequest = fixture('admission-request-kubectl-debug');
const gatekeeperRequest = fixture('admission-request-gatekeeper-pod-create');

const c = (container: string, image: string) => ({ container, type: 'container' as const, image });
const init = (container: string, image: string) => ({ container, type: 'initContainer' as const, image });
const eph = (container: string, image: string) => ({ container, type: 'ephemeralContainer' as const, image });

// [case, object, the request's kind/name/namespace, expected workload]
const FIXTURES: Array<[string, unknown, { kind: string; name?: string; namespace?: string }, Workload]> = [
  [
    'Deployment (kubectl create deployment)',
    fixture('deployment'),
    { kind: 'Deployment', name: 'web', namespace: 'shop' },
    {
      kind: 'Deployment',
      name: 'web',
      namespace: 'shop',
      labels: { app: 'web' },
      podLabels: { app: 'web' },
      podName: 'web',
      deployment: 'web',
      images: [c('nginx', 'nginx:1.25'), c('busybox', 'busybox:1.36')],
    },
  ],
  [
    'Pod (kubectl run)',
    fixture('pod'),
    { kind: 'Pod', name: 'web', namespace: 'default' },
    {
      kind: 'Pod',
      name: 'web',
      namespace: 'default',
      labels: { app: 'web', tier: 'frontend' },
      podLabels: { app: 'web', tier: 'frontend' },
      podName: 'web',
      images: [c('web', 'nginx:1.25')],
    },
  ],
  [
    'CronJob: the pod spec two templates down',
    fixture('cronjob'),
    { kind: 'CronJob', name: 'nightly-report', namespace: 'reports' },
    {
      kind: 'CronJob',
      name: 'nightly-report',
      namespace: 'reports',
      labels: {},
      podLabels: {},
      podName: 'nightly-report',
      images: [c('nightly-report', 'ghcr.io/acme/report:2.4.1')],
    },
  ],
  [
    'Job',
    fixture('job'),
    { kind: 'Job', name: 'db-migrate', namespace: 'payments' },
    {
      kind: 'Job',
      name: 'db-migrate',
      namespace: 'payments',
      labels: {},
      podLabels: {},
      podName: 'db-migrate',
      images: [c('db-migrate', '123456789012.dkr.ecr.us-east-1.amazonaws.com/payments/migrate:v42')],
    },
  ],
  [
    'ReplicaSet made by a Deployment',
    fixture('replicaset'),
    { kind: 'ReplicaSet', name: 'web-5d8f7c9b6d', namespace: 'shop' },
    {
      kind: 'ReplicaSet',
      name: 'web-5d8f7c9b6d',
      namespace: 'shop',
      labels: { app: 'web', 'pod-template-hash': '5d8f7c9b6d' },
      podLabels: { app: 'web', 'pod-template-hash': '5d8f7c9b6d' },
      podName: 'web-5d8f7c9b6d',
      deployment: 'web',
      images: [c('nginx', 'nginx:1.25'), c('busybox', 'busybox:1.36')],
    },
  ],
  [
    'Pod made by that ReplicaSet: generateName only, no request name',
    fixture('pod-from-replicaset'),
    { kind: 'Pod', namespace: 'shop' },
    {
      kind: 'Pod',
      name: 'web-5d8f7c9b6d-',
      namespace: 'shop',
      labels: { app: 'web', 'pod-template-hash': '5d8f7c9b6d' },
      podLabels: { app: 'web', 'pod-template-hash': '5d8f7c9b6d' },
      podName: 'web-5d8f7c9b6d-',
      deployment: 'web',
      images: [c('nginx', 'nginx:1.25'), c('busybox', 'busybox:1.36')],
    },
  ],
  [
    'StatefulSet: object and pod labels differ; containers before initContainers',
    fixture('statefulset'),
    { kind: 'StatefulSet', name: 'db' },
    {
      kind: 'StatefulSet',
      name: 'db',
      namespace: 'payments',
      labels: { app: 'db', team: 'payments' },
      podLabels: { app: 'db', role: 'primary' },
      podName: 'db',
      images: [
        c('postgres', 'postgres:16.3'),
        c('exporter', 'quay.io/prometheuscommunity/postgres-exporter:v0.15.0'),
        init(
          'init-perms',
          'busybox:1.36@sha256:c3839dd800b9eb7603340509769c43e146a74c63dca3045a8e7dc8ee07e53966',
        ),
      ],
    },
  ],
  [
    'DaemonSet',
    fixture('daemonset'),
    { kind: 'DaemonSet', name: 'node-exporter', namespace: 'monitoring' },
    {
      kind: 'DaemonSet',
      name: 'node-exporter',
      namespace: 'monitoring',
      labels: { 'app.kubernetes.io/name': 'node-exporter' },
      podLabels: {
        'app.kubernetes.io/name': 'node-exporter',
        'app.kubernetes.io/part-of': 'kube-prometheus',
      },
      podName: 'node-exporter',
      images: [
        c('node-exporter', 'quay.io/prometheus/node-exporter:v1.8.1'),
        c('kube-rbac-proxy', 'registry.k8s.io/kube-rbac-proxy/kube-rbac-proxy:v0.18.0'),
      ],
    },
  ],
  [
    'ReplicationController: the pod template names its pods',
    fixture('replicationcontroller'),
    { kind: 'ReplicationController', name: 'legacy-frontend', namespace: 'default' },
    {
      kind: 'ReplicationController',
      name: 'legacy-frontend',
      namespace: 'default',
      labels: { app: 'legacy-frontend' },
      podLabels: { app: 'legacy-frontend' },
      podName: 'legacy-frontend-pod',
      images: [c('php', 'myregistry.azurecr.io/legacy/frontend:5.6-apache')],
    },
  ],
  [
    'Pod with init containers and a sidecar',
    fixture('pod-init-containers'),
    { kind: 'Pod', name: 'api', namespace: 'shop' },
    {
      kind: 'Pod',
      name: 'api',
      namespace: 'shop',
      labels: { app: 'api' },
      podLabels: { app: 'api' },
      podName: 'api',
      images: [
        c(
          'api',
          'us-docker.pkg.dev/acme-prod/images/api@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
        ),
        c('cloud-sql-proxy', 'gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.11.0'),
        init('wait-for-db', 'busybox:1.36'),
        init('migrate', 'us-docker.pkg.dev/acme-prod/images/api-migrate:2024.06.1'),
      ],
    },
  ],
  [
    'kubectl debug (pods/ephemeralcontainers UPDATE of kind Pod)',
    debugRequest.object,
    { kind: debugRequest.kind.kind, name: debugRequest.name, namespace: debugRequest.namespace },
    {
      kind: 'Pod',
      name: 'web-5d8f7c9b6d-x7k2p',
      namespace: 'shop',
      labels: { app: 'web', 'pod-template-hash': '5d8f7c9b6d' },
      podLabels: { app: 'web', 'pod-template-hash': '5d8f7c9b6d' },
      podName: 'web-5d8f7c9b6d-x7k2p',
      deployment: 'web',
      images: [c('nginx', 'nginx:1.25'), c('busybox', 'busybox:1.36'), eph('debugger-r8w2q', 'busybox:1.36')],
    },
  ],
  [
    'legacy EphemeralContainers kind (Kubernetes 1.16-1.21)',
    fixture('ephemeralcontainers-legacy'),
    { kind: 'EphemeralContainers', name: 'web-5d8f7c9b6d-x7k2p', namespace: 'shop' },
    {
      kind: 'EphemeralContainers',
      name: 'web-5d8f7c9b6d-x7k2p',
      namespace: 'shop',
      labels: {},
      podLabels: {},
      podName: 'web-5d8f7c9b6d-x7k2p',
      images: [eph('debugger-r8w2q', 'busybox:1.36')],
    },
  ],
  [
    'real AdmissionRequest captured by Gatekeeper',
    gatekeeperRequest.object,
    {
      kind: gatekeeperRequest.kind.kind,
      name: gatekeeperRequest.name,
      namespace: gatekeeperRequest.namespace,
    },
    {
      kind: 'Pod',
      name: 'k8spaulodebug',
      namespace: 'default',
      labels: {},
      podLabels: {},
      podName: 'k8spaulodebug',
      images: [c('dummy', 'k8s.gcr.io/pause')],
    },
  ],
];

describe('workloadFromObject on real objects', () => {
  it.each(FIXTURES)('%s', (_case, object, request, expected) => {
    expect(workloadFromObject(object, request)).toEqual(expected);
  });

  it('takes the kind from the object when the caller has none (a what-if manifest)', () => {
    const w = workloadFromObject(fixture('cronjob'), { kind: '' });
    expect(w?.kind).toBe('CronJob');
    expect(w?.images).toEqual([c('nightly-report', 'ghcr.io/acme/report:2.4.1')]);
  });

  it('finds the pod template of any other kind with spec.template.spec', () => {
    const rollout = { ...fixture('deployment'), apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout' };
    expect(workloadFromObject(rollout, { kind: 'Rollout', namespace: 'shop' })?.images).toEqual([
      c('nginx', 'nginx:1.25'),
      c('busybox', 'busybox:1.36'),
    ]);
  });

  it.each([
    ['ConfigMap', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' }, data: { a: 'b' } }],
    ['Service', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { ports: [] } }],
    ['Namespace', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } }],
  ])('returns null for a %s: nothing to gate', (kind, object) => {
    expect(workloadFromObject(object, { kind })).toBeNull();
  });
});

/** Returns a copy of a fixture with a change applied. */
function edit(name: string, change: (o: Json) => void): Json {
  const o = fixture(name);
  change(o);
  return o;
}

// [case, kind, object, expected owning Deployment]
const OWNERS: Array<[string, string, Json, string | undefined]> = [
  ['a Deployment owns itself', 'Deployment', fixture('deployment'), 'web'],
  [
    'ReplicaSet: the ownerReference wins over the name',
    'ReplicaSet',
    edit('replicaset', (o) => {
      o.metadata.ownerReferences[0].name = 'storefront';
    }),
    'storefront',
  ],
  [
    'ReplicaSet orphaned by --cascade=orphan: from its name and hash',
    'ReplicaSet',
    edit('replicaset', (o) => {
      delete o.metadata.ownerReferences;
    }),
    'web',
  ],
  [
    'ReplicaSet without owner or hash label: none',
    'ReplicaSet',
    edit('replicaset', (o) => {
      delete o.metadata.ownerReferences;
      delete o.metadata.labels['pod-template-hash'];
      delete o.spec.template.metadata.labels['pod-template-hash'];
    }),
    undefined,
  ],
  [
    'ReplicaSet whose name does not end in its hash: none',
    'ReplicaSet',
    edit('replicaset', (o) => {
      delete o.metadata.ownerReferences;
      o.metadata.name = 'cache';
    }),
    undefined,
  ],
  ['Pod owned by a Deployment ReplicaSet', 'Pod', fixture('pod-from-replicaset'), 'web'],
  [
    'Pod owned by a ReplicaSet with a multi-dash name',
    'Pod',
    edit('pod-from-replicaset', (o) => {
      o.metadata.ownerReferences[0].name = 'payments-api-v2-7f9c8d6b5a';
      o.metadata.generateName = 'payments-api-v2-7f9c8d6b5a-';
      o.metadata.labels['pod-template-hash'] = '7f9c8d6b5a';
    }),
    'payments-api-v2',
  ],
  [
    'Pod with generateName and hash but no ownerReference',
    'Pod',
    edit('pod-from-replicaset', (o) => {
      delete o.metadata.ownerReferences;
    }),
    'web',
  ],
  [
    'Pod of a hand-made ReplicaSet (no pod-template-hash): none',
    'Pod',
    edit('pod-from-replicaset', (o) => {
      o.metadata.ownerReferences[0].name = 'cache';
      o.metadata.generateName = 'cache-';
      delete o.metadata.labels['pod-template-hash'];
    }),
    undefined,
  ],
  [
    'Pod whose hash does not match its ReplicaSet: none',
    'Pod',
    edit('pod-from-replicaset', (o) => {
      o.metadata.labels['pod-template-hash'] = '0000000000';
    }),
    undefined,
  ],
  [
    'Pod with several ReplicaSet owners: the controlling one',
    'Pod',
    edit('pod-from-replicaset', (o) => {
      o.metadata.ownerReferences.unshift({ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'x-5d8f7c9b6d' });
    }),
    'web',
  ],
  [
    'Pod of a StatefulSet: none',
    'Pod',
    edit('pod', (o) => {
      o.metadata.name = 'db-0';
      o.metadata.ownerReferences = [
        { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db', controller: true },
      ];
    }),
    undefined,
  ],
  ['a bare Pod: none', 'Pod', fixture('pod'), undefined],
  ['a StatefulSet: none', 'StatefulSet', fixture('statefulset'), undefined],
  ['a CronJob: none', 'CronJob', fixture('cronjob'), undefined],
];

describe('workloadFromObject: the owning Deployment', () => {
  it.each(OWNERS)('%s', (_case, kind, object, expected) => {
    expect(workloadFromObject(object, { kind, namespace: 'shop' })?.deployment).toBe(expected);
  });
});

describe('workloadFromObject on hostile input', () => {
  const pod = (spec: unknown, metadata: unknown = { name: 'p' }) => ({ kind: 'Pod', metadata, spec });

  it.each<[string, unknown, string]>([
    ['null', null, 'Pod'],
    ['undefined', undefined, 'Pod'],
    ['a number', 42, 'Pod'],
    ['a string', 'apiVersion: v1', 'Pod'],
    ['a boolean', true, 'Deployment'],
    ['an array', [fixture('pod')], 'Pod'],
    ['an empty object', {}, 'Pod'],
    ['a Pod without spec', { kind: 'Pod', metadata: { name: 'p' } }, 'Pod'],
    ['a Pod whose spec is null', pod(null), 'Pod'],
    ['a Pod whose spec is an array', pod([{ containers: [] }]), 'Pod'],
    ['a Pod whose spec is a string', pod('containers'), 'Pod'],
    ['a Deployment without template', { spec: { replicas: 1 } }, 'Deployment'],
    ['a Deployment whose template is null', { spec: { template: null } }, 'Deployment'],
    ['a Deployment whose template spec is a number', { spec: { template: { spec: 5 } } }, 'Deployment'],
    ['a Deployment whose spec is an array', { spec: [{ template: { spec: {} } }] }, 'Deployment'],
    ['a CronJob without jobTemplate', { spec: { template: { spec: {} } } }, 'CronJob'],
    ['a CronJob whose jobTemplate spec is a string', { spec: { jobTemplate: { spec: 'x' } } }, 'CronJob'],
    ['EphemeralContainers whose list is an object', { ephemeralContainers: { a: 1 } }, 'EphemeralContainers'],
  ])('%s: null', (_case, object, kind) => {
    expect(workloadFromObject(object, { kind })).toBeNull();
  });

  it('does not follow inherited properties', () => {
    const object = JSON.parse('{"__proto__": {"spec": {"containers": [{"name": "x", "image": "evil"}]}}}');
    expect(workloadFromObject(object, { kind: 'Pod' })).toBeNull();
  });

  it('skips container entries that are not containers with a string image', () => {
    const w = workloadFromObject(
      pod({
        containers: [
          null,
          1,
          'nginx',
          [],
          { name: 'no-image' },
          { name: 'n', image: 42 },
          { name: 9, image: 'a:1' },
        ],
        initContainers: { name: 'i', image: 'b:1' },
        ephemeralContainers: 'debugger',
      }),
      { kind: 'Pod' },
    );
    expect(w?.images).toEqual([c('', 'a:1')]);
  });

  it('gives a best-effort workload when metadata is not an object', () => {
    for (const metadata of [null, [], 'x', 7]) {
      const w = workloadFromObject(pod({ containers: [{ name: 'a', image: 'a:1' }] }, metadata), {
        kind: 'Pod',
        name: 'from-request',
        namespace: 'ns',
      });
      expect(w).toEqual({
        kind: 'Pod',
        name: 'from-request',
        namespace: 'ns',
        labels: {},
        podLabels: {},
        podName: 'from-request',
        images: [c('a', 'a:1')],
      });
    }
  });

  it('keeps only string label values, and a "__proto__" label stays a plain label', () => {
    const object = JSON.parse(
      '{"kind":"Pod","metadata":{"name":"p","labels":{"a":"1","b":2,"c":null,"d":{"e":"f"},"__proto__":"x","constructor":"y"}},"spec":{}}',
    );
    const w = workloadFromObject(object, { kind: 'Pod' });
    expect(w?.labels).toEqual(JSON.parse('{"a":"1","__proto__":"x","constructor":"y"}'));
    expect(Object.getPrototypeOf(w?.labels)).toBe(Object.prototype);
    expect(({} as Json).x).toBeUndefined();
  });

  it('ignores labels and ownerReferences of the wrong shape', () => {
    const w = workloadFromObject(
      {
        metadata: {
          name: 'web-5d8f7c9b6d',
          labels: ['pod-template-hash=5d8f7c9b6d'],
          ownerReferences: [null, 'Deployment/web', { kind: 'Deployment' }, { kind: 'Deployment', name: 7 }],
        },
        spec: { template: { metadata: { labels: 'app=web' }, spec: { containers: [] } } },
      },
      { kind: 'ReplicaSet' },
    );
    expect(w).toEqual({
      kind: 'ReplicaSet',
      name: 'web-5d8f7c9b6d',
      namespace: '',
      labels: {},
      podLabels: {},
      podName: 'web-5d8f7c9b6d',
      images: [],
    });
  });

  it('ignores an ownerReferences object that is not a list', () => {
    const object = edit('pod-from-replicaset', (o) => {
      o.metadata.ownerReferences = { kind: 'ReplicaSet', name: 'other-5d8f7c9b6d' };
    });
    // The generateName still tells the Deployment.
    expect(workloadFromObject(object, { kind: 'Pod' })?.deployment).toBe('web');
  });

  it('survives a hostile request argument', () => {
    const request = { kind: 42, name: {}, namespace: [] } as unknown as { kind: string };
    expect(workloadFromObject(fixture('deployment'), request)).toMatchObject({
      kind: 'Deployment',
      name: 'web',
      namespace: '',
    });
  });

  it('handles a pod with thousands of containers', () => {
    const containers = Array.from({ length: 5000 }, (_, i) => ({ name: `c${i}`, image: `img:${i}` }));
    expect(workloadFromObject(pod({ containers }), { kind: 'Pod' })?.images).toHaveLength(5000);
  });
});

describe('changedImages: what an UPDATE gates', () => {
  const deployment = (change?: (o: Json) => void) =>
    workloadFromObject(change ? edit('deployment', change) : fixture('deployment'), { kind: 'Deployment' })!;
  const containers = (o: Json) => o.spec.template.spec.containers;

  it.each<[string, Workload, Workload | null, string[]]>([
    ['CREATE (no old object): every image', deployment(), null, ['container/nginx', 'container/busybox']],
    [
      'an unrelated edit (replicas, labels): nothing',
      deployment((o) => {
        o.spec.replicas = 5;
        o.metadata.labels.team = 'shop';
      }),
      deployment(),
      [],
    ],
    [
      'one image bumped: only that container',
      deployment((o) => {
        containers(o)[0].image = 'nginx:1.27';
      }),
      deployment(),
      ['container/nginx'],
    ],
    [
      'a container added: only the new one',
      deployment((o) => {
        containers(o).push({ name: 'sidecar', image: 'envoyproxy/envoy:v1.30.1' });
      }),
      deployment(),
      ['container/sidecar'],
    ],
    [
      'a container removed: nothing',
      deployment((o) => {
        containers(o).pop();
      }),
      deployment(),
      [],
    ],
    [
      'a container renamed: gated under its new name',
      deployment((o) => {
        containers(o)[1].name = 'shell';
      }),
      deployment(),
      ['container/shell'],
    ],
    [
      'the same name moved to initContainers: gated as an init container',
      deployment((o) => {
        o.spec.template.spec.initContainers = [containers(o).pop()];
      }),
      deployment(),
      ['initContainer/busybox'],
    ],
    [
      'a re-spelled reference of the same image: gated again (the safe side)',
      deployment((o) => {
        containers(o)[0].image = 'docker.io/library/nginx:1.25';
      }),
      deployment(),
      ['container/nginx'],
    ],
  ])('%s', (_case, now, old, expected) => {
    expect([...changedImages(now, old)]).toEqual(expected);
  });

  it('kubectl debug gates only the debug container, not the pod already running', () => {
    const request = { kind: 'Pod', name: debugRequest.name, namespace: debugRequest.namespace };
    const now = workloadFromObject(debugRequest.object, request)!;
    const old = workloadFromObject(debugRequest.oldObject, request);
    expect([...changedImages(now, old)]).toEqual(['ephemeralContainer/debugger-r8w2q']);
  });
});
