/**
 * `portcullis registries` end to end: the local emulator runs in this process with the real
 * ECR connector, pointed at a small stand-in for the ECR API (AWS JSON 1.1, the response
 * shapes of the API reference) or at a port that refuses connections; the CLI runs as a real
 * subprocess. Assertions are on what a user sees: stdout, stderr, exit codes.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConnectorWith } from '../../adapters/registry/connectors.js';
import type { ConnectorFactory } from '../../core/sync.js';
import { parseConfig } from '../../local-emulator/config.js';
import { type RunningEmulator, startEmulator } from '../../local-emulator/server.js';

const root = resolve(import.meta.dirname, '../..');
const ACCOUNT = '123456789012';
const HOST = `${ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com`;
const digest = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;
/** The official example of DescribeImageScanFindings (basic scanning), as the CLI prints it. */
const findings = JSON.parse(
  readFileSync(join(root, 'test/fixtures/cloud/ecr/official-example-basic-cli-output.json'), 'utf8'),
) as Record<string, unknown>;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let emulator: RunningEmulator;
let ecr: Server;
let dataDir: string;
/** Calls the stand-in answered, by X-Amz-Target operation. */
const calls: string[] = [];

function cli(args: string[]): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], {
      cwd: root,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? tmpdir(),
        PORTCULLIS_URL: emulator.url,
        PORTCULLIS_DATA_DIR: dataDir,
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
    child.stdin.end('');
  });
}

function rows(text: string): Record<string, string>[] {
  const [header, ...body] = text.split('\n').filter((l) => l.trim() !== '');
  const names = header!.split(/\s{2,}/);
  return body.map((line) => Object.fromEntries(line.split(/\s{2,}/).map((cell, i) => [names[i], cell])));
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

const pushedAt = Date.parse('2026-03-01T10:00:00Z') / 1000;
/** Two pages of images in one repository, each page answered slowly so the CLI sees progress. */
function describeImages(body: { nextToken?: string }) {
  const page = body.nextToken === 'page-2' ? [3, 4] : [1, 2];
  return {
    imageDetails: page.map((n) => ({
      registryId: ACCOUNT,
      repositoryName: 'shop/web',
      imageDigest: digest(n),
      imageTags: [`1.${n}`],
      imagePushedAt: pushedAt + n,
      imageScanStatus:
        n === 4
          ? { status: 'UNSUPPORTED_IMAGE', description: 'The operating system is not supported.' }
          : { status: 'COMPLETE', description: 'The scan was completed successfully.' },
      ...(n === 4 ? {} : { imageScanFindingsSummary: { imageScanCompletedAt: pushedAt + 60 } }),
    })),
    ...(body.nextToken === undefined ? { nextToken: 'page-2' } : {}),
  };
}

/** A stand-in for the ECR API: the three calls basic scanning makes. */
function startEcr(): Promise<{ server: Server; endpoint: string }> {
  const server = createHttpServer((req, res) => {
    let text = '';
    req.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    req.on('end', () => {
      const operation = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? '';
      calls.push(operation);
      const body = JSON.parse(text || '{}') as { nextToken?: string; imageId?: { imageDigest: string } };
      const answer = (payload: unknown, delayMs = 0) =>
        setTimeout(() => {
          res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
          res.end(JSON.stringify(payload));
        }, delayMs);
      if (operation === 'DescribeRepositories') {
        answer({ repositories: [{ repositoryName: 'shop/web', registryId: ACCOUNT }] });
      } else if (operation === 'DescribeImages') {
        answer(describeImages(body), 1500);
      } else if (operation === 'DescribeImageScanFindings') {
        answer({ ...findings, repositoryName: 'shop/web', imageId: body.imageId });
      } else {
        res.writeHead(400, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify({ __type: 'UnknownOperationException', message: operation }));
      }
    });
  });
  return new Promise((r) =>
    server.listen(0, '127.0.0.1', () =>
      r({ server, endpoint: `http://127.0.0.1:${(server.address() as { port: number }).port}` }),
    ),
  );
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'portcullis-cli-registries-'));
  const started = await startEcr();
  ecr = started.server;
  const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' };
  const retry = { attempts: 2, baseDelayMs: 10, maxDelayMs: 50 };
  const working = createConnectorWith({
    retry,
    awsClientConfig: { endpoint: started.endpoint, credentials },
  });
  const refusing = createConnectorWith({
    retry,
    awsClientConfig: { endpoint: `http://127.0.0.1:${await closedPort()}`, credentials },
  });
  // Real ECR connectors, one per endpoint: registries named "broken-*" meet a refused port.
  const connectors: ConnectorFactory = (config) =>
    (config.name.startsWith('broken') ? refusing : working)(config);
  emulator = await startEmulator(
    parseConfig({
      PORTCULLIS_DATA_DIR: dataDir,
      PORTCULLIS_PORT: '0',
      PORTCULLIS_HOST: '127.0.0.1',
      PORTCULLIS_LOG: 'silent',
    }),
    { connectors },
  );
});

afterAll(async () => {
  await emulator?.close();
  await new Promise<void>((r) => (ecr ? ecr.close(() => r()) : r()));
  rmSync(dataDir, { recursive: true, force: true });
});

describe('portcullis registries', { timeout: 120_000 }, () => {
  it('adds registries of each kind, lists them, and removes one', async () => {
    const ecrAdd = await cli(['registries', 'add', 'prod-ecr', '--kind', 'ecr', '--region', 'eu-west-1']);
    expect(ecrAdd.stderr).toContain('run "portcullis registries sync prod-ecr"');
    expect(ecrAdd.code).toBe(0);
    expect(ecrAdd.stdout).toMatch(/^registry\/prod-ecr added \(ecr: eu-west-1 basic; id [0-9a-f-]{36}\)\n$/);
    const acr = await cli([
      'registries',
      'add',
      'prod-acr',
      '--kind',
      'acr',
      '--subscription',
      '00000000-0000-0000-0000-000000000001',
      '--subscription',
      '00000000-0000-0000-0000-000000000002',
      '--registry',
      'MyReg.azurecr.io',
      '--disabled',
    ]);
    expect(acr.code).toBe(0);
    const gar = await cli([
      'registries',
      'add',
      'prod-gar',
      '--kind',
      'gar',
      '--project',
      'my-project-1',
      '--json',
    ]);
    expect(gar.code).toBe(0);
    expect(JSON.parse(gar.stdout)).toMatchObject({
      name: 'prod-gar',
      kind: 'gar',
      enabled: true,
      settings: { projects: ['my-project-1'] },
    });

    const list = await cli(['registries', 'list']);
    expect(list.code).toBe(0);
    expect(rows(list.stdout)).toMatchObject([
      {
        NAME: 'prod-acr',
        KIND: 'acr',
        ENABLED: 'no',
        SCOPE: '2 subscriptions myreg.azurecr.io',
        'LAST SYNC': '<never>',
      },
      { NAME: 'prod-ecr', KIND: 'ecr', ENABLED: 'yes', SCOPE: 'eu-west-1 basic', 'LAST SYNC': '<never>' },
      { NAME: 'prod-gar', KIND: 'gar', ENABLED: 'yes', SCOPE: 'my-project-1', 'LAST SYNC': '<never>' },
    ]);

    expect((await cli(['registries', 'enable', 'prod-acr'])).stdout).toBe('registry/prod-acr enabled\n');
    const removed = await cli(['registries', 'remove', 'prod-gar']);
    expect(removed).toEqual({ code: 0, stdout: 'registry/prod-gar removed\n', stderr: '' });
    const after = rows((await cli(['registries', 'list'])).stdout);
    expect(after.map((r) => [r.NAME, r.ENABLED])).toEqual([
      ['prod-acr', 'yes'],
      ['prod-ecr', 'yes'],
    ]);
  });

  it('answers bad input with one clear line and exit 1', async () => {
    const cases: [string[], RegExp][] = [
      [['registries', 'add', 'x', '--kind', 'quay'], /--kind.*use one of ecr, acr, gar/],
      [['registries', 'add', 'x', '--kind', 'ecr'], /--kind ecr needs --region/],
      [
        ['registries', 'add', 'x', '--kind', 'acr', '--region', 'eu-west-1', '--subscription', 'a'],
        /--region applies to --kind ecr, not acr/,
      ],
      [
        ['registries', 'add', 'x', '--kind', 'ecr', '--region', 'Ireland'],
        /400 Bad Request: invalid registry: settings\.region: expected an AWS region/,
      ],
      [
        ['registries', 'add', 'x', '--kind', 'acr', '--subscription', 'not-a-guid'],
        /settings\.subscriptions\.0: expected a subscription id/,
      ],
      [
        ['registries', 'add', 'Bad_Name', '--kind', 'gar', '--project', 'my-project-1'],
        /name: use lower-case letters/,
      ],
      [
        ['registries', 'add', 'prod-ecr', '--kind', 'ecr', '--region', 'eu-west-1'],
        /409 Conflict: a registry named "prod-ecr" already exists/,
      ],
      [['registries', 'remove', 'no-such-registry'], /404 Not Found: registry no-such-registry not found/],
      [['registries', 'sync', 'no-such-registry'], /404 Not Found: registry no-such-registry not found/],
    ];
    for (const [args, message] of cases) {
      const run = await cli(args);
      expect(run.code, args.join(' ')).toBe(1);
      expect(run.stdout, args.join(' ')).toBe('');
      expect(run.stderr, args.join(' ')).toMatch(message);
      expect(run.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
    }
  });

  it('syncs a registry, showing progress and the final counts; the images are there afterwards', async () => {
    const sync = await cli(['registries', 'sync', 'prod-ecr', '--interval', '200']);
    expect(sync.stderr).toMatch(/^portcullis: syncing prod-ecr: 0 images, 0 vulnerabilities$/m);
    expect(sync.stderr).toMatch(/^portcullis: syncing prod-ecr: 2 images, \d+ vulnerabilities$/m);
    expect(sync.code).toBe(0);
    expect(sync.stdout).toMatch(
      /^registry\/prod-ecr synced: 4 images, \d+ vulnerabilities in \d+s \(run [0-9a-f-]{36}\)\n$/,
    );
    expect(calls.filter((c) => c === 'DescribeImages')).toHaveLength(2);

    const images = await cli(['images', 'list', '--registry', HOST]);
    expect(images.code).toBe(0);
    const byDigest = new Map(rows(images.stdout).map((r) => [r.DIGEST?.slice(0, 14), r]));
    expect(byDigest.size).toBe(4);
    const show = await cli(['images', 'show', `${HOST}/shop/web@${digest(1)}`, '--json']);
    expect(JSON.parse(show.stdout)).toMatchObject({ source: 'ecr', status: 'Scanned', tags: ['1.1'] });
    const unsupported = await cli(['images', 'show', `${HOST}/shop/web@${digest(4)}`, '--json']);
    expect(JSON.parse(unsupported.stdout)).toMatchObject({ status: 'Unsupported', vulnerabilities: [] });

    const runs = await cli(['registries', 'runs', 'prod-ecr']);
    expect(runs.code).toBe(0);
    expect(rows(runs.stdout)).toMatchObject([
      { TRIGGER: 'manual', STATUS: 'succeeded', IMAGES: '4', ERRORS: '-' },
    ]);
  });

  it('records and reports a failed run: exit 1 with its errors', async () => {
    expect(
      (await cli(['registries', 'add', 'broken-ecr', '--kind', 'ecr', '--region', 'eu-west-1'])).code,
    ).toBe(0);
    const sync = await cli(['registries', 'sync', 'broken-ecr', '--interval', '100']);
    expect(sync.code).toBe(1);
    expect(sync.stdout).toBe('');
    expect(sync.stderr).toMatch(
      /^portcullis: sync of broken-ecr failed after 0 images, 0 vulnerabilities \(run [0-9a-f-]{36}\):$/m,
    );
    expect(sync.stderr).toMatch(/^ {2}.*DescribeRepositories.*ECONNREFUSED/m);

    const runs = await cli(['registries', 'runs', 'broken-ecr', '--json']);
    const { items } = JSON.parse(runs.stdout) as { items: { status: string; errors: string[] }[] };
    expect(items).toHaveLength(1);
    expect(items[0]!.status).toBe('failed');
    expect(items[0]!.errors.join('\n')).toMatch(/ECONNREFUSED/);
    const list = rows((await cli(['registries', 'list'])).stdout);
    expect(list.find((r) => r.NAME === 'broken-ecr')).toMatchObject({ STATUS: 'failed', IMAGES: '0' });
  });
});
