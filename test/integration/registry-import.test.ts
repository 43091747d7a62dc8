/**
 * The cloud import formats through the user's paths: `portcullis findings import` as a
 * subprocess, which posts to `POST /api/v1/findings:import` of the local emulator. What is
 * stored is exactly what the converter (and so the sync) makes of the same payload.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseReport } from '../../adapters/registry/import.js';
import { parseConfig } from '../../local-emulator/config.js';
import { type RunningEmulator, startEmulator } from '../../local-emulator/server.js';
import { loadCloudFixture } from '../unit/registry/helpers.js';

const root = resolve(import.meta.dirname, '../..');
const cloud = (name: string) => join(root, 'test/fixtures/cloud', name);

let emulator: RunningEmulator;
let dataDir: string;

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, reject) => {
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
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => done({ code, stdout, stderr }));
    child.stdin.end();
  });
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'portcullis-cloud-import-'));
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
});

describe('cloud formats through portcullis findings import and the API', { timeout: 60_000 }, () => {
  it.each([
    ['ecr', 'ecr/official-example-basic-cli-output.json', ['--region', 'eu-west-1']],
    ['ecr', 'ecr/public-capture-enhanced-moto-test.json', []],
    ['inspector2', 'inspector/constructed-list-findings-ecr.json', []],
    ['inspector2', 'inspector/official-example-eventbridge-ecr-finding.json', []],
    ['azure-resource-graph', 'azure/constructed-resource-graph-response-page.json', []],
    ['azure-resource-graph', 'azure/official-example-subassessment-rows-gcp-registry.json', []],
    ['grafeas', 'gcp/constructed-list-occurrences-discovery.json', []],
    ['grafeas', 'gcp/public-capture-sedg-gar-occurrence.json', []],
  ])('stores what the %s converter makes of %s', async (format, fixture, extra) => {
    const run = await cli([
      'findings',
      'import',
      '-f',
      cloud(fixture),
      '--format',
      format,
      ...extra,
      '--json',
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const region = extra[1];
    const expected = parseReport(format, loadCloudFixture(fixture), {
      now: new Date(),
      ...(region === undefined ? {} : { region }),
    });
    expect(JSON.parse(run.stdout)).toEqual({
      images: expected.length,
      vulnerabilities: expected.reduce((n, s) => n + s.vulnerabilities.length, 0),
    });
    for (const scan of expected) {
      const { scannedAt, ...stored } = await emulator.services.scans.get(scan.digest);
      const { scannedAt: expectedAt, ...want } = scan;
      expect(stored).toEqual(want);
      // A payload without a scan time is dated when imported; the others keep theirs.
      if (Date.parse(expectedAt) < Date.now() - 60_000) expect(scannedAt).toBe(expectedAt);
    }
  });

  it('answers an ECR payload without a region with a 400 that asks for one', async () => {
    const run = await cli([
      'findings',
      'import',
      '-f',
      cloud('ecr/official-example-basic-cli-output.json'),
      '--format',
      'ecr',
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^portcullis: 400 Bad Request: .*pass region=<aws region>/);
  });
});
