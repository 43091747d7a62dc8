/**
 * `portcullis admissions tail` and `portcullis exposure` as a user runs them: the CLI as a
 * subprocess against the emulator (in this process), events made through the admission service.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../../core/domain.js';
import { parseConfig } from '../../local-emulator/config.js';
import { type RunningEmulator, startEmulator } from '../../local-emulator/server.js';
import { D1, D2, deployment, scan, vuln } from '../unit/evaluate-helpers.js';

const root = resolve(import.meta.dirname, '../..');
let emulator: RunningEmulator;
let dataDir: string;
let cluster: Cluster;
let uid = 0;

function spawnCli(args: string[]): ChildProcess & { out: () => string; err: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? tmpdir(),
      PORTCULLIS_URL: emulator.url,
      PORTCULLIS_DATA_DIR: dataDir,
    },
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    err += c.toString();
  });
  return Object.assign(child, { out: () => out, err: () => err });
}

async function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnCli(args);
  const code = await new Promise<number | null>((r) => child.on('close', r));
  return { code, stdout: child.out(), stderr: child.err() };
}

async function until(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const lines = (text: string) => text.split('\n').filter((l) => l.trim() !== '');

async function admit(name: string, namespace: string, image: string) {
  const object = deployment(name, namespace, [image]);
  const outcome = await emulator.services.admission.review(cluster, {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `cli-${++uid}`,
      kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
      operation: 'CREATE',
      namespace,
      name,
      userInfo: { username: 'dev@example.com' },
      object,
    },
  });
  await new Promise((r) => setTimeout(r, 20)); // the SQLite log commits on the next tick
  return outcome.event!;
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'portcullis-cli-mon-'));
  emulator = await startEmulator(
    parseConfig({
      PORTCULLIS_DATA_DIR: dataDir,
      PORTCULLIS_PORT: '0',
      PORTCULLIS_HOST: '127.0.0.1',
      PORTCULLIS_LOG: 'silent',
    }),
  );
  const s = emulator.services;
  cluster = await s.clusters.register({ name: 'prod' }, 'test', { baseUrl: emulator.url });
  await s.scans.ingest([
    scan('nginx:1.25', D1, [vuln('CVE-2023-38545', 'Critical')]),
    scan('ghcr.io/acme/api:1.0', D2, [vuln('CVE-2024-0001', 'Low')]),
  ]);
  await s.rules.create(
    { name: 'deny-critical', action: 'Deny', conditions: { severities: ['Critical'] } },
    'test',
  );
});

afterAll(async () => {
  await emulator?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('portcullis admissions tail', () => {
  it('prints the recent events oldest first, then each new one once, until Ctrl-C', async () => {
    await admit('first', 'payments', 'nginx:1.25');
    await admit('second', 'payments', 'ghcr.io/acme/api:1.0');
    const tail = spawnCli(['admissions', 'tail', '--interval', '200ms', '-n', '5']);
    try {
      await until(() => lines(tail.out()).length >= 2, 'the recent events');
      const [a, b] = lines(tail.out());
      expect(a).toMatch(
        /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ {2}Denied {3}prod\/payments {2}Deployment\/first {2}CREATE/,
      );
      expect(a).toMatch(/rules=\S*deny-critical/);
      expect(a).toContain('user=dev@example.com');
      expect(b).toContain('Allowed  prod/payments  Deployment/second');

      await admit('third', 'web', 'nginx:1.25');
      await until(() => lines(tail.out()).length >= 3, 'the new event');
      // Several more polls overlap the same window: nothing is printed twice.
      await new Promise((r) => setTimeout(r, 1200));
      expect(lines(tail.out())).toHaveLength(3);
      expect(lines(tail.out())[2]).toContain('Deployment/third');
    } finally {
      tail.kill('SIGINT');
    }
    const code = await new Promise<number | null>((r) => tail.on('close', r));
    expect(code).toBe(0);
    expect(tail.err()).toBe('portcullis: following new admission events every 0.2 s (Ctrl-C to stop)\n');
  });

  it('follows only what the filters match, as JSON lines with --json', async () => {
    const tail = spawnCli([
      'admissions',
      'tail',
      '--decision',
      'Denied',
      '-n',
      '0',
      '--interval',
      '200ms',
      '--json',
    ]);
    try {
      await until(() => tail.err().includes('following new admission events'), 'the tail to start');
      expect(tail.out()).toBe('');
      await admit('allowed-one', 'web', 'ghcr.io/acme/api:1.0');
      await admit('denied-one', 'web', 'nginx:1.25');
      await until(() => lines(tail.out()).length >= 1, 'the denied event');
      await new Promise((r) => setTimeout(r, 600));
      const events = lines(tail.out()).map((l) => JSON.parse(l));
      expect(events.map((e) => [e.name, e.decision])).toEqual([['denied-one', 'Denied']]);
    } finally {
      tail.kill('SIGINT');
    }
    expect(await new Promise((r) => tail.on('close', r))).toBe(0);
  });

  it('rejects a bad interval', async () => {
    const run = await cli(['admissions', 'tail', '--interval', '10ms']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('the interval must be at least 200ms');
  });
});

describe('portcullis exposure', () => {
  it('lists admitted workloads that new findings would now deny', async () => {
    await admit('checkout', 'shop', 'ghcr.io/acme/api:1.0');
    const before = await cli(['exposure', '--namespace', 'shop']);
    expect(before.code).toBe(0);
    expect(before.stdout).toBe('');
    expect(before.stderr).toContain('no admitted workload would be denied or audited now');

    await emulator.services.scans.ingest([
      scan('ghcr.io/acme/api:1.0', D2, [vuln('CVE-2024-0001', 'Low'), vuln('CVE-2024-7777', 'Critical')], {
        scannedAt: new Date().toISOString(),
      }),
    ]);
    const after = await cli(['exposure', '--namespace', 'shop']);
    expect(after.code).toBe(0);
    const [header, row] = lines(after.stdout);
    expect(header).toMatch(/^NOW\s+ADMITTED\s+CLUSTER\s+NAMESPACE\s+WORKLOAD/);
    expect(row).toMatch(/^Denied\s+Allowed\*\s+prod\s+shop\s+Deployment\/checkout\s/);
    expect(row).toContain('deny-critical');
    expect(row).toContain('CVE-2024-7777');
    expect(after.stderr).toContain('1 would be denied, 0 audited');

    const json = await cli(['exposure', '--decision', 'denied', '--json']);
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout);
    expect(report.items.map((w: { name: string }) => w.name)).toContain('checkout');
    expect(report.items.every((w: { decision: string }) => w.decision === 'Denied')).toBe(true);
  });

  it('explains a bad option', async () => {
    const run = await cli(['exposure', '--decision', 'Allowed']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('use one of Denied, Audited');
  });
});
