/**
 * The stores the end-to-end scenario runs on, each with the real local server it needs
 * (DESIGN.md §1: every store is proven on its real server, started by the tests themselves).
 */

import { createEmulatorClient, openFirestoreStore } from '../../adapters/store/firestore/index.js';
import { startCosmosServer } from '../support/cosmos-server.js';
import { startDynamoDbServer } from '../support/dynamodb-server.js';
import { startFirestoreServer } from '../support/firestore-server.js';

/** One unhurried read, so the emulator's cold start is not charged to the first 5 s call. */
async function warmFirestore(env: Record<string, string>): Promise<void> {
  const client = createEmulatorClient(env.FIRESTORE_EMULATOR_HOST!, env.GOOGLE_CLOUD_PROJECT!, '(default)');
  const store = await openFirestoreStore({ client, timeoutMs: 120_000, ensureSchema: true });
  await store.close();
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
