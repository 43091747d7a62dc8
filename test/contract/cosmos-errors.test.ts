/**
 * A Cosmos DB store whose account cannot be reached fails with UnavailableError, promptly
 * (bounded retries and request timeouts), and never hangs: a refused connection and a peer
 * that accepts but never answers. No server is started here; that is the point.
 */
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCosmosClient,
  openCosmosStore,
  openCosmosStoreFromEnv,
} from '../../adapters/store/cosmos/index.js';
import { UnavailableError } from '../../core/errors.js';
import type { Store } from '../../core/ports.js';
import { EMULATOR_KEY } from '../support/cosmos-server.js';
import { makeEvent, makeRule, makeScan } from './factories.js';

/** A port nothing listens on: bound once to get it from the OS, then closed. */
async function deadPort(): Promise<number> {
  const probe = createHttpServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** Every port of the store, each expected to reject with UnavailableError. */
function everyPort(store: Store): [string, () => Promise<unknown>][] {
  return [
    ['rules.list', () => store.rules.list()],
    ['rules.get', () => store.rules.get('r')],
    ['rules.create', () => store.rules.create(makeRule())],
    ['scans.getScan', () => store.scans.getScan(makeScan().digest)],
    ['scans.resolveTag', () => store.scans.resolveTag('r.io', 'a/b', 'latest')],
    ['scans.upsertScans', () => store.scans.upsertScans([makeScan()])],
    ['scans.listImages', () => store.scans.listImages({ limit: 10 })],
    ['clusters.findByTokenHash', () => store.clusters.findByTokenHash('00')],
    ['admissions.record', () => store.admissions.record(makeEvent())],
    ['admissions.query', () => store.admissions.query({ limit: 10 })],
    ['apiKeys.findByHash', () => store.apiKeys.findByHash('00')],
    ['meta.setIfAbsent', () => store.meta.setIfAbsent('k', 'v')],
  ];
}

describe('cosmos store with an unreachable account', () => {
  it('rejects every call with UnavailableError when the port is dead', async () => {
    const endpoint = `http://127.0.0.1:${await deadPort()}`;
    const store = await openCosmosStore({ client: createCosmosClient({ endpoint, key: EMULATOR_KEY }) });
    try {
      for (const [name, call] of everyPort(store)) {
        const error = await call().then(
          () => new Error(`${name} resolved`),
          (e: unknown) => e,
        );
        expect(error, name).toBeInstanceOf(UnavailableError);
      }
    } finally {
      await store.close();
    }
  });

  it('fails to open with UnavailableError when it must create the schema', async () => {
    const endpoint = `http://127.0.0.1:${await deadPort()}`;
    await expect(
      openCosmosStore({ client: createCosmosClient({ endpoint, key: EMULATOR_KEY }), ensureSchema: true }),
    ).rejects.toBeInstanceOf(UnavailableError);
    await expect(
      openCosmosStoreFromEnv({
        COSMOS_ENDPOINT: endpoint,
        COSMOS_KEY: EMULATOR_KEY,
        PORTCULLIS_COSMOS_ENSURE_SCHEMA: 'true',
      }),
    ).rejects.toBeInstanceOf(UnavailableError);
  });

  describe('a peer that accepts connections and never answers', () => {
    let silent: Server;
    const sockets = new Set<Socket>();
    beforeAll(async () => {
      silent = createServer((socket) => {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
      });
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    });
    afterAll(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    });

    it('times out into UnavailableError instead of hanging', async () => {
      const { port } = silent.address() as AddressInfo;
      const store = await openCosmosStoreFromEnv({
        COSMOS_ENDPOINT: `http://127.0.0.1:${port}`,
        COSMOS_KEY: EMULATOR_KEY,
        PORTCULLIS_COSMOS_TIMEOUT_MS: '300',
      });
      try {
        await expect(store.rules.get('r')).rejects.toBeInstanceOf(UnavailableError);
        await expect(store.admissions.record(makeEvent())).rejects.toBeInstanceOf(UnavailableError);
        await expect(store.scans.upsertScans([makeScan()])).rejects.toBeInstanceOf(UnavailableError);
      } finally {
        await store.close();
      }
    });
  });
});
