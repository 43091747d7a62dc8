/**
 * The Cosmos DB containers of Portcullis as data: partition keys, unique keys, indexing
 * policies and TTL. `ensureCosmosSchema` creates them for local use and tests; in Azure the
 * IaC (iac/azure) creates them, and a test can check it against `COSMOS_CONTAINERS`.
 */
import {
  type CompositePath,
  type CosmosClient,
  type Database,
  type IndexingPolicy,
  PartitionKeyDefinitionVersion,
  PartitionKeyKind,
} from '@azure/cosmos';
import { guard } from './support.js';

/** The logical containers; each is created as `<prefix><name>`. */
export const COSMOS_CONTAINER_NAMES = [
  'rules',
  'clusters',
  'api-keys',
  'meta',
  'images',
  'scans',
  'tags',
  'admissions',
  'registries',
  'sync-runs',
] as const;
/** The logical name of one container. */
export type CosmosContainerName = (typeof COSMOS_CONTAINER_NAMES)[number];

/** One container as the IaC must declare it. */
export interface CosmosContainerSpec {
  /** The logical name; the container id is `<prefix><name>`. */
  name: CosmosContainerName;
  /** Every container uses a synthetic `/pk` (hash partitioning, kind Hash, version 2). */
  partitionKeyPath: '/pk';
  /** Unique keys, enforced per logical partition. */
  uniqueKeys: string[][];
  /** Opt-in indexing: only the listed paths are indexed; `/*` (every payload) is excluded. */
  indexingPolicy: IndexingPolicy;
  /** Container default TTL in seconds; absent = TTL off. Items may carry their own `ttl`. */
  defaultTtl?: number;
}

const asc = (path: string): CompositePath => ({ path, order: 'ascending' });
const desc = (path: string): CompositePath => ({ path, order: 'descending' });

/** Opt-in indexing of `paths` (scalars), everything else excluded. */
function only(paths: string[], compositeIndexes: CompositePath[][] = []): IndexingPolicy {
  return {
    indexingMode: 'consistent',
    automatic: true,
    includedPaths: paths.map((path) => ({ path })),
    excludedPaths: [{ path: '/*' }, { path: '/"_etag"/?' }],
    compositeIndexes,
  };
}

/** Newest-first event order. */
const EVENT_ORDER = [desc('/timeMs'), desc('/eventId')];
/** Equality filters that lead a composite index of their own (Cosmos DB's advice for filter + ORDER BY). */
export const EVENT_LEAD_FIELDS = ['uid', 'cluster', 'namespace', 'decision'] as const;

const SECONDS_PER_DAY = 86_400;

/**
 * The container definitions for an event retention of `retentionDays` (the admissions
 * container's default TTL; each event also carries its own `ttl`, counted from its time).
 */
export function cosmosContainers(retentionDays: number): readonly CosmosContainerSpec[] {
  return [
    // pk 'rule': the whole rule set is one small logical partition, so the unique key on
    // the lower-cased name is global, and list() is a single-partition query.
    {
      name: 'rules',
      partitionKeyPath: '/pk',
      uniqueKeys: [['/nameKey']],
      indexingPolicy: only(['/nameKey/?']),
    },
    // pk 'cluster' for the cluster documents (unique names, listing); pk 'token|<sha256>'
    // for the one-document partitions that map a webhook token hash to its cluster.
    {
      name: 'clusters',
      partitionKeyPath: '/pk',
      uniqueKeys: [['/nameKey']],
      indexingPolicy: only(['/nameKey/?']),
    },
    // pk 'apikey' for the keys (listing), pk 'hash|<sha256>' for the hash -> key lookups.
    {
      name: 'api-keys',
      partitionKeyPath: '/pk',
      uniqueKeys: [],
      indexingPolicy: only(['/createdAt/?', '/keyId/?'], [[asc('/createdAt'), asc('/keyId')]]),
    },
    // One logical partition per key: point reads and conditional creates only.
    { name: 'meta', partitionKeyPath: '/pk', uniqueKeys: [], indexingPolicy: only([]) },
    // pk '<digest>': one small document per image, its newest scan's summary (the listing
    // row) and every source's entry. The only scan container that is queried.
    {
      name: 'images',
      partitionKeyPath: '/pk',
      uniqueKeys: [],
      indexingPolicy: only(
        ['/registryKey/?', '/repositoryKey/?', '/digestKey/?', '/status/?'],
        [[asc('/registryKey'), asc('/repositoryKey'), asc('/digestKey')]],
      ),
    },
    // pk '<digest>': one document per source with its gzipped vulnerabilities, plus chunk
    // documents when large. Point reads only, so nothing is indexed: big writes stay cheap.
    { name: 'scans', partitionKeyPath: '/pk', uniqueKeys: [], indexingPolicy: only([]) },
    // pk '<registry>/<repository>': one document per tag. Point reads only.
    { name: 'tags', partitionKeyPath: '/pk', uniqueKeys: [], indexingPolicy: only([]) },
    // pk '<cluster>|<YYYY-MM-DD>': writes spread over every cluster and day; TTL retention.
    {
      name: 'admissions',
      partitionKeyPath: '/pk',
      uniqueKeys: [],
      defaultTtl: retentionDays * SECONDS_PER_DAY,
      indexingPolicy: only(
        [
          '/timeMs/?',
          '/eventId/?',
          '/uid/?',
          '/cluster/?',
          '/namespace/?',
          '/decision/?',
          '/imageText/?',
          '/ruleKeys/[]/?',
          '/digestKeys/[]/?',
        ],
        [EVENT_ORDER, ...EVENT_LEAD_FIELDS.map((f) => [asc(`/${f}`), ...EVENT_ORDER])],
      ),
    },
    // pk 'registry': registry connectors with their checkpoint and sync lease; unique names.
    {
      name: 'registries',
      partitionKeyPath: '/pk',
      uniqueKeys: [['/nameKey']],
      indexingPolicy: only(['/nameKey/?']),
    },
    // pk '<registry id>': that registry's sync runs, newest first by (startedMs, runId).
    {
      name: 'sync-runs',
      partitionKeyPath: '/pk',
      uniqueKeys: [],
      indexingPolicy: only(['/runId/?', '/startedMs/?'], [[desc('/startedMs'), desc('/runId')]]),
    },
  ];
}

/** The default retention of admission events, in days (DESIGN.md §2). */
export const DEFAULT_RETENTION_DAYS = 90;

/** The containers with the default retention: what iac/azure must declare. */
export const COSMOS_CONTAINERS: readonly CosmosContainerSpec[] = cosmosContainers(DEFAULT_RETENTION_DAYS);

/**
 * Creates the database and every container when missing (local use and tests). Existing
 * containers are left as they are: Cosmos DB cannot change a partition key or unique keys
 * in place, and indexing changes belong to the IaC.
 */
export async function ensureCosmosSchema(
  client: CosmosClient,
  databaseId: string,
  prefix: string,
  retentionDays: number,
): Promise<Database> {
  const { database } = await guard(() => client.databases.createIfNotExists({ id: databaseId }));
  for (const spec of cosmosContainers(retentionDays)) {
    await guard(() =>
      database.containers.createIfNotExists({
        id: `${prefix}${spec.name}`,
        partitionKey: {
          paths: [spec.partitionKeyPath],
          kind: PartitionKeyKind.Hash,
          version: PartitionKeyDefinitionVersion.V2,
        },
        uniqueKeyPolicy: { uniqueKeys: spec.uniqueKeys.map((paths) => ({ paths })) },
        indexingPolicy: spec.indexingPolicy,
        ...(spec.defaultTtl === undefined ? {} : { defaultTtl: spec.defaultTtl }),
      }),
    );
  }
  return database;
}
