/**
 * The stores the end-to-end scenario runs on, each with the real local server it needs
 * (DESIGN.md §1: every store is proven on its real server, started by the tests themselves).
 */

import { openFirestoreStoreFromEnv } from '../../adapters/store/firestore/index.js';
import { startCosmosServer } from '../support/cosmos-server.js';
import { startDynamoDbServer } from '../support/dynamodb-server.js';
import { startFirestoreServer } from '../support/firestore-server.js';

async function warmFirestore(env: Record<string, string>): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const store = await openFirestoreStoreFromEnv(env);
    try {
      await store.meta.get('warm-up');
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    } finally {
      await store.close();
    }
  }
}

export interface StoreBackend {
  /** The value of PORTCULLIS_STORE. */
  name: 'sqlite' | 'dynamodb' | 'cosmos' | 'firestore';
  /** Starts the backend's server; `env` points the emulator at it. */
  start(): Promise<{ env: Record<string, string>; stop(): Promise<void> }>;
}

export const STORE_BACKENDS: StoreBackend[] = [
  { name: 'sqlite', start: async () => ({ env: {}, stop: async () => {} }) },
  { name: 'dynamodb', start: startDynamoDbServer },
  { name: 'cosmos', start: startCosmosServer },
  {
    name: 'firestore',
    start: async () => {
      const server = await startFirestoreServer();
      // The emulator's first requests are slow (JIT, lazy init); the emulator process gives its
      // store 5 s per call, so warm it up first rather than fail a loaded machine's start-up.
      await warmFirestore(server.env);
      return server;
    },
  },
];
