import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../core/errors.js';
import { type ImageRef, parseImageRef } from '../../core/image-ref.js';

const D1 = 'sha256:c3839dd800b9eb7603340509769c43e146a74c63dca3045a8e7dc8ee07e53966';
const D2 = 'sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08';
const SHA512 = `sha512:${'ab'.repeat(64)}`;

type Expected = Omit<ImageRef, 'normalized'>;

// [as written in a manifest, expected normalized form, expected parts]
const VALID: Array<[string, string, Expected]> = [
  // Docker Hub, official images
  [
    'nginx',
    'docker.io/library/nginx:latest',
    { registry: 'docker.io', repository: 'library/nginx', tag: 'latest' },
  ],
  [
    'nginx:1.25',
    'docker.io/library/nginx:1.25',
    { registry: 'docker.io', repository: 'library/nginx', tag: '1.25' },
  ],
  [
    'nginx:1.25.4-alpine3.18',
    'docker.io/library/nginx:1.25.4-alpine3.18',
    { registry: 'docker.io', repository: 'library/nginx', tag: '1.25.4-alpine3.18' },
  ],
  [
    'busybox:1.36',
    'docker.io/library/busybox:1.36',
    { registry: 'docker.io', repository: 'library/busybox', tag: '1.36' },
  ],
  [
    'postgres:16.3',
    'docker.io/library/postgres:16.3',
    { registry: 'docker.io', repository: 'library/postgres', tag: '16.3' },
  ],
  [
    'library/redis:7.2',
    'docker.io/library/redis:7.2',
    { registry: 'docker.io', repository: 'library/redis', tag: '7.2' },
  ],
  [
    'docker.io/nginx',
    'docker.io/library/nginx:latest',
    { registry: 'docker.io', repository: 'library/nginx', tag: 'latest' },
  ],
  [
    'docker.io/library/nginx:latest',
    'docker.io/library/nginx:latest',
    { registry: 'docker.io', repository: 'library/nginx', tag: 'latest' },
  ],
  [
    'index.docker.io/library/nginx:1.25',
    'docker.io/library/nginx:1.25',
    { registry: 'docker.io', repository: 'library/nginx', tag: '1.25' },
  ],
  [
    'index.docker.io/nginx',
    'docker.io/library/nginx:latest',
    { registry: 'docker.io', repository: 'library/nginx', tag: 'latest' },
  ],
  [
    'registry-1.docker.io/library/alpine:3.20',
    'docker.io/library/alpine:3.20',
    { registry: 'docker.io', repository: 'library/alpine', tag: '3.20' },
  ],
  [
    'Docker.IO/library/nginx',
    'docker.io/library/nginx:latest',
    { registry: 'docker.io', repository: 'library/nginx', tag: 'latest' },
  ],
  // Docker Hub, user and org images; tags keep their case
  [
    'bitnami/redis:7.2.4-debian-12-r9',
    'docker.io/bitnami/redis:7.2.4-debian-12-r9',
    { registry: 'docker.io', repository: 'bitnami/redis', tag: '7.2.4-debian-12-r9' },
  ],
  [
    'grafana/grafana:10.4.2',
    'docker.io/grafana/grafana:10.4.2',
    { registry: 'docker.io', repository: 'grafana/grafana', tag: '10.4.2' },
  ],
  [
    'docker.io/bitnami/kubectl:1.30',
    'docker.io/bitnami/kubectl:1.30',
    { registry: 'docker.io', repository: 'bitnami/kubectl', tag: '1.30' },
  ],
  [
    'jenkins/inbound-agent:3206.vb_15dcf73f91a_1-4',
    'docker.io/jenkins/inbound-agent:3206.vb_15dcf73f91a_1-4',
    { registry: 'docker.io', repository: 'jenkins/inbound-agent', tag: '3206.vb_15dcf73f91a_1-4' },
  ],
  [
    'myorg/my_app__worker:RC1_Final',
    'docker.io/myorg/my_app__worker:RC1_Final',
    { registry: 'docker.io', repository: 'myorg/my_app__worker', tag: 'RC1_Final' },
  ],
  [
    'mcr--mirror/a---b:x',
    'docker.io/mcr--mirror/a---b:x',
    { registry: 'docker.io', repository: 'mcr--mirror/a---b', tag: 'x' },
  ],
  // digests: a digest wins over a tag in the normalized form; the tag is kept
  [
    `nginx@${D1}`,
    `docker.io/library/nginx@${D1}`,
    { registry: 'docker.io', repository: 'library/nginx', digest: D1 },
  ],
  [
    `nginx:1.25@${D1}`,
    `docker.io/library/nginx@${D1}`,
    { registry: 'docker.io', repository: 'library/nginx', tag: '1.25', digest: D1 },
  ],
  [
    `busybox:1.36@${D1}`,
    `docker.io/library/busybox@${D1}`,
    { registry: 'docker.io', repository: 'library/busybox', tag: '1.36', digest: D1 },
  ],
  [
    `ghcr.io/fluxcd/source-controller:v1.3.0@${D2}`,
    `ghcr.io/fluxcd/source-controller@${D2}`,
    { registry: 'ghcr.io', repository: 'fluxcd/source-controller', tag: 'v1.3.0', digest: D2 },
  ],
  [
    `quay.io/jetstack/cert-manager-controller@${SHA512}`,
    `quay.io/jetstack/cert-manager-controller@${SHA512}`,
    { registry: 'quay.io', repository: 'jetstack/cert-manager-controller', digest: SHA512 },
  ],
  // registries with ports, IPs and localhost
  ['myreg:5000/app', 'myreg:5000/app:latest', { registry: 'myreg:5000', repository: 'app', tag: 'latest' }],
  [
    'myreg:5000/team/app:v2',
    'myreg:5000/team/app:v2',
    { registry: 'myreg:5000', repository: 'team/app', tag: 'v2' },
  ],
  ['localhost/app', 'localhost/app:latest', { registry: 'localhost', repository: 'app', tag: 'latest' }],
  [
    'localhost:5000/x',
    'localhost:5000/x:latest',
    { registry: 'localhost:5000', repository: 'x', tag: 'latest' },
  ],
  [
    'LocalHost:5000/x:dev',
    'localhost:5000/x:dev',
    { registry: 'localhost:5000', repository: 'x', tag: 'dev' },
  ],
  [
    '10.0.0.12:5000/team/api:1.0',
    '10.0.0.12:5000/team/api:1.0',
    { registry: '10.0.0.12:5000', repository: 'team/api', tag: '1.0' },
  ],
  [
    '192.168.1.10/app',
    '192.168.1.10/app:latest',
    { registry: '192.168.1.10', repository: 'app', tag: 'latest' },
  ],
  ['[::1]:5000/app:v1', '[::1]:5000/app:v1', { registry: '[::1]:5000', repository: 'app', tag: 'v1' }],
  [
    'Registry.Example.COM:443/team/app',
    'registry.example.com:443/team/app:latest',
    { registry: 'registry.example.com:443', repository: 'team/app', tag: 'latest' },
  ],
  // a name without '/' stays on Docker Hub even when it looks like host:port
  [
    'localhost:5000',
    'docker.io/library/localhost:5000',
    { registry: 'docker.io', repository: 'library/localhost', tag: '5000' },
  ],
  // Kubernetes and Google registries
  [
    'k8s.gcr.io/pause',
    'k8s.gcr.io/pause:latest',
    { registry: 'k8s.gcr.io', repository: 'pause', tag: 'latest' },
  ],
  [
    'registry.k8s.io/pause:3.9',
    'registry.k8s.io/pause:3.9',
    { registry: 'registry.k8s.io', repository: 'pause', tag: '3.9' },
  ],
  [
    'registry.k8s.io/ingress-nginx/controller:v1.10.1',
    'registry.k8s.io/ingress-nginx/controller:v1.10.1',
    { registry: 'registry.k8s.io', repository: 'ingress-nginx/controller', tag: 'v1.10.1' },
  ],
  ['gcr.io/p/a/b:v1', 'gcr.io/p/a/b:v1', { registry: 'gcr.io', repository: 'p/a/b', tag: 'v1' }],
  [
    'gcr.io/distroless/static-debian12:nonroot',
    'gcr.io/distroless/static-debian12:nonroot',
    { registry: 'gcr.io', repository: 'distroless/static-debian12', tag: 'nonroot' },
  ],
  [
    'us-docker.pkg.dev/p/r/img',
    'us-docker.pkg.dev/p/r/img:latest',
    { registry: 'us-docker.pkg.dev', repository: 'p/r/img', tag: 'latest' },
  ],
  [
    'europe-west1-docker.pkg.dev/acme-prod/images/api:2024.06.1',
    'europe-west1-docker.pkg.dev/acme-prod/images/api:2024.06.1',
    { registry: 'europe-west1-docker.pkg.dev', repository: 'acme-prod/images/api', tag: '2024.06.1' },
  ],
  // AWS
  [
    '123456789012.dkr.ecr.us-east-1.amazonaws.com/repo:tag',
    '123456789012.dkr.ecr.us-east-1.amazonaws.com/repo:tag',
    { registry: '123456789012.dkr.ecr.us-east-1.amazonaws.com', repository: 'repo', tag: 'tag' },
  ],
  [
    `123456789012.dkr.ecr.eu-central-1.amazonaws.com/payments/api@${D2}`,
    `123456789012.dkr.ecr.eu-central-1.amazonaws.com/payments/api@${D2}`,
    { registry: '123456789012.dkr.ecr.eu-central-1.amazonaws.com', repository: 'payments/api', digest: D2 },
  ],
  [
    'public.ecr.aws/eks-distro/kubernetes/pause:3.9',
    'public.ecr.aws/eks-distro/kubernetes/pause:3.9',
    { registry: 'public.ecr.aws', repository: 'eks-distro/kubernetes/pause', tag: '3.9' },
  ],
  [
    '602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni:v1.18.1-eksbuild.1',
    '602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni:v1.18.1-eksbuild.1',
    {
      registry: '602401143452.dkr.ecr.us-west-2.amazonaws.com',
      repository: 'amazon-k8s-cni',
      tag: 'v1.18.1-eksbuild.1',
    },
  ],
  // Azure
  [
    'myregistry.azurecr.io/legacy/frontend:5.6-apache',
    'myregistry.azurecr.io/legacy/frontend:5.6-apache',
    { registry: 'myregistry.azurecr.io', repository: 'legacy/frontend', tag: '5.6-apache' },
  ],
  [
    'mcr.microsoft.com/dotnet/aspnet:8.0',
    'mcr.microsoft.com/dotnet/aspnet:8.0',
    { registry: 'mcr.microsoft.com', repository: 'dotnet/aspnet', tag: '8.0' },
  ],
  [
    'mcr.microsoft.com/oss/kubernetes/kube-proxy:v1.29.2-hotfix.20240322',
    'mcr.microsoft.com/oss/kubernetes/kube-proxy:v1.29.2-hotfix.20240322',
    {
      registry: 'mcr.microsoft.com',
      repository: 'oss/kubernetes/kube-proxy',
      tag: 'v1.29.2-hotfix.20240322',
    },
  ],
  // quay, ghcr, others
  [
    'quay.io/prometheus/node-exporter:v1.8.1',
    'quay.io/prometheus/node-exporter:v1.8.1',
    { registry: 'quay.io', repository: 'prometheus/node-exporter', tag: 'v1.8.1' },
  ],
  [
    'quay.io/argoproj/argocd:v2.11.3',
    'quay.io/argoproj/argocd:v2.11.3',
    { registry: 'quay.io', repository: 'argoproj/argocd', tag: 'v2.11.3' },
  ],
  [
    'ghcr.io/acme/report:2.4.1',
    'ghcr.io/acme/report:2.4.1',
    { registry: 'ghcr.io', repository: 'acme/report', tag: '2.4.1' },
  ],
  [
    'docker.elastic.co/elasticsearch/elasticsearch:8.14.1',
    'docker.elastic.co/elasticsearch/elasticsearch:8.14.1',
    { registry: 'docker.elastic.co', repository: 'elasticsearch/elasticsearch', tag: '8.14.1' },
  ],
  [
    'nvcr.io/nvidia/k8s-device-plugin:v0.15.0',
    'nvcr.io/nvidia/k8s-device-plugin:v0.15.0',
    { registry: 'nvcr.io', repository: 'nvidia/k8s-device-plugin', tag: 'v0.15.0' },
  ],
  [
    'harbor.corp.example:8443/platform/base/ubuntu:22.04',
    'harbor.corp.example:8443/platform/base/ubuntu:22.04',
    { registry: 'harbor.corp.example:8443', repository: 'platform/base/ubuntu', tag: '22.04' },
  ],
  // an upper-case first component cannot be a Docker Hub path, so runtimes read it as a host
  ['MyMirror/app:1', 'mymirror/app:1', { registry: 'mymirror', repository: 'app', tag: '1' }],
  // tags at the 128-character limit
  [
    `app:${'a'.repeat(128)}`,
    `docker.io/library/app:${'a'.repeat(128)}`,
    { registry: 'docker.io', repository: 'library/app', tag: 'a'.repeat(128) },
  ],
];

describe('parseImageRef: normalizes as container runtimes do', () => {
  it.each(VALID)('%s -> %s', (ref, normalized, parts) => {
    expect(parseImageRef(ref)).toEqual({ ...parts, normalized });
  });

  it('covers at least 40 real references', () => {
    expect(VALID.length).toBeGreaterThanOrEqual(40);
  });

  it('gives every spelling of one Docker Hub image the same normalized form', () => {
    const spellings = [
      'nginx',
      'nginx:latest',
      'library/nginx',
      'docker.io/nginx',
      'docker.io/library/nginx:latest',
      'index.docker.io/library/nginx',
      'registry-1.docker.io/library/nginx:latest',
    ];
    const forms = new Set(spellings.map((s) => parseImageRef(s).normalized));
    expect([...forms]).toEqual(['docker.io/library/nginx:latest']);
  });

  it('leaves the tag off the normalized form when a digest pins the image', () => {
    const pinned = parseImageRef(`nginx:1.25@${D1}`);
    const byDigest = parseImageRef(`docker.io/library/nginx@${D1}`);
    expect(pinned.normalized).toBe(byDigest.normalized);
    expect(pinned.tag).toBe('1.25');
  });
});

// [reference, a fragment the error message must contain]
const INVALID: Array<[string, string]> = [
  ['', 'empty'],
  [' ', 'whitespace'],
  [' nginx', 'whitespace'],
  ['nginx ', 'whitespace'],
  ['nginx:1.25\n', 'whitespace'],
  ['ngi nx', 'whitespace'],
  ['https://ghcr.io/acme/app:1', 'scheme'],
  ['docker://nginx', 'scheme'],
  ['Nginx', 'lower-case'],
  ['nginx/NGINX:1', 'lower-case'],
  ['ghcr.io/Acme/App:1', 'lower-case'],
  ['docker.io/library/Nginx', 'lower-case'],
  ['123456789012.dkr.ecr.us-east-1.amazonaws.com/Payments/api:1', 'lower-case'],
  ['nginx@sha256:abc', 'sha256 digest has 64 hex characters'],
  [`nginx@${D1}00`, 'sha256 digest has 64 hex characters'],
  [`nginx@${D1.toUpperCase()}`, 'lower case'],
  [`nginx@${D1.replace('c3', 'zz')}`, 'not <algorithm>:<hex>'],
  [`nginx@md5:${'a'.repeat(32)}`, 'unsupported digest algorithm'],
  ['nginx@', 'not <algorithm>:<hex>'],
  [`nginx@${D1}@${D1}`, 'not <algorithm>:<hex>'],
  [`nginx@${D1.slice(7)}`, 'not <algorithm>:<hex>'],
  [`app:${'a'.repeat(129)}`, 'longer than 128'],
  ['nginx:', 'empty tag'],
  ['nginx:-rc1', 'tag "-rc1"'],
  ['nginx:.hidden', 'tag ".hidden"'],
  ['nginx:1.25+build', 'tag "1.25+build"'],
  ['nginx:1.25:extra', 'path component "nginx:1.25"'],
  [':1.25', 'missing repository'],
  ['gcr.io/', 'empty path component'],
  ['gcr.io//app', 'empty path component'],
  ['gcr.io/app/', 'empty path component'],
  ['/nginx', 'empty path component'],
  ['-bad.example.com/app', 'registry host'],
  ['my_reg.example.com/app', 'registry host'],
  ['myreg:port/app', 'registry host'],
  ['nginx-/x', 'path component "nginx-"'],
  ['a..b/c', 'registry host'],
  ['team/app..v2', 'path component "app..v2"'],
  ['team/_app', 'path component "_app"'],
  ['team/app___x', 'path component'],
  [`${'c3839dd800b9eb7603340509769c43e146a74c63dca3045a8e7dc8ee07e53966'}`, 'image ID'],
  [`registry.example.com/${'a'.repeat(250)}`, 'longer than 255'],
];

describe('parseImageRef: rejects what runtimes reject, saying why', () => {
  it.each(INVALID)('%j', (ref, reason) => {
    let error: unknown;
    try {
      parseImageRef(ref);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).code).toBe('invalid_argument');
    expect((error as Error).message).toContain(reason);
  });

  it('names the offending reference, quoted so whitespace shows', () => {
    expect(() => parseImageRef('nginx:1.25\t')).toThrow('invalid image reference "nginx:1.25\\t"');
  });

  it('keeps the message short for an enormous input', () => {
    const huge = `${'a'.repeat(100_000)}:`;
    expect(() => parseImageRef(huge)).toThrow(ValidationError);
    try {
      parseImageRef(huge);
    } catch (e) {
      expect((e as Error).message.length).toBeLessThan(400);
    }
  });

  it('rejects a value that is not a string (untrusted JSON)', () => {
    for (const bad of [null, undefined, 42, {}, ['nginx']]) {
      expect(() => parseImageRef(bad as unknown as string)).toThrow(ValidationError);
    }
  });
});
