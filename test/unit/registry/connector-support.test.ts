import { describe, expect, it } from 'vitest';
import { PageItems, pageBatch } from '../../../adapters/registry/connectors/batch.js';
import {
  changedSince,
  finalCheckpoint,
  progressCheckpoint,
  startPosition,
  unitStart,
} from '../../../adapters/registry/connectors/checkpoint.js';
import {
  classifyHttpError,
  HttpStatusError,
  retryAfterMs,
} from '../../../adapters/registry/connectors/http.js';
import {
  abortableSleep,
  backoffMs,
  isTransientNetworkError,
  RegistryApiError,
  withRetry,
} from '../../../adapters/registry/connectors/retry.js';
import { createConnector, createConnectorWith } from '../../../adapters/registry/connectors.js';
import { ValidationError } from '../../../core/errors.js';
import { instantRetry, registryConfig, SYNC_NOW } from './sync-helpers.js';

describe('checkpoints', () => {
  it('starts a full sync without one, or from anything unreadable', () => {
    for (const c of [undefined, '', 'garbage', '{"v":99,"since":"2024-01-01T00:00:00Z"}', '[]', 'null']) {
      expect(startPosition(c, SYNC_NOW)).toEqual({ startedAt: SYNC_NOW.toISOString() });
    }
  });

  it('takes a bare time as since', () => {
    expect(startPosition('2024-06-01T00:00:00Z', SYNC_NOW).since).toBe('2024-06-01T00:00:00.000Z');
  });

  it('resumes an interrupted run with its start and cursor, and ends with its start less the overlap', () => {
    const running = { since: '2024-06-01T00:00:00.000Z', startedAt: '2024-06-02T10:00:00.000Z' };
    const saved = progressCheckpoint(running, { unit: 'b', token: 't' });
    const resumed = startPosition(saved, SYNC_NOW);
    expect(resumed).toEqual({ ...running, cursor: { unit: 'b', token: 't' } });
    expect(unitStart(resumed, 'a')).toEqual({ skip: true });
    expect(unitStart(resumed, 'b')).toEqual({ skip: false, token: 't' });
    expect(unitStart(resumed, 'c')).toEqual({ skip: false });
    expect(unitStart(startPosition(progressCheckpoint(running, { unit: 'b' }), SYNC_NOW), 'b')).toEqual({
      skip: true,
    });
    expect(JSON.parse(finalCheckpoint(resumed))).toEqual({ v: 1, since: '2024-06-02T09:50:00.000Z' });
    expect(startPosition(finalCheckpoint(resumed), SYNC_NOW)).toEqual({
      since: '2024-06-02T09:50:00.000Z',
      startedAt: SYNC_NOW.toISOString(),
    });
  });

  it('compares times, and everything has changed in a full sync', () => {
    expect(changedSince(undefined, undefined)).toBe(true);
    expect(changedSince(undefined, '2024-01-01T00:00:00.000Z')).toBe(false);
    expect(changedSince('2024-01-01T00:00:00.000Z', '2024-01-01T00:00:00.000Z')).toBe(true);
    expect(changedSince('2023-12-31T23:59:59.999Z', '2024-01-01T00:00:00.000Z')).toBe(false);
  });
});

describe('page batches', () => {
  const position = startPosition(undefined, SYNC_NOW);
  const moved = {
    registry: 'r.example',
    repository: 'app',
    digest: `sha256:${'a'.repeat(64)}`,
    source: 'ecr' as const,
    tags: ['latest'],
  };

  it('says nothing for an empty page mid-unit, and always closes the unit', () => {
    expect(pageBatch(position, 'app', 'next', new PageItems(), 0)).toBeUndefined();
    const done = pageBatch(position, 'app', undefined, new PageItems(), 0)!;
    expect(done).toEqual({
      scans: [],
      checkpoint: progressCheckpoint(position, { unit: 'app' }),
      progress: { images: 0 },
    });
  });

  it('carries tag observations apart from scans, with the cursor past the page', () => {
    const items = new PageItems();
    items.add(undefined);
    items.add(moved);
    const batch = pageBatch(position, 'app', 'next', items, 3)!;
    expect(batch).toEqual({
      scans: [],
      tags: [moved],
      checkpoint: progressCheckpoint(position, { unit: 'app', token: 'next' }),
      progress: { images: 3 },
    });
  });
});

describe('retries', () => {
  it('backs off exponentially with full jitter under the cap', () => {
    const policy = { attempts: 6, baseDelayMs: 100, maxDelayMs: 1000, random: () => 0.999 };
    expect([1, 2, 3, 4, 5].map((n) => backoffMs(policy, n))).toEqual([99, 199, 399, 799, 999]);
    expect(backoffMs({ ...policy, random: () => 0 }, 3)).toBe(0);
    // A server's Retry-After wins over a shorter jitter, bounded.
    expect(backoffMs({ ...policy, random: () => 0 }, 1, 3000)).toBe(3000);
    expect(backoffMs({ ...policy, random: () => 0 }, 1, 3_600_000)).toBe(4000);
  });

  it('retries what is retryable, and wraps the last failure with its cause', async () => {
    const policy = instantRetry(3);
    let calls = 0;
    const cause = new Error('slow down');
    const error = await withRetry(
      'Thing.Call',
      async () => {
        calls++;
        throw cause;
      },
      () => ({ retryable: true, reason: 'Throttled: slow down', status: 429 }),
      { signal: new AbortController().signal, policy },
    ).catch((e: unknown) => e);
    expect(calls).toBe(3);
    expect(error).toBeInstanceOf(RegistryApiError);
    expect(error).toMatchObject({
      message: 'Thing.Call failed after 3 attempts: Throttled: slow down',
      code: 'registry_api_error',
      status: 429,
      attempts: 3,
      cause,
    });
  });

  it('stops waiting when aborted', async () => {
    const controller = new AbortController();
    const sleeping = abortableSleep(60_000, controller.signal);
    controller.abort(new Error('stop'));
    await expect(sleeping).rejects.toThrow('stop');
    const aborted = new AbortController();
    aborted.abort(new Error('gone'));
    let calls = 0;
    await expect(
      withRetry(
        'x',
        async () => calls++,
        () => ({ retryable: true, reason: '' }),
        {
          signal: aborted.signal,
          policy: instantRetry(),
        },
      ),
    ).rejects.toThrow('gone');
    expect(calls).toBe(0);
  });

  it('knows transient network failures, deep in the cause chain', () => {
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    expect(isTransientNetworkError(new TypeError('fetch failed', { cause: reset }))).toBe(true);
    expect(isTransientNetworkError(new DOMException('The operation timed out.', 'TimeoutError'))).toBe(true);
    expect(isTransientNetworkError(new Error('Access denied'))).toBe(false);
  });

  it('reads Retry-After as seconds or a date, and Azure quota resets', () => {
    expect(retryAfterMs(new Headers({ 'retry-after': '7' }))).toBe(7000);
    expect(
      retryAfterMs(new Headers({ 'retry-after': 'Sun, 02 Jun 2024 12:00:05 GMT' }), SYNC_NOW.getTime()),
    ).toBe(5000);
    expect(retryAfterMs(new Headers({ 'x-ms-user-quota-resets-after': '00:00:03' }))).toBe(3000);
    expect(retryAfterMs(new Headers())).toBeUndefined();
  });

  it('retries 429 and 5xx answers, not other refusals', () => {
    expect(classifyHttpError(new HttpStatusError(429, 'HTTP 429')).retryable).toBe(true);
    expect(classifyHttpError(new HttpStatusError(503, 'HTTP 503')).retryable).toBe(true);
    expect(classifyHttpError(new HttpStatusError(400, 'HTTP 400')).retryable).toBe(false);
    expect(classifyHttpError(new HttpStatusError(403, 'HTTP 403')).retryable).toBe(false);
  });
});

describe('createConnector', () => {
  it('builds a connector per kind without touching any cloud', () => {
    for (const [kind, settings] of [
      ['ecr', { region: 'eu-west-1', scanning: 'enhanced' }],
      ['acr', { subscriptions: ['0b1f6471-1bf0-4dda-aec3-cb9272f09590'] }],
      ['gar', { projects: ['my-project-123'] }],
    ] as const) {
      expect(typeof createConnector(registryConfig(kind, settings)).sync).toBe('function');
    }
  });

  it('rejects settings of the wrong shape, and unknown kinds', () => {
    expect(() => createConnector(registryConfig('acr', { subscriptions: ['not-a-guid'] }))).toThrow(
      ValidationError,
    );
    expect(() => createConnector(registryConfig('gar', {}))).toThrow(ValidationError);
    expect(() => createConnector({ ...registryConfig('ecr', {}), kind: 'quay' as never })).toThrow(
      /unknown registry kind "quay"/,
    );
  });

  it('runs an ECR sync with the SDK clients it builds (here against an unreachable endpoint)', async () => {
    const factory = createConnectorWith({
      retry: instantRetry(2),
      awsClientConfig: {
        endpoint: 'http://127.0.0.1:9',
        credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
      },
    });
    const connector = factory(registryConfig('ecr', { region: 'eu-west-1' }));
    const error = await connector
      .sync({ signal: new AbortController().signal, now: SYNC_NOW })
      .next()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegistryApiError);
    expect((error as Error).message).toMatch(/^ECR DescribeRepositories failed after 2 attempts: /);
  });
});
