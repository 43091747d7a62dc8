/**
 * The store of the Azure functions: Cosmos DB, with the account key when `COSMOS_KEY` is set and
 * the function app's managed identity otherwise (the IaC grants it the built-in data contributor
 * role on the database and disables key auth).
 */
import type { TokenCredential } from '@azure/identity';
import { openCosmosStoreFromEnv } from '../../adapters/store/cosmos/index.js';
import type { Store } from '../../core/ports.js';

/**
 * `DefaultAzureCredential`, loaded on first use: on Azure it resolves to the managed identity
 * (IDENTITY_ENDPOINT), elsewhere to `az login` or environment credentials.
 */
export async function defaultCredential(): Promise<TokenCredential> {
  const { DefaultAzureCredential } = await import('@azure/identity');
  return new DefaultAzureCredential();
}

/**
 * Opens the Cosmos DB store from app settings (see docs/storage/cosmos.md for the variables).
 * Does no I/O unless `PORTCULLIS_COSMOS_ENSURE_SCHEMA=true`.
 *
 * @example
 * const services = lazyServices((days) => openAzureStore(process.env, days), invocationLogger);
 */
export async function openAzureStore(
  env: NodeJS.ProcessEnv,
  retentionDays: number,
  credential: () => Promise<TokenCredential> = defaultCredential,
): Promise<Store> {
  if (env.PORTCULLIS_STORE !== undefined && env.PORTCULLIS_STORE !== 'cosmos') {
    throw new Error(
      `invalid configuration:\n  PORTCULLIS_STORE: the Azure functions keep their state in Cosmos DB; set it to "cosmos" (got "${env.PORTCULLIS_STORE}")`,
    );
  }
  const keyless = env.COSMOS_KEY === undefined;
  return openCosmosStoreFromEnv(env, {
    retentionDays,
    ...(keyless ? { aadCredentials: await credential() } : {}),
  });
}
