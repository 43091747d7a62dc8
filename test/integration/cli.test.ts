/**
 * The `portcullis` CLI end to end: the local emulator runs in this process, the CLI runs as a
 * real subprocess (as a user runs it), finding its API key and CA in the emulator's data
 * directory. Assertions are on what a user sees: stdout lines, stderr, exit codes.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseConfig } from '../../local-emulator/config.js';
import { type RunningEmulator, startEmulator } from '../../local-emulator/server.js';

const root = resolve(import.meta.dirname, '../..');
const fixtures = join(root, 'test/fixtures/cli');
const fixture = (name: string) => join(fixtures, name);

const TRIVY_REPO = 'ghcr.io/aquasecurity/trivy-test-images';
const TRIVY_DIGEST = `sha256:${createHash('sha256').update('alpine-310').digest('hex')}`;
const NATIVE_DIGEST = `sha256:${'1'.repeat(64)}`;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let emulator: RunningEmulator;
let dataDir: string;
let emptyDir: string;

/** Runs `portcullis ...args` as a subprocess against the emulator. */
function cli(args: string[], options: { env?: Record<string, string>; input?: string } = {}): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], {
      cwd: root,
      // A clean environment: nothing from the developer's shell leaks into the test.
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? tmpdir(),
        PORTCULLIS_URL: emulator.url,
        PORTCULLIS_DATA_DIR: dataDir,
        ...options.env,
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l.trim() !== '');
}

/** A kubectl-style table as objects keyed by header (columns are 3+ spaces apart). */
function rows(text: string): Record<string, string>[] {
  const [header, ...body] = lines(text);
  const names = header!.split(/\s{2,}/);
  return body.map((line) => Object.fromEntries(line.split(/\s{2,}/).map((cell, i) => [names[i], cell])));
}

function json<T = Record<string, unknown>>(run: Run): T {
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  return JSON.parse(run.stdout) as T;
}

/** A JSON POST to the emulator, trusting its CA (what a cluster's API server does). */
function post(
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: unknown }> {
  return new Promise((resolvePromise, reject) => {
    const payload = JSON.stringify(body);
    const req = request(
      `${emulator.url}${path}`,
      {
        method: 'POST',
        ca: readFileSync(emulator.caPath),
        headers: { 'content-type': 'application/json', ...headers },
      },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => {
          text += chunk.toString();
        });
        res.on('end', () =>
          resolvePromise({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : null }),
        );
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

function admissionReview(uid: string, namespace: string, image: string) {
  const object = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'checkout', namespace },
    spec: {
      selector: { matchLabels: { app: 'checkout' } },
      template: { metadata: { labels: { app: 'checkout' } }, spec: { containers: [{ name: 'app', image }] } },
    },
  };
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
      resource: { group: 'apps', version: 'v1', resource: 'deployments' },
      name: 'checkout',
      namespace,
      operation: 'CREATE',
      userInfo: { username: 'alice@example.com' },
      object,
      dryRun: false,
    },
  };
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'portcullis-cli-'));
  emptyDir = mkdtempSync(join(tmpdir(), 'portcullis-cli-empty-'));
  emulator = await startEmulator(
    parseConfig({
      PORTCULLIS_DATA_DIR: dataDir,
      PORTCULLIS_PORT: '0',
      PORTCULLIS_HOST: '127.0.0.1',
      PORTCULLIS_LOG: 'silent',
    }),
  );
});

afterAll(async () => {
  await emulator?.close();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(emptyDir, { recursive: true, force: true });
});

describe('portcullis CLI', { timeout: 60_000 }, () => {
  const tokens: Record<string, string> = {};

  it('prints help and its version', async () => {
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    for (const command of [
      'rules',
      'exemptions',
      'clusters',
      'findings',
      'images',
      'admissions',
      'evaluate',
    ]) {
      expect(help.stdout).toMatch(new RegExp(`^\\s+${command}\\b`, 'm'));
    }
    expect(help.stdout).toContain('PORTCULLIS_URL');
    const sub = await cli(['rules', 'apply', '--help']);
    expect(sub.code).toBe(0);
    expect(sub.stdout).toContain('-f, --filename <file>');
    const version = await cli(['--version']);
    expect(version.code).toBe(0);
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    expect(version.stdout.trim()).toBe(pkg.version);
    const usage = await cli(['rules', 'get']);
    expect(usage.code).toBe(1);
    expect(usage.stderr).toBe("portcullis: missing required argument 'name'\n");
  });

  it('imports a Trivy report from a file and a native report from stdin', async () => {
    const trivy = await cli([
      'findings',
      'import',
      '-f',
      fixture('trivy-v2-alpine-3.10.2.golden.json'),
      '--format',
      'trivy',
      '--image',
      `${TRIVY_REPO}:alpine-310@${TRIVY_DIGEST}`,
    ]);
    expect(trivy.stderr).toBe('');
    expect(trivy.code).toBe(0);
    expect(trivy.stdout).toMatch(/^imported 1 image with 4 vulnerabilities from /);

    const native = await cli(['findings', 'import', '-f', '-', '--format', 'native', '--json'], {
      input: readFileSync(fixture('native-report.json'), 'utf8'),
    });
    expect(json(native)).toEqual({ images: 1, vulnerabilities: 3 });

    const unknown = await cli([
      'findings',
      'import',
      '-f',
      fixture('native-report.json'),
      '--format',
      'spdx',
    ]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^portcullis: 400 Bad Request: unknown format "spdx"/);
  });

  it('lists images and shows one with its vulnerabilities, most severe first', async () => {
    const list = await cli(['images', 'list']);
    expect(list.code).toBe(0);
    const trivy = rows(list.stdout).find((r) => r.IMAGE === TRIVY_REPO);
    expect(trivy).toMatchObject({
      DIGEST: TRIVY_DIGEST,
      TAGS: 'alpine-310',
      SOURCE: 'trivy',
      STATUS: 'Scanned',
      CRITICAL: '0',
      HIGH: '0',
      MEDIUM: '2',
    });
    const filtered = await cli(['images', 'list', '--registry', 'registry.example.com']);
    expect(rows(filtered.stdout).map((r) => r.IMAGE)).toEqual(['registry.example.com/acme/api']);

    const show = await cli(['images', 'show', `registry.example.com/acme/api@${NATIVE_DIGEST}`]);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain('Counts:      1 Critical, 0 High, 1 Medium, 1 Low, 0 Negligible');
    const table = show.stdout.slice(show.stdout.indexOf('ID '));
    expect(rows(table).map((r) => [r.ID, r.SEVERITY, r['FIXED IN']])).toEqual([
      ['CVE-2024-0001', 'Critical', '3.0.2'],
      ['CVE-2024-0002', 'Medium', '<none>'],
      ['CVE-2024-0003', 'Low', '<none>'],
    ]);

    const missing = await cli(['images', 'show', `sha256:${'0'.repeat(64)}`]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^portcullis: 404 Not Found: /);
  });

  it('applies rules as code: created or configured first, then unchanged with the same versions', async () => {
    const first = await cli(['rules', 'apply', '-f', fixture('rules.yaml')]);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(lines(first.stdout)).toEqual([
      'rule/default-audit-high-critical configured',
      'rule/deny-medium-payments created',
      'rule/audit-medium-staging created',
      'rule/deny-unscanned-prod created',
    ]);
    const versions = async () =>
      Object.fromEntries(
        json<{ items: { name: string; version: string }[] }>(
          await cli(['rules', 'list', '--json']),
        ).items.map((r) => [r.name, r.version]),
      );
    const before = await versions();

    const second = await cli(['rules', 'apply', '-f', '-'], {
      input: readFileSync(fixture('rules.yaml'), 'utf8'),
    });
    expect(second.code).toBe(0);
    expect(lines(second.stdout)).toEqual([
      'rule/default-audit-high-critical unchanged',
      'rule/deny-medium-payments unchanged',
      'rule/audit-medium-staging unchanged',
      'rule/deny-unscanned-prod unchanged',
    ]);
    expect(await versions()).toEqual(before);
  });

  it('checks every rule has a name before sending anything', async () => {
    const run = await cli(['rules', 'apply', '-f', fixture('rules-unnamed.yaml')]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^portcullis: .*rules-unnamed\.yaml: item 2: the rule has no name/);
    const notCreated = await cli(['rules', 'get', 'good-rule']);
    expect(notCreated.code).toBe(1);
    expect(notCreated.stderr).toBe('portcullis: 404 Not Found: rule good-rule not found\n');
  });

  it('lists, gets, enables and disables rules', async () => {
    const list = await cli(['rules', 'list']);
    expect(list.code).toBe(0);
    expect(rows(list.stdout).map((r) => [r.NAME, r.ENABLED, r.ACTION, r.SCOPE])).toEqual([
      ['audit-medium-staging', 'true', 'Audit', 'Namespace=staging'],
      ['default-audit-high-critical', 'true', 'Audit', '*'],
      ['deny-medium-payments', 'true', 'Deny', 'Namespace=payments'],
      ['deny-unscanned-prod', 'false', 'Deny', 'Cluster=prod-eks'],
    ]);

    const get = await cli(['rules', 'get', 'deny-medium-payments']);
    expect(get.code).toBe(0);
    expect(parseYaml(get.stdout)).toMatchObject({
      name: 'deny-medium-payments',
      action: 'Deny',
      conditions: { severities: ['Medium'] },
    });

    const enable = await cli(['rules', 'enable', 'deny-unscanned-prod']);
    expect(enable.code).toBe(0);
    expect(enable.stdout).toBe('rule/deny-unscanned-prod enabled\n');
    expect(
      json<{ enabled: boolean }>(await cli(['rules', 'get', 'deny-unscanned-prod', '--json'])).enabled,
    ).toBe(true);
    const disable = await cli(['rules', 'disable', 'deny-unscanned-prod']);
    expect(disable.stdout).toBe('rule/deny-unscanned-prod disabled\n');
    expect(
      json<{ enabled: boolean }>(await cli(['--json', 'rules', 'get', 'deny-unscanned-prod'])).enabled,
    ).toBe(false);
  });

  it('registers clusters: token, webhook URL and configuration, or only the YAML', async () => {
    const run = await cli([
      'clusters',
      'register',
      'prod-eks',
      '--provider',
      'aws',
      '--account',
      '123456789012',
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^cluster\/prod-eks registered \(id [0-9a-f-]+\)/);
    expect(run.stdout).toContain('WARNING: the webhook token is shown only this once');
    const token = /^Token:\s+(pct_\S+)$/m.exec(run.stdout)?.[1];
    expect(token).toBeDefined();
    tokens['prod-eks'] = token!;
    expect(run.stdout).toMatch(new RegExp(`^Webhook URL:\\s+${emulator.url}/admission/${token}$`, 'm'));
    expect(run.stdout).toContain('kind: ValidatingWebhookConfiguration');

    const yaml = await cli(['clusters', 'register', 'staging-gke', '--provider', 'gcp', '--output', 'yaml']);
    expect(yaml.code).toBe(0);
    const config = parseYaml(yaml.stdout) as {
      kind: string;
      webhooks: { clientConfig: { url: string }; failurePolicy: string }[];
    };
    expect(config.kind).toBe('ValidatingWebhookConfiguration');
    expect(config.webhooks[0]!.failurePolicy).toBe('Fail');
    expect(config.webhooks[0]!.clientConfig.url).toMatch(/\/admission\/pct_/);
    expect(yaml.stderr).toContain('shown only once');

    const bad = await cli(['clusters', 'register', 'Bad_Name']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^portcullis: 400 Bad Request: invalid cluster: name: /);

    const list = await cli(['clusters', 'list']);
    expect(rows(list.stdout).map((r) => [r.NAME, r.PROVIDER, r.ACCOUNT, r['FAILURE POLICY']])).toEqual([
      ['prod-eks', 'aws', '123456789012', 'Fail'],
      ['staging-gke', 'gcp', '<none>', 'Fail'],
    ]);
  });

  it('lists admission events the webhook recorded', async () => {
    const review = await post(
      `/admission/${tokens['prod-eks']}`,
      admissionReview('9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d', 'payments', `${TRIVY_REPO}:alpine-310`),
    );
    expect(review.status).toBe(200);
    expect((review.body as { response: { allowed: boolean } }).response.allowed).toBe(false);

    const list = await cli(['admissions', 'list', '--cluster', 'prod-eks', '--since', '1h']);
    expect(list.code).toBe(0);
    expect(rows(list.stdout)).toEqual([
      expect.objectContaining({
        CLUSTER: 'prod-eks',
        NAMESPACE: 'payments',
        KIND: 'Deployment',
        NAME: 'checkout',
        OPERATION: 'CREATE',
        DECISION: 'Denied',
        RULES: 'deny-medium-payments',
        USER: 'alice@example.com',
      }),
    ]);
    const events = json<{ items: { uid: string }[]; nextCursor: string | null }>(
      await cli(['admissions', 'list', '--decision', 'denied', '--all', '--json']),
    );
    expect(events.items.map((e) => e.uid)).toEqual(['9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d']);
    expect(events.nextCursor).toBeNull();

    const none = await cli(['admissions', 'list', '--decision', 'Allowed']);
    expect(none.code).toBe(0);
    expect(none.stdout).toBe('');
    expect(none.stderr).toBe('portcullis: no admission events found\n');
    const badSince = await cli(['admissions', 'list', '--since', 'yesterday']);
    expect(badSince.code).toBe(1);
    expect(badSince.stderr).toContain('expected a duration such as 30m, 1h, 7d');
  });

  it('evaluates manifests for CI: 0 when allowed or audited, with warnings and skipped objects noted', async () => {
    const run = await cli(['evaluate', '-f', fixture('manifest-allowed.yaml')]);
    expect(run.code).toBe(0);
    const out = lines(run.stdout);
    expect(out[0]).toBe('Deployment staging/web: Audited');
    expect(out[1]).toMatch(/^ {2}warning: Portcullis audit: .*rule "audit-medium-staging"/);
    expect(out.slice(2)).toEqual([
      'Pod default/tool: Allowed',
      '2 objects evaluated: 1 allowed, 1 audited, 0 denied; 2 skipped',
    ]);
    expect(lines(run.stderr)).toEqual([
      'portcullis: skipped ConfigMap staging/web-settings: not gated (no pod template)',
      'portcullis: skipped Service/tool: not gated (no pod template)',
    ]);

    const asJson = await cli(['evaluate', '-f', fixture('manifest-allowed.yaml'), '--json']);
    expect(asJson.code).toBe(0);
    const result = JSON.parse(asJson.stdout) as {
      items: { decision: string }[];
      skipped: { kind: string }[];
    };
    expect(result.items.map((i) => i.decision)).toEqual(['Audited', 'Allowed']);
    expect(result.skipped.map((s) => s.kind)).toEqual(['ConfigMap', 'Service']);
  });

  it('evaluates manifests for CI: 2 when anything would be denied, with the message', async () => {
    const run = await cli(['evaluate', '-f', fixture('manifest-denied.yaml')]);
    expect(run.code).toBe(2);
    const out = lines(run.stdout);
    expect(out[0]).toBe('Deployment payments/checkout: Denied');
    expect(out[1]).toMatch(
      /^ {2}Portcullis denied Deployment checkout in namespace payments: .*"deny-medium-payments"/,
    );
    expect(out.slice(2)).toEqual([
      'Pod default/tool: Allowed',
      '2 objects evaluated: 1 allowed, 0 audited, 1 denied',
    ]);

    // Objects that name no namespace take -n's, as with kubectl apply -n (here from stdin).
    const namespaced = await cli(['evaluate', '-f', '-', '-n', 'payments'], {
      input: readFileSync(fixture('manifest-allowed.yaml'), 'utf8'),
    });
    expect(namespaced.code).toBe(2);
    expect(lines(namespaced.stdout)).toContain('Pod payments/tool: Denied');
    expect(lines(namespaced.stdout)).toContain('Deployment staging/web: Audited');

    // A cluster-scoped rule: denies only as that cluster, and only while enabled.
    const unscanned = ['evaluate', '-f', fixture('manifest-unscanned.yaml'), '--cluster', 'prod-eks'];
    expect((await cli(unscanned)).code).toBe(0);
    expect((await cli(['rules', 'enable', 'deny-unscanned-prod'])).code).toBe(0);
    const denied = await cli(unscanned);
    expect(denied.code).toBe(2);
    expect(denied.stdout).toContain('CronJob default/nightly-report: Denied');
    expect(denied.stdout).toContain('it has never been scanned');
    expect((await cli(['evaluate', '-f', fixture('manifest-unscanned.yaml')])).code).toBe(0);
    expect((await cli(['rules', 'disable', 'deny-unscanned-prod'])).code).toBe(0);
    expect((await cli(unscanned)).code).toBe(0);
  });

  it('evaluates manifests for CI: 1 for a bad file or an unknown cluster', async () => {
    const invalid = await cli(['evaluate', '-f', fixture('manifest-invalid.yaml')]);
    expect(invalid.code).toBe(1);
    expect(invalid.stdout).toBe('');
    expect(invalid.stderr).toMatch(
      /^portcullis: .*manifest-invalid\.yaml: invalid YAML: .* at line 6, column 1\n$/,
    );

    const missing = await cli(['evaluate', '-f', fixture('no-such-manifest.yaml')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^portcullis: cannot read .*no-such-manifest\.yaml: no such file\n$/);

    const unknown = await cli(['evaluate', '-f', fixture('manifest-denied.yaml'), '--cluster', 'nope']);
    expect(unknown.code).toBe(1);
    expect(unknown.stdout).toBe('');
    expect(unknown.stderr).toBe('portcullis: 404 Not Found: cluster nope not found\n');
  });

  it('adds and removes exemptions, which the evaluation honours and rules apply keeps', async () => {
    const add = await cli([
      'exemptions',
      'add',
      'deny-medium-payments',
      '--type',
      'namespace',
      '--value',
      'payments',
      '--reason',
      'incident 12: hotfix rollout',
      '--expires',
      '2099-01-31',
      '--ticket',
      'INC-12',
    ]);
    expect(add.stderr).toBe('');
    expect(add.code).toBe(0);
    const id = /^exemption\/(\S+) added to rule\/deny-medium-payments \(Namespace payments\)$/.exec(
      add.stdout.trim(),
    )?.[1];
    expect(id).toBeDefined();

    const list = await cli(['exemptions', 'list', 'deny-medium-payments']);
    expect(rows(list.stdout)).toEqual([
      expect.objectContaining({
        ID: id,
        TYPE: 'Namespace',
        VALUE: 'payments',
        EXPIRES: '2099-01-31',
        STATUS: 'active',
      }),
    ]);
    expect((await cli(['evaluate', '-f', fixture('manifest-denied.yaml')])).code).toBe(0);

    // The rules file does not list exemptions for this rule: re-applying keeps the one just added.
    const reapply = await cli(['rules', 'apply', '-f', fixture('rules.yaml')]);
    expect(lines(reapply.stdout)).toContain('rule/deny-medium-payments unchanged');
    expect(
      json<{ items: unknown[] }>(await cli(['exemptions', 'list', 'deny-medium-payments', '--json'])).items,
    ).toHaveLength(1);

    const remove = await cli(['exemptions', 'remove', 'deny-medium-payments', id!]);
    expect(remove.code).toBe(0);
    expect(remove.stdout).toBe(`exemption/${id} removed from rule/deny-medium-payments\n`);
    expect((await cli(['evaluate', '-f', fixture('manifest-denied.yaml')])).code).toBe(2);
    const again = await cli(['exemptions', 'remove', 'deny-medium-payments', id!]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^portcullis: 404 Not Found: exemption .* not found/);

    const badDate = await cli([
      'exemptions',
      'add',
      'deny-medium-payments',
      '--type',
      'CVE',
      '--value',
      'CVE-2019-1549',
      '--reason',
      'x',
      '--expires',
      '2027-02-30',
    ]);
    expect(badDate.code).toBe(1);
    expect(badDate.stderr).toBe(
      'portcullis: 400 Bad Request: invalid exemption: expiresOn: not a calendar date\n',
    );
  });

  it('rotates a cluster token and revokes clusters by name or id', async () => {
    const rotate = await cli(['clusters', 'rotate', 'prod-eks']);
    expect(rotate.code).toBe(0);
    expect(rotate.stdout).toMatch(/^cluster\/prod-eks token rotated/);
    const token = /^Token:\s+(pct_\S+)$/m.exec(rotate.stdout)?.[1];
    expect(token).toBeDefined();
    expect(token).not.toBe(tokens['prod-eks']);
    const review = admissionReview('1f0e9a3c-0000-4000-8000-000000000001', 'default', 'nginx:1.25');
    expect((await post(`/admission/${tokens['prod-eks']}`, review)).status).toBe(401);
    expect((await post(`/admission/${token}`, review)).status).toBe(200);

    const clusters = json<{ items: { id: string; name: string }[] }>(
      await cli(['clusters', 'list', '--json']),
    );
    const staging = clusters.items.find((c) => c.name === 'staging-gke')!;
    const byId = await cli(['clusters', 'revoke', staging.id]);
    expect(byId.code).toBe(0);
    expect(byId.stdout).toBe('cluster/staging-gke revoked\n');
    const byName = await cli(['clusters', 'revoke', 'prod-eks']);
    expect(byName.stdout).toBe('cluster/prod-eks revoked\n');
    expect((await post(`/admission/${token}`, review)).status).toBe(401);

    const gone = await cli(['clusters', 'revoke', 'prod-eks']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/^portcullis: cluster "prod-eks" not found/);
    const empty = await cli(['clusters', 'list']);
    expect(empty.stdout).toBe('');
    expect(empty.stderr).toContain('no clusters registered');
  });

  it('refuses writes with a SecurityReader key, with the reason', async () => {
    const adminKey = readFileSync(join(dataDir, 'admin-key'), 'utf8').trim();
    const created = await post(
      '/api/v1/apikeys',
      { name: 'ci-reader', role: 'SecurityReader' },
      { authorization: `Bearer ${adminKey}` },
    );
    expect(created.status).toBe(201);
    const readerKey = (created.body as { key: string }).key;

    const write = await cli(['rules', 'disable', 'deny-medium-payments', '--api-key', readerKey]);
    expect(write.code).toBe(1);
    expect(write.stdout).toBe('');
    expect(write.stderr).toBe(
      'portcullis: 403 Forbidden: ci-reader is a SecurityReader; this needs SecurityAdmin\n',
    );
    const rule = json<{ enabled: boolean }>(await cli(['rules', 'get', 'deny-medium-payments', '--json']));
    expect(rule.enabled).toBe(true);

    // Reading and what-if evaluation are open to readers (the key from the environment this time).
    const env = { PORTCULLIS_API_KEY: readerKey };
    expect((await cli(['rules', 'list'], { env })).code).toBe(0);
    expect((await cli(['evaluate', '-f', fixture('manifest-denied.yaml')], { env })).code).toBe(2);

    const unknown = await cli(['rules', 'list', '--api-key', 'pck_not-a-key-of-this-server']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe('portcullis: 401 Unauthorized: unknown API key\n');
  });

  it('deletes a rule', async () => {
    const run = await cli(['rules', 'delete', 'audit-medium-staging']);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('rule/audit-medium-staging deleted\n');
    const get = await cli(['rules', 'get', 'audit-medium-staging']);
    expect(get.code).toBe(1);
    expect(get.stderr).toBe('portcullis: 404 Not Found: rule audit-medium-staging not found\n');
  });

  it('says clearly when the server is down', async () => {
    const url = `https://127.0.0.1:${await closedPort()}`;
    const run = await cli(['rules', 'list'], { env: { PORTCULLIS_URL: url } });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(lines(run.stderr)).toHaveLength(1);
    expect(run.stderr).toContain(`portcullis: cannot connect to ${url} (connection refused)`);
    expect(run.stderr).toContain('npm start');
  });

  it('finds the CA in the data directory, or takes --ca-file, or --insecure with a warning', async () => {
    const adminKey = readFileSync(join(dataDir, 'admin-key'), 'utf8').trim();
    // A data directory without the emulator's CA or key: nothing to trust, no key.
    const env = { PORTCULLIS_DATA_DIR: emptyDir };
    const noKey = await cli(['rules', 'list'], { env });
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toMatch(/^portcullis: no API key: pass --api-key or set PORTCULLIS_API_KEY/);

    const untrusted = await cli(['rules', 'list', '--api-key', adminKey], { env });
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toMatch(
      /^portcullis: cannot verify the TLS certificate of https:\/\/localhost:\d+: /,
    );
    expect(untrusted.stderr).toContain('--ca-file');

    const withCa = await cli(['rules', 'list', '--api-key', adminKey, '--ca-file', emulator.caPath], { env });
    expect(withCa.stderr).toBe('');
    expect(withCa.code).toBe(0);
    expect(rows(withCa.stdout).map((r) => r.NAME)).toContain('deny-medium-payments');

    const insecure = await cli(['rules', 'list', '--insecure'], {
      env: { ...env, PORTCULLIS_API_KEY: adminKey },
    });
    expect(insecure.code).toBe(0);
    expect(insecure.stderr).toMatch(/^portcullis: warning: --insecure: not verifying the TLS certificate/);
    expect(rows(insecure.stdout).map((r) => r.NAME)).toContain('deny-medium-payments');

    const missingCa = await cli(['rules', 'list', '--ca-file', join(emptyDir, 'ca.pem')]);
    expect(missingCa.code).toBe(1);
    expect(missingCa.stderr).toBe(
      `portcullis: cannot read CA file ${join(emptyDir, 'ca.pem')}: no such file\n`,
    );
  });
});
