/**
 * The store contract: one vitest suite that every `Store` backend (SQLite, DynamoDB, Cosmos
 * DB, Firestore) must pass unchanged against its real database or emulator.
 *
 * @example
 * storeContract('sqlite', async () => openSqliteStore({ path: join(dir, 'db.sqlite') }));
 */
import { afterEach, beforeEach, describe } from 'vitest';
import type { Store } from '../../core/ports.js';
import { admissionContract } from './contract-admissions.js';
import { concurrencyContract } from './contract-concurrency.js';
import { clusterContract, keyAndMetaContract, ruleContract } from './contract-records.js';
import { registryContract } from './contract-registries.js';
import { scanContract } from './contract-scans.js';
import { tagContract } from './contract-tags.js';

/** What each part of the suite sees: the store opened for the running test. */
export interface ContractContext {
  readonly store: Store;
}

/**
 * Defines the contract suite for one backend. `open` must return an empty store (a fresh
 * database, or one reset by `cleanup`); it is called before every test, and the store is
 * closed and `cleanup` called after it.
 */
export function storeContract(name: string, open: () => Promise<Store>, cleanup?: () => Promise<void>): void {
  describe(`store contract: ${name}`, () => {
    let current: Store | undefined;
    const ctx: ContractContext = {
      get store() {
        if (current === undefined) throw new Error('the store is opened in beforeEach');
        return current;
      },
    };
    beforeEach(async () => {
      current = await open();
    });
    afterEach(async () => {
      const store = current;
      current = undefined;
      await store?.close();
      await cleanup?.();
    });

    ruleContract(ctx);
    clusterContract(ctx);
    keyAndMetaContract(ctx);
    scanContract(ctx);
    tagContract(ctx);
    admissionContract(ctx);
    concurrencyContract(ctx);
    registryContract(ctx);
  });
}
