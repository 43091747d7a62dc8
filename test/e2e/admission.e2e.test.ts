/**
 * The admission scenario end to end: the emulator as a process over HTTPS, a registered
 * cluster, a real Trivy report, rules through the API, and AdmissionReviews wrapped around
 * objects kubectl made — checking what the developer and the security team each see.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admissionReview, type EmulatorProcess, fixture, ROOT, startEmulatorProcess } from './emulator.js';
import { STORE_BACKENDS } from './stores.js';

const DEBIAN_DIGEST = `sha256:${'d'.repeat(64)}`;
const ALPINE_DIGEST = `sha256:${'a'.repeat(64)}`;
const LOW_CVE = 'CVE-2011-3374'; // a Low finding of debian:10.8 in the Trivy report

let emu: EmulatorProcess;
let token: string;
let uidCounter = 0;

async function review(
  object: unknown,
  namespace: string,
  extra: Parameters<typeof admissionReview>[1] extends infer O ? Partial<O> : never = {},
) {
  const uid = `e2e-${++uidCounter}`;
  const body = admissionReview(object, { uid, namespace, ...extra });
  const res = await emu.http('POST', `/admission/${token}`, { body, key: null });
  return { uid, res, response: res.json?.response };
}

async function eventFor(uid: string) {
  const res = await emu.http('GET', `/api/v1/admissions?uid=${uid}`);
  expect(res.status).toBe(200);
  return res.json.items[0];
}

const rules = [
  {
    name: 'deny-high',
    action: 'Deny',
    scope: { resources: [{ type: 'Namespace', match: 'StartsWith', value: 'team-' }] },
    conditions: { severities: ['High', 'Critical'] },
    exemptions: [
      {
        type: 'Namespace',
        match: 'Equals',
        value: 'team-exempt',
        expiresOn: '2099-12-31',
        reason: 'migration',
        ticket: 'SEC-1',
      },
      {
        type: 'Namespace',
        match: 'Equals',
        value: 'team-expired',
        expiresOn: '2020-01-31',
        reason: 'old waiver',
      },
    ],
  },
  {
    name: 'deny-apt-cve',
    action: 'Deny',
    scope: { resources: [{ type: 'Namespace', match: 'Equals', value: 'cve-only' }] },
    conditions: { cves: [LOW_CVE] },
  },
  {
    name: 'deny-apt-cve-exempted',
    action: 'Deny',
    scope: { resources: [{ type: 'Namespace', match: 'Equals', value: 'cve-exempt' }] },
    conditions: { cves: [LOW_CVE] },
    exemptions: [{ type: 'CVE', match: 'Equals', value: LOW_CVE, reason: 'not reachable', ticket: 'SEC-2' }],
  },
  {
    name: 'deny-unscanned',
    action: 'Deny',
    scope: { resources: [{ type: 'Namespace', match: 'Equals', value: 'strict' }] },
    conditions: { severities: ['Critical'] },
    applyToUnscannedImages: true,
  },
  {
    name: 'phased-deny',
    action: 'Deny',
    enforceFrom: '2099-01-01',
    scope: { resources: [{ type: 'Namespace', match: 'Equals', value: 'phased' }] },
    conditions: { severities: ['High'] },
  },
];

describe.each(STORE_BACKENDS)('admission scenario on $name', (backend) => {
  let stopServer: () => Promise<void> = async () => {};

  beforeAll(async () => {
    const server = await backend.start();
    stopServer = () => server.stop();
    emu = await startEmulatorProcess({ ...server.env, PORTCULLIS_STORE: backend.name });
    const cluster = await emu.http('POST', '/api/v1/clusters', {
      body: { name: 'e2e', provider: 'aws', account: '123456789012' },
    });
    expect(cluster.status).toBe(201);
    token = cluster.json.token;
    const debian = readFileSync(join(ROOT, 'test/fixtures/scans/trivy-legacy-debian-10.8.json'));
    const imported = await emu.http(
      'POST',
      `/api/v1/findings:import?format=trivy&image=${encodeURIComponent(`debian:10.8@${DEBIAN_DIGEST}`)}`,
      { raw: debian },
    );
    expect(imported.json).toEqual({ images: 1, vulnerabilities: 93 });
    const alpine = readFileSync(join(ROOT, 'test/fixtures/scans/trivy-v2-alpine-3.10.2.golden.json'));
    const image = `ghcr.io/aquasecurity/trivy-test-images:alpine-310@${ALPINE_DIGEST}`;
    expect(
      (
        await emu.http('POST', `/api/v1/findings:import?format=trivy&image=${encodeURIComponent(image)}`, {
          raw: alpine,
        })
      ).status,
    ).toBe(200);
    for (const rule of rules)
      expect((await emu.http('POST', '/api/v1/rules', { body: rule })).status).toBe(201);
  }, 60_000);

  afterAll(async () => {
    try {
      expect(await emu?.stop()).toBe(0);
    } finally {
      await stopServer();
    }
  });

  describe('the registered cluster', () => {
    it('gets a webhook configuration ready for kubectl apply', async () => {
      const res = await emu.http('POST', '/api/v1/clusters', { body: { name: 'other' } });
      const yaml: string = res.json.webhookConfiguration;
      expect(res.json.webhookUrl).toBe(`${emu.url}/admission/${res.json.token}`);
      expect(yaml).toContain('sideEffects: NoneOnDryRun');
      expect(yaml).toMatch(/admissionReviewVersions:\s*\n\s*- v1/);
      expect(yaml).toContain('kube-system');
      expect(yaml).toContain('caBundle:');
      expect(
        (await emu.http('GET', '/api/v1/clusters')).json.items.every((c: object) => !('token' in c)),
      ).toBe(true);
    });
  });

  describe('decisions through the webhook', () => {
    it('denies a Deployment on severity with a message a developer can act on', async () => {
      const { uid, res, response } = await review(fixture('kubernetes/e2e/deployment-debian.json'), 'team-a');
      expect(res.status).toBe(200);
      expect(response).toMatchObject({ uid, allowed: false, status: { code: 403 } });
      expect(response.status.message).toContain('docker.io/library/debian:10.8');
      expect(response.status.message).toContain('"deny-high"');
      expect(response.status.message).toContain('because of 9 High vulnerabilities');
      expect(response.status.message).toContain('the image has 9 High, 6 Medium, 44 Low in all');
      expect(response.status.message).toMatch(/CVE-\d{4}-\d+/);
      expect(response.status.message).toContain('exemption');
      const event = await eventFor(uid);
      expect(event).toMatchObject({
        decision: 'Denied',
        cluster: 'e2e',
        namespace: 'team-a',
        kind: 'Deployment',
        name: 'api',
        user: 'dev@example.com',
      });
      expect(event.images[0]).toMatchObject({
        digest: DEBIAN_DIGEST,
        scanState: 'Scanned',
        counts: { High: 9 },
      });
      expect(event.images[0].triggeredRules.map((r: { ruleName: string }) => r.ruleName)).toContain(
        'deny-high',
      );
    });

    it('denies a Pod on a CVE id', async () => {
      const { uid, response } = await review(fixture('kubernetes/e2e/pod-debian.json'), 'cve-only');
      expect(response.allowed).toBe(false);
      expect(response.status.message).toContain('"deny-apt-cve"');
      expect(response.status.message).toContain(LOW_CVE);
      expect((await eventFor(uid)).kind).toBe('Pod');
    });

    it('a CVE exemption lets the image through; the default rule still audits it', async () => {
      const { uid, response } = await review(fixture('kubernetes/e2e/deployment-debian.json'), 'cve-exempt');
      expect(response.allowed).toBe(true);
      expect(response.warnings.join('\n')).toContain('default-audit-high-critical');
      const event = await eventFor(uid);
      expect(event.decision).toBe('Audited');
      expect(event.images[0].exemptions).toMatchObject([
        { ruleName: 'deny-apt-cve-exempted', type: 'CVE', cves: [LOW_CVE] },
      ]);
    });

    it('a namespace exemption takes the workload out of the rule', async () => {
      const { uid, response } = await review(fixture('kubernetes/e2e/deployment-debian.json'), 'team-exempt');
      expect(response.allowed).toBe(true);
      const event = await eventFor(uid);
      expect(event.images[0].exemptions).toMatchObject([
        { ruleName: 'deny-high', type: 'Namespace', expiresOn: '2099-12-31' },
      ]);
    });

    it('an expired exemption no longer applies', async () => {
      const { response } = await review(fixture('kubernetes/e2e/deployment-debian.json'), 'team-expired');
      expect(response.allowed).toBe(false);
      const rule = (await emu.http('GET', '/api/v1/rules/deny-high')).json;
      // Kept on the rule for the record, marked expired.
      expect(rule.exemptions.find((e: { value: string }) => e.value === 'team-expired').expired).toBe(true);
    });

    it('audits with kubectl warnings and audit annotations', async () => {
      const { uid, response } = await review(fixture('kubernetes/e2e/deployment-debian.json'), 'default');
      expect(response).toMatchObject({ allowed: true, auditAnnotations: { decision: 'Audited' } });
      expect(response.warnings[0]).toMatch(
        /^Portcullis audit: debian:10\.8: rule "default-audit-high-critical"/,
      );
      expect(response.status).toBeUndefined();
      expect((await eventFor(uid)).decision).toBe('Audited');
    });

    it('allows a clean image and records it', async () => {
      const { uid, response } = await review(fixture('kubernetes/e2e/deployment-alpine.json'), 'team-a');
      expect(response).toMatchObject({ allowed: true });
      expect(response.warnings).toBeUndefined();
      expect((await eventFor(uid)).images[0]).toMatchObject({ scanState: 'Scanned', counts: { Medium: 2 } });
    });

    it('does not gate an unscanned image by a rule without applyToUnscannedImages, and says so', async () => {
      const { uid, response } = await review(fixture('kubernetes/e2e/deployment-unscanned.json'), 'team-a');
      expect(response.allowed).toBe(true);
      const image = (await eventFor(uid)).images[0];
      expect(image.scanState).toBe('NotFound');
      expect(image.notes.join('\n')).toContain('not gated by rule "deny-high": no usable scan (NotFound)');
    });

    it('denies an unscanned image under a rule with applyToUnscannedImages', async () => {
      const { response } = await review(fixture('kubernetes/e2e/deployment-unscanned.json'), 'strict');
      expect(response.allowed).toBe(false);
      expect(response.status.message).toContain('never been scanned (NotFound)');
    });

    it('audits a Deny rule before its enforceFrom day, saying when Deny begins', async () => {
      const { response } = await review(fixture('kubernetes/e2e/deployment-debian.json'), 'phased');
      expect(response.allowed).toBe(true);
      expect(response.warnings.join('\n')).toContain('will be DENIED from 2099-01-01');
    });

    it('gates a CronJob through its job template', async () => {
      const { response } = await review(fixture('kubernetes/e2e/cronjob-debian.json'), 'team-a');
      expect(response.allowed).toBe(false);
      expect(response.status.message).toContain('CronJob report');
    });

    it('gates the image of an ephemeral debug container, not the images already running', async () => {
      const debug = fixture('kubernetes/admission-request-kubectl-debug.json') as {
        object: { spec: { containers: { image: string }[]; ephemeralContainers: { image: string }[] } };
        oldObject: { spec: { containers: { image: string }[] } };
      };
      for (const o of [debug.object, debug.oldObject]) o.spec.containers[0]!.image = 'debian:10.8';
      const body = {
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        request: { ...debug, uid: 'e2e-debug-1', namespace: 'team-a' },
      };
      const allowed = await emu.http('POST', `/admission/${token}`, { body, key: null });
      expect(allowed.json.response).toMatchObject({ uid: 'e2e-debug-1', allowed: true });
      debug.object.spec.ephemeralContainers[0]!.image = 'debian:10.8';
      body.request = { ...debug, uid: 'e2e-debug-2', namespace: 'team-a' };
      const denied = await emu.http('POST', `/admission/${token}`, { body, key: null });
      expect(denied.json.response).toMatchObject({ uid: 'e2e-debug-2', allowed: false });
      const event = await eventFor('e2e-debug-2');
      expect(
        event.images.map((i: { containerType: string; gated: boolean }) => [i.containerType, i.gated]),
      ).toEqual([
        ['container', false],
        ['container', false],
        ['ephemeralContainer', true],
      ]);
    });

    it('evaluates a dryRun request but records nothing', async () => {
      const { uid, response } = await review(fixture('kubernetes/e2e/deployment-debian.json'), 'team-a', {
        dryRun: true,
      });
      expect(response.allowed).toBe(false);
      expect(await eventFor(uid)).toBeUndefined();
    });

    it('allows DELETE at once and records nothing', async () => {
      const { uid, response } = await review(fixture('kubernetes/e2e/deployment-debian.json'), 'team-a', {
        operation: 'DELETE',
      });
      expect(response).toEqual({ uid, allowed: true });
      expect(await eventFor(uid)).toBeUndefined();
    });

    it('allows a kind without a pod template at once', async () => {
      const { uid, response } = await review(fixture('kubernetes/e2e/configmap.json'), 'team-a');
      expect(response).toEqual({ uid, allowed: true });
      expect(await eventFor(uid)).toBeUndefined();
    });

    it('answers 401 to an unknown token, revealing nothing', async () => {
      const body = admissionReview(fixture('kubernetes/e2e/deployment-debian.json'), {
        uid: 'x',
        namespace: 'team-a',
      });
      const res = await emu.http('POST', `/admission/pct_${'x'.repeat(43)}`, { body, key: null });
      expect(res.status).toBe(401);
      expect(res.json).toEqual({ error: { code: 'unauthenticated', message: 'unknown webhook token' } });
    });
  });

  describe('bad input to the webhook', () => {
    it.each([
      ['malformed JSON', '{"apiVersion": "admission.k8s.io/v1", "kind": ', /not valid JSON/],
      [
        'wrong apiVersion',
        JSON.stringify({
          apiVersion: 'admission.k8s.io/v1beta1',
          kind: 'AdmissionReview',
          request: { uid: 'a' },
        }),
        /apiVersion must be admission\.k8s\.io\/v1/,
      ],
      [
        'a missing uid',
        JSON.stringify({
          apiVersion: 'admission.k8s.io/v1',
          kind: 'AdmissionReview',
          request: { kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE' },
        }),
        /request\.uid/,
      ],
      ['an array', '[]', /not an AdmissionReview/],
    ])('%s is a 400 with a JSON error', async (_name, raw, message) => {
      const res = await emu.http('POST', `/admission/${token}`, { raw, key: null });
      expect(res.status).toBe(400);
      expect(res.json.error.code).toBe('invalid_argument');
      expect(res.json.error.message).toMatch(message);
    });

    it('a 10 MB body is a 413', async () => {
      const raw = Buffer.alloc(10 * 1024 * 1024, 'a');
      const res = await emu.http('POST', `/admission/${token}`, { raw, key: null });
      expect(res.status).toBe(413);
      expect(res.json.error.code).toBe('payload_too_large');
    });
  });

  describe('bad input to the admin API changes nothing', () => {
    it.each([
      [
        'unknown severity',
        { name: 'bad', action: 'Deny', conditions: { severities: ['Severe'] } },
        'conditions.severities.0',
      ],
      ['empty name', { name: ' ', action: 'Deny', conditions: { severities: ['High'] } }, 'name'],
      [
        'bad date',
        { name: 'bad', action: 'Deny', enforceFrom: '2027-02-30', conditions: { severities: ['High'] } },
        'enforceFrom',
      ],
      [
        'bad label selector',
        {
          name: 'bad',
          action: 'Deny',
          conditions: { severities: ['High'] },
          scope: { resources: [{ type: 'LabelSelector', value: 'app in (' }] },
        },
        'scope.resources.0.value',
      ],
      [
        'unknown field',
        { name: 'bad', action: 'Deny', conditions: { severities: ['High'] }, colour: 'red' },
        '',
      ],
      ['no condition', { name: 'bad', action: 'Deny' }, 'conditions'],
    ])('%s', async (_name, body, path) => {
      const before = (await emu.http('GET', '/api/v1/rules')).json;
      const res = await emu.http('POST', '/api/v1/rules', { body });
      expect(res.status).toBe(400);
      expect(res.json.error.code).toBe('invalid_argument');
      expect(res.json.error.details.some((d: { path: string }) => d.path === path)).toBe(true);
      expect((await emu.http('GET', '/api/v1/rules')).json).toEqual(before);
    });

    it('a stale If-Match is a 412 and the rule keeps its content', async () => {
      const rule = await emu.http('GET', '/api/v1/rules/deny-high');
      const etag = rule.headers.etag as string;
      const first = await emu.http('PATCH', '/api/v1/rules/deny-high', {
        body: { description: 'first' },
        headers: { 'if-match': etag },
      });
      expect(first.status).toBe(200);
      const stale = await emu.http('PATCH', '/api/v1/rules/deny-high', {
        body: { description: 'second' },
        headers: { 'if-match': etag },
      });
      expect(stale.status).toBe(412);
      expect((await emu.http('GET', '/api/v1/rules/deny-high')).json.description).toBe('first');
    });

    it('requires an API key, and SecurityAdmin to write', async () => {
      expect((await emu.http('GET', '/api/v1/rules', { key: null })).status).toBe(401);
      const reader = await emu.http('POST', '/api/v1/apikeys', {
        body: { name: 'auditor', role: 'SecurityReader' },
      });
      expect(reader.status).toBe(201);
      expect((await emu.http('GET', '/api/v1/rules', { key: reader.json.key })).status).toBe(200);
      const write = await emu.http('POST', '/api/v1/rules:disable', { key: reader.json.key });
      expect(write.status).toBe(403);
      const disable = await emu.http('POST', '/api/v1/rules/deny-high:disable', { key: reader.json.key });
      expect(disable.status).toBe(403);
      expect((await emu.http('GET', '/api/v1/rules/deny-high')).json.enabled).toBe(true);
    });

    it('serves an OpenAPI document without auth', async () => {
      const res = await emu.http('GET', '/api/v1/openapi.json', { key: null });
      expect(res.status).toBe(200);
      expect(res.json.openapi).toBe('3.1.0');
      expect(
        res.json.paths['/api/v1/rules'].post.requestBody.content['application/json'].schema.properties.action
          .enum,
      ).toEqual(['Audit', 'Deny']);
    });
  });
});
