/** Driving a connector in tests: collect its batches, retry without waiting, fake REST servers. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'vitest';
import type { RetryPolicy } from '../../../adapters/registry/connectors/retry.js';
import type { ImageScan } from '../../../core/domain.js';
import type { RegistryConfig, RegistryConnector, ScannerInventory, SyncBatch } from '../../../core/sync.js';

export const SYNC_NOW = new Date('2024-06-02T12:00:00Z');

/** A retry policy that records the waits instead of sleeping. */
export function instantRetry(attempts = 4): RetryPolicy & { waits: number[] } {
  const waits: number[] = [];
  return {
    attempts,
    baseDelayMs: 100,
    maxDelayMs: 1000,
    random: () => 0.5,
    sleep: async (ms) => {
      waits.push(ms);
    },
    waits,
  };
}

export interface SyncOutcome {
  batches: SyncBatch[];
  scans: ImageScan[];
  /** The final checkpoint, or undefined when the run threw. */
  checkpoint?: string;
  /** The inventory the finished run returned, if its connector lists one. */
  inventory?: ScannerInventory;
  error?: unknown;
  /** The last checkpoint a batch carried (what the service saves before a failure). */
  lastSaved?: string;
}

/** Runs a connector to its end (or failure), as SyncService would, keeping every batch. */
export async function runSync(
  connector: RegistryConnector,
  options: { checkpoint?: string; now?: Date; signal?: AbortSignal } = {},
): Promise<SyncOutcome> {
  const generator = connector.sync({
    ...(options.checkpoint === undefined ? {} : { checkpoint: options.checkpoint }),
    signal: options.signal ?? new AbortController().signal,
    now: options.now ?? SYNC_NOW,
  });
  const out: SyncOutcome = { batches: [], scans: [] };
  try {
    for (;;) {
      const step = await generator.next();
      if (step.done) {
        out.checkpoint = step.value.checkpoint;
        if (step.value.inventory !== undefined) out.inventory = step.value.inventory;
        break;
      }
      out.batches.push(step.value);
      out.scans.push(...step.value.scans);
      if (step.value.checkpoint !== undefined) out.lastSaved = step.value.checkpoint;
    }
  } catch (e) {
    out.error = e;
  }
  return out;
}

/** Asserts the contract on batches: bounded, complete images only, one digest once per batch. */
export function expectWellFormedBatches(batches: readonly SyncBatch[], maxImages = 200): void {
  for (const b of batches) {
    expect(b.scans.length).toBeLessThanOrEqual(maxImages);
    const digests = b.scans.map((s) => s.digest.toLowerCase());
    expect(new Set(digests).size).toBe(digests.length);
  }
}

/** The scans by digest, the last one winning (as the store's replace would). */
export function byDigest(scans: readonly ImageScan[]): Map<string, ImageScan> {
  return new Map(scans.map((s) => [s.digest.toLowerCase(), s]));
}

export function registryConfig(
  kind: RegistryConfig['kind'],
  settings: Record<string, unknown>,
): RegistryConfig {
  return {
    id: `reg-${kind}`,
    name: `test-${kind}`,
    kind,
    settings,
    enabled: true,
    createdAt: '2024-01-01T00:00:00.000Z',
    createdBy: 'test',
  };
}

export interface RecordedRequest {
  method: string;
  url: string;
  authorization?: string;
  body?: unknown;
}

/** What a fake endpoint answers: a status, a JSON body and headers. */
export interface FakeAnswer {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** A local HTTP server standing in for a cloud REST API; `handle` answers each request. */
export interface FakeServer {
  url: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

export async function fakeServer(
  handle: (request: RecordedRequest) => FakeAnswer | Promise<FakeAnswer>,
): Promise<FakeServer> {
  const requests: RecordedRequest[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const request: RecordedRequest = {
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
        ...(text ? { body: JSON.parse(text) as unknown } : {}),
      };
      requests.push(request);
      try {
        const answer = await handle(request);
        res.writeHead(answer.status ?? 200, { 'content-type': 'application/json', ...answer.headers });
        res.end(answer.body === undefined ? '' : JSON.stringify(answer.body));
      } catch (e) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'TestServerError', message: String(e) } }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A token provider that counts its calls, standing in for DefaultAzureCredential or GoogleAuth. */
export function fakeToken(token = 'test-token'): (() => Promise<string>) & { calls: number } {
  const provider = Object.assign(
    async () => {
      provider.calls++;
      return token;
    },
    { calls: 0 },
  );
  return provider;
}
