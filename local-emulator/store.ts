/**
 * The store the emulator runs on, chosen by `PORTCULLIS_STORE`. Cloud stores are loaded only
 * when chosen, so the default start never loads a cloud SDK.
 */
import { join } from 'node:path';
import { openSqliteStore } from '../adapters/store/sqlite/index.js';
import type { Store } from '../core/ports.js';
import type { EmulatorConfig } from './config.js';

/**
 * Opens the configured store. On one machine the cloud stores create their tables,
 * containers and indexes when missing (`PORTCULLIS_*_ENSURE_SCHEMA` defaults to true here;
 * in the clouds the IaC creates them).
 */
export async function openStore(
  config: EmulatorConfig,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Store> {
  const options = { retentionDays: config.retentionDays };
  switch (config.store) {
    case 'sqlite':
      return openSqliteStore({ path: join(config.dataDir, 'portcullis.db'), ...options });
    case 'dynamodb': {
      const { openDynamoDbStoreFromEnv } = await import('../adapters/store/dynamodb/index.js');
      return openDynamoDbStoreFromEnv(
        { ...env, PORTCULLIS_DYNAMODB_ENSURE_SCHEMA: env.PORTCULLIS_DYNAMODB_ENSURE_SCHEMA ?? 'true' },
        options,
      );
    }
    case 'cosmos': {
      const { openCosmosStoreFromEnv } = await import('../adapters/store/cosmos/index.js');
      return openCosmosStoreFromEnv(
        { ...env, PORTCULLIS_COSMOS_ENSURE_SCHEMA: env.PORTCULLIS_COSMOS_ENSURE_SCHEMA ?? 'true' },
        options,
      );
    }
    case 'firestore': {
      const { openFirestoreStoreFromEnv } = await import('../adapters/store/firestore/index.js');
      return openFirestoreStoreFromEnv(env, options);
    }
  }
}
