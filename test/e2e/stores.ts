/**
 * The stores the end-to-end scenario runs on, each with the real local server it needs
 * (DESIGN.md §1: every store is proven on its real server, started by the tests themselves).
 */
import { startCosmosServer } from '../support/cosmos-server.js';
import { startDynamoDbServer } from '../support/dynamodb-server.js';
import { startFirestoreServer } from '../support/firestore-server.js';

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
  { name: 'firestore', start: () => startFirestoreServer() },
];
