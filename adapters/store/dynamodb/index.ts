/**
 * The DynamoDB store: every port of `Store` over three on-demand tables (records, scans,
 * admissions) for the AWS deployment, and for DynamoDB Local. See docs/storage/dynamodb.md.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type Clock, type Store, systemClock } from '../../../core/ports.js';
import { DynamoDbAdmissionLog } from './admission-log.js';
import { DynamoDbApiKeyStore } from './api-key-store.js';
import {
  createDocumentClient,
  createDynamoDbClient,
  DEFAULT_TABLE_PREFIX,
  dynamoDbSettingsFromEnv,
} from './client.js';
import { DynamoDbClusterRegistry } from './cluster-registry.js';
import { Ddb, DEFAULT_RETRY_POLICY } from './ddb.js';
import { DynamoDbMetaStore } from './meta-store.js';
import { DynamoDbRegistryStore } from './registry-store.js';
import { DynamoDbRuleStore } from './rule-store.js';
import { DynamoDbScanStore } from './scan-store.js';
import { dynamoDbTableNames, ensureDynamoDbSchema } from './tables.js';

export { EVENT_SHARDS } from './admission-items.js';
export { DynamoDbAdmissionLog, type DynamoDbAdmissionLogOptions } from './admission-log.js';
export { DynamoDbApiKeyStore } from './api-key-store.js';
export {
  createDocumentClient,
  createDynamoDbClient,
  DEFAULT_TABLE_PREFIX,
  type DynamoDbClientOptions,
  type DynamoDbEnvSettings,
  dynamoDbSettingsFromEnv,
} from './client.js';
export { DynamoDbClusterRegistry } from './cluster-registry.js';
export { Ddb, DEFAULT_BULK_TIMEOUT_MS } from './ddb.js';
export { DynamoDbMetaStore } from './meta-store.js';
export { DynamoDbRegistryStore } from './registry-store.js';
export { DynamoDbRuleStore } from './rule-store.js';
export { IMAGE_SHARDS } from './scan-items.js';
export { DynamoDbScanStore } from './scan-store.js';
export {
  BY_CLUSTER_INDEX,
  BY_UID_INDEX,
  DYNAMODB_TABLES,
  type DynamoDbTableKey,
  type DynamoDbTableNames,
  type DynamoDbTableSpec,
  dynamoDbTableNames,
  ensureDynamoDbSchema,
  IMAGES_INDEX,
  TTL_ATTRIBUTE,
} from './tables.js';

/** The default retention of admission events, in days. */
export const DEFAULT_RETENTION_DAYS = 90;

/** How to open the store. */
export interface DynamoDbStoreOptions {
  /** The client to use (see `createDynamoDbClient`); the store destroys it on `close()`. */
  client: DynamoDBClient;
  /** Prepended to every table name, e.g. `portcullis-dev-`; `portcullis-` by default. */
  tablePrefix?: string;
  /** Days admission events are kept (their TTL); 90 by default. */
  retentionDays?: number;
  /** Time source for TTLs and expiry filtering; the system clock by default. */
  clock?: Clock;
  /** Create missing tables, GSIs and TTL settings (local use and tests); false by default. */
  ensureSchema?: boolean;
  /**
   * Request timeout of each BatchWriteItem call (scan upserts, purges), in ms; 15,000 by
   * default. Every other call keeps the client's timeout (`requestTimeoutMs`, 3 s).
   */
  bulkTimeoutMs?: number;
}

/**
 * Opens the DynamoDB store over an injected client.
 *
 * @example
 * const store = await openDynamoDbStore({
 *   client: createDynamoDbClient({ endpoint: 'http://127.0.0.1:8000' }),
 *   tablePrefix: 'portcullis-dev-',
 *   ensureSchema: true,
 * });
 */
export async function openDynamoDbStore(options: DynamoDbStoreOptions): Promise<Store> {
  const retentionDays = options.retentionDays ?? DEFAULT_RETENTION_DAYS;
  if (!(retentionDays > 0)) throw new RangeError(`retentionDays must be positive, got ${retentionDays}`);
  if (options.bulkTimeoutMs !== undefined && !(options.bulkTimeoutMs > 0)) {
    throw new RangeError(`bulkTimeoutMs must be positive, got ${options.bulkTimeoutMs}`);
  }
  const names = dynamoDbTableNames(options.tablePrefix ?? DEFAULT_TABLE_PREFIX);
  const { client } = options;
  try {
    if (options.ensureSchema === true) await ensureDynamoDbSchema(client, names);
  } catch (e) {
    client.destroy();
    throw e;
  }
  const ddb = new Ddb(createDocumentClient(client), DEFAULT_RETRY_POLICY, options.bulkTimeoutMs);
  let open = true;
  return {
    rules: new DynamoDbRuleStore(ddb, names.records),
    scans: new DynamoDbScanStore(ddb, names.scans),
    clusters: new DynamoDbClusterRegistry(ddb, names.records),
    admissions: new DynamoDbAdmissionLog(ddb, names.admissions, {
      clock: options.clock ?? systemClock,
      retentionDays,
    }),
    apiKeys: new DynamoDbApiKeyStore(ddb, names.records),
    meta: new DynamoDbMetaStore(ddb, names.records),
    registries: new DynamoDbRegistryStore(ddb, names.records),
    async close() {
      if (!open) return;
      open = false;
      // Closes the HTTP agent's keep-alive sockets.
      client.destroy();
    },
  };
}

/**
 * Opens the DynamoDB store configured by environment variables: `AWS_ENDPOINT_URL_DYNAMODB`
 * (or `AWS_ENDPOINT_URL`), `AWS_REGION` (or `AWS_DEFAULT_REGION`), `AWS_ACCESS_KEY_ID`,
 * `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` (else the SDK's default credential chain),
 * `PORTCULLIS_DYNAMODB_TABLE_PREFIX`, `PORTCULLIS_DYNAMODB_ENSURE_SCHEMA`,
 * `PORTCULLIS_DYNAMODB_TIMEOUT_MS`, `PORTCULLIS_DYNAMODB_BULK_TIMEOUT_MS` and
 * `PORTCULLIS_DYNAMODB_MAX_ATTEMPTS`.
 *
 * @example
 * const store = await openDynamoDbStoreFromEnv(process.env, { retentionDays: 30 });
 */
export async function openDynamoDbStoreFromEnv(
  env: NodeJS.ProcessEnv,
  options: { retentionDays?: number; clock?: Clock } = {},
): Promise<Store> {
  const settings = dynamoDbSettingsFromEnv(env);
  return openDynamoDbStore({
    client: createDynamoDbClient(settings.client),
    tablePrefix: settings.tablePrefix,
    ensureSchema: settings.ensureSchema,
    ...(settings.bulkTimeoutMs === undefined ? {} : { bulkTimeoutMs: settings.bulkTimeoutMs }),
    ...options,
  });
}
