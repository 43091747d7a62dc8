/**
 * Firestore failures become core errors: an unreachable endpoint is UnavailableError (quickly,
 * through the store's per-request deadline, not after the SDK's minute of retries), and each
 * gRPC status the store meets maps to its core error with the original as `cause`.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createEmulatorClient,
  openFirestoreStore,
  translateError,
} from '../../adapters/store/firestore/index.js';
import { ConflictError, NotFoundError, UnavailableError, VersionConflictError } from '../../core/errors.js';
import { freePort } from '../support/firestore-server.js';
import { makeEvent, makeScan, sha256 } from './factories.js';

describe('firestore store against a dead endpoint', () => {
  let endpoint: string;
  beforeAll(async () => {
    endpoint = `127.0.0.1:${await freePort()}`;
  });

  const deadClient = () => createEmulatorClient(endpoint, 'demo-portcullis');

  it('rejects every kind of call with UnavailableError', async () => {
    const store = await openFirestoreStore({ client: deadClient(), prefix: 'runs/dead' });
    try {
      const calls: [string, Promise<unknown>][] = [
        ['rules.list', store.rules.list()],
        ['scans.getScan', store.scans.getScan(makeScan().digest)],
        ['scans.resolveTag', store.scans.resolveTag('docker.io', 'library/nginx', 'latest')],
        ['scans.upsertScans', store.scans.upsertScans([makeScan()])],
        ['clusters.findByTokenHash', store.clusters.findByTokenHash(sha256('token'))],
        ['apiKeys.findByHash', store.apiKeys.findByHash(sha256('key'))],
        ['admissions.record', store.admissions.record(makeEvent())],
        ['admissions.query', store.admissions.query({ limit: 10 })],
        ['meta.setIfAbsent', store.meta.setIfAbsent('seed', 'x')],
      ];
      const results = await Promise.allSettled(calls.map(([, call]) => call));
      results.forEach((result, i) => {
        expect(result.status, calls[i]![0]).toBe('rejected');
        if (result.status === 'rejected')
          expect(result.reason, calls[i]![0]).toBeInstanceOf(UnavailableError);
      });
    } finally {
      await store.close();
    }
  });

  it('fails to open with ensureSchema when the endpoint does not answer', async () => {
    await expect(
      openFirestoreStore({ client: deadClient(), prefix: 'runs/dead', ensureSchema: true }),
    ).rejects.toBeInstanceOf(UnavailableError);
  });
});

describe('translating Firestore errors', () => {
  const grpcError = (code: number, message = 'from Firestore') => Object.assign(new Error(message), { code });
  const translated = (e: unknown, ctx = {}) => {
    try {
      translateError(e, ctx);
    } catch (thrown) {
      return thrown;
    }
    throw new Error('translateError returned');
  };

  it.each([
    ['ALREADY_EXISTS', 6, ConflictError],
    ['NOT_FOUND', 5, NotFoundError],
    ['DEADLINE_EXCEEDED', 4, UnavailableError],
    ['RESOURCE_EXHAUSTED', 8, UnavailableError],
    ['ABORTED', 10, UnavailableError],
    ['UNAVAILABLE', 14, UnavailableError],
  ])('maps %s to its core error and keeps the cause', (_name, code, type) => {
    const original = grpcError(code);
    const error = translated(original);
    expect(error).toBeInstanceOf(type);
    expect((error as Error).cause).toBe(original);
  });

  it('maps FAILED_PRECONDITION to VersionConflictError only where a precondition was sent', () => {
    const original = grpcError(9, 'The query requires an index. You can create it here: https://...');
    expect(translated(original, { precondition: 'rule r moved on' })).toBeInstanceOf(VersionConflictError);
    // Without one it is most likely a missing index: passed on as it is, link included.
    expect(translated(original)).toBe(original);
  });

  it('maps network errors to UnavailableError and rethrows what it does not know', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(translated(refused)).toBeInstanceOf(UnavailableError);
    const bug = new TypeError('not Firestore');
    expect(translated(bug)).toBe(bug);
    expect(translated(grpcError(3, 'INVALID_ARGUMENT'))).toBeInstanceOf(Error);
    expect(translated(grpcError(3))).not.toBeInstanceOf(UnavailableError);
  });
});
