/**
 * The Azure Cosmos DB (NoSQL API) store: every port of `Store` over ten containers of one
 * database. See docs/storage/cosmos.md for the data model.
 */
import type { CosmosClient, CosmosClientOptions, Database } from '@azure/cosmos';
import { type Clock, type Store, systemClock } from '../../../core/ports.js';
import { CosmosAdmissionLog } from './admission-log.js';
import { CosmosApiKeyStore } from './api-key-store.js';
import { CosmosClusterRegistry } from './cluster-registry.js';
import { createCosmosClient, DEFAULT_DATABASE, parseCosmosEnv } from './config.js';
import { type CosmosContainerName, DEFAULT_RETENTION_DAYS, ensureCosmosSchema } from './containers.js';
import { CosmosMetaStore } from './meta-store.js';
import { CosmosRegistryStore } from './registry-store.js';
import { CosmosRuleStore } from './rule-store.js';
import { CosmosScanStore } from './scan-store.js';

export { CosmosAdmissionLog, type CosmosAdmissionLogOptions, eventPk } from './admission-log.js';
export { CosmosApiKeyStore } from './api-key-store.js';
export { type BulkRetryPolicy, DEFAULT_BULK_RETRY } from './bulk.js';
export { CosmosClusterRegistry } from './cluster-registry.js';
export {
  type CosmosClientConfig,
  type CosmosEnvConfig,
  createCosmosClient,
  DEFAULT_DATABASE,
  parseCosmosEnv,
} from './config.js';
export {
  COSMOS_CONTAINER_NAMES,
  COSMOS_CONTAINERS,
  type CosmosContainerName,
  type CosmosContainerSpec,
  cosmosContainers,
  DEFAULT_RETENTION_DAYS,
  ensureCosmosSchema,
} from './containers.js';
export { CosmosMetaStore } from './meta-store.js';
export { CosmosRegistryStore, type RegistryContainers } from './registry-store.js';
export { CosmosRuleStore } from './rule-store.js';
export { CHUNK_CHARS, IMAGE_ID, tagPk } from './scan-codec.js';
export { CosmosScanStore, type ScanContainers } from './scan-store.js';

/** Where and how to open the store. */
export interface CosmosStoreOptions {
  /** The client (see `createCosmosClient` for one with bounded retries); `close()` disposes it. */
  client: CosmosClient;
  /** The database id; `portcullis` by default. */
  database?: string;
  /** Prefix of every container id, to keep several installations or test runs apart. */
  prefix?: string;
  /** Days admission events are kept (their TTL); 90 by default. */
  retentionDays?: number;
  /** Time source for event TTLs; the system clock by default. */
  clock?: Clock;
  /** Create the database and containers when missing (local use, tests); in Azure the IaC does. */
  ensureSchema?: boolean;
}

/**
 * Opens the Cosmos DB store. Without `ensureSchema` it does no I/O, so a cold start is not
 * held up by (or failed on) a momentarily unreachable account.
 *
 * @example
 * const client = createCosmosClient({ endpoint, key });
 * const store = await openCosmosStore({ client, ensureSchema: true });
 * await store.rules.list();
 * await store.close();
 */
export async function openCosmosStore(options: CosmosStoreOptions): Promise<Store> {
  const retentionDays = options.retentionDays ?? DEFAULT_RETENTION_DAYS;
  if (!(retentionDays > 0)) throw new RangeError(`retentionDays must be positive, got ${retentionDays}`);
  const { client } = options;
  const databaseId = options.database ?? DEFAULT_DATABASE;
  const prefix = options.prefix ?? '';
  let database: Database;
  try {
    database = options.ensureSchema
      ? await ensureCosmosSchema(client, databaseId, prefix, retentionDays)
      : client.database(databaseId);
  } catch (e) {
    client.dispose();
    throw e;
  }
  const container = (name: CosmosContainerName) => database.container(`${prefix}${name}`);
  return {
    rules: new CosmosRuleStore(container('rules')),
    scans: new CosmosScanStore({
      images: container('images'),
      scans: container('scans'),
      tags: container('tags'),
    }),
    clusters: new CosmosClusterRegistry(container('clusters')),
    admissions: new CosmosAdmissionLog(container('admissions'), {
      clock: options.clock ?? systemClock,
      retentionDays,
    }),
    apiKeys: new CosmosApiKeyStore(container('api-keys')),
    meta: new CosmosMetaStore(container('meta')),
    registries: new CosmosRegistryStore({
      registries: container('registries'),
      runs: container('sync-runs'),
    }),
    async close() {
      client.dispose();
    },
  };
}

/**
 * Opens the store from the environment: `COSMOS_ENDPOINT`, `COSMOS_KEY` (or
 * `options.aadCredentials` for a managed identity), `PORTCULLIS_COSMOS_DATABASE` (default
 * `portcullis`), `PORTCULLIS_COSMOS_CONTAINER_PREFIX`, `PORTCULLIS_COSMOS_ENSURE_SCHEMA`
 * (`true` to create containers, for local servers) and `PORTCULLIS_COSMOS_TIMEOUT_MS`.
 */
export async function openCosmosStoreFromEnv(
  env: NodeJS.ProcessEnv,
  options: {
    retentionDays?: number;
    clock?: Clock;
    aadCredentials?: CosmosClientOptions['aadCredentials'];
  } = {},
): Promise<Store> {
  const config = parseCosmosEnv(env, options.aadCredentials);
  return openCosmosStore({
    client: createCosmosClient(config.client),
    database: config.database,
    prefix: config.prefix,
    ensureSchema: config.ensureSchema,
    ...(options.retentionDays === undefined ? {} : { retentionDays: options.retentionDays }),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  });
}
