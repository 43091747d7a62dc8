/**
 * The DynamoDB tables of Portcullis as data: CreateTable inputs (keys, GSIs, on-demand
 * billing) and the TTL attribute, so that serverless.yml can be generated from or checked
 * against them, and so that `ensureDynamoDbSchema` can create them for local use and tests.
 */
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { translateError } from './errors.js';

/** The logical tables; the physical name is `<prefix><key>`. */
export type DynamoDbTableKey = 'records' | 'scans' | 'admissions';

/** Physical table names by logical key. */
export type DynamoDbTableNames = Readonly<Record<DynamoDbTableKey, string>>;

/** The attribute holding an item's expiry (epoch seconds) where a table has a TTL. */
export const TTL_ATTRIBUTE = 'expiresAt';

/** GSI of the scans table: image heads sharded by (registry, repository), sorted by image key. */
export const IMAGES_INDEX = 'images';
/** GSI of the admissions table: events by (cluster, UTC day), sorted by (time, id). */
export const BY_CLUSTER_INDEX = 'byCluster';
/** GSI of the admissions table: events by AdmissionReview request uid. */
export const BY_UID_INDEX = 'byUid';

/** One table: its CreateTable input (TableName unprefixed) and TTL attribute, if any. */
export interface DynamoDbTableSpec {
  readonly key: DynamoDbTableKey;
  /** `TableName` holds the logical key; prefix it with `dynamoDbTableNames`. */
  readonly create: CreateTableCommandInput & { TableName: DynamoDbTableKey };
  readonly ttlAttribute?: string;
}

const S = 'S' as const;

/**
 * Every table Portcullis uses. All are on-demand (PAY_PER_REQUEST) with a string `pk`/`sk`
 * primary key; see docs/storage/dynamodb.md for what lives where.
 */
export const DYNAMODB_TABLES: readonly DynamoDbTableSpec[] = [
  {
    // Rules, name locks, clusters, token lookups, API keys and meta: small, strongly read.
    key: 'records',
    create: {
      TableName: 'records',
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: S },
        { AttributeName: 'sk', AttributeType: S },
      ],
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
    },
  },
  {
    // Scan heads per (digest, source), vulnerability chunks, and tag pointers.
    key: 'scans',
    create: {
      TableName: 'scans',
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: S },
        { AttributeName: 'sk', AttributeType: S },
        { AttributeName: 'imgPk', AttributeType: S },
        { AttributeName: 'imgSk', AttributeType: S },
      ],
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: IMAGES_INDEX,
          KeySchema: [
            { AttributeName: 'imgPk', KeyType: 'HASH' },
            { AttributeName: 'imgSk', KeyType: 'RANGE' },
          ],
          // The listing's columns only: never the vulnerability payload.
          Projection: {
            ProjectionType: 'INCLUDE',
            NonKeyAttributes: [
              'registry',
              'repository',
              'repoKey',
              'digest',
              'tags',
              'source',
              'scannedAt',
              'scannedMs',
              'status',
              'statusReason',
              'counts',
            ],
          },
        },
      ],
    },
  },
  {
    // Admission events in (UTC day, shard) partitions, and the index of days that have events.
    key: 'admissions',
    ttlAttribute: TTL_ATTRIBUTE,
    create: {
      TableName: 'admissions',
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: S },
        { AttributeName: 'sk', AttributeType: S },
        { AttributeName: 'clusterDay', AttributeType: S },
        { AttributeName: 'uid', AttributeType: S },
      ],
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: BY_CLUSTER_INDEX,
          KeySchema: [
            { AttributeName: 'clusterDay', KeyType: 'HASH' },
            { AttributeName: 'sk', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
        {
          IndexName: BY_UID_INDEX,
          KeySchema: [
            { AttributeName: 'uid', KeyType: 'HASH' },
            { AttributeName: 'sk', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'KEYS_ONLY' },
        },
      ],
    },
  },
];

const TABLE_NAME = /^[A-Za-z0-9_.-]{3,255}$/;

/**
 * The physical table names for a prefix such as `portcullis-dev-`; throws a RangeError when
 * the prefix would make an invalid DynamoDB table name.
 */
export function dynamoDbTableNames(prefix: string): DynamoDbTableNames {
  const names = Object.fromEntries(DYNAMODB_TABLES.map((t) => [t.key, `${prefix}${t.key}`]));
  for (const name of Object.values(names)) {
    if (!TABLE_NAME.test(name)) {
      throw new RangeError(
        `invalid DynamoDB table prefix "${prefix}": use letters, digits, "_", "-" and "."`,
      );
    }
  }
  return names as unknown as DynamoDbTableNames;
}

/**
 * Creates any missing table (with its GSIs) and turns on its TTL. For local use and tests;
 * in AWS the tables come from serverless.yml. Safe to run from several processes at once.
 */
export async function ensureDynamoDbSchema(client: DynamoDBClient, names: DynamoDbTableNames): Promise<void> {
  try {
    await Promise.all(DYNAMODB_TABLES.map((spec) => ensureTable(client, spec, names[spec.key])));
  } catch (e) {
    translateError(e);
  }
}

async function ensureTable(client: DynamoDBClient, spec: DynamoDbTableSpec, name: string): Promise<void> {
  const exists = await client.send(new DescribeTableCommand({ TableName: name })).then(
    () => true,
    (e: unknown) => {
      if (errorName(e) === 'ResourceNotFoundException') return false;
      throw e;
    },
  );
  if (!exists) {
    try {
      await client.send(new CreateTableCommand({ ...spec.create, TableName: name }));
    } catch (e) {
      // Another process created it between our describe and create.
      if (errorName(e) !== 'ResourceInUseException') throw e;
    }
    await waitUntilTableExists({ client, maxWaitTime: 120, minDelay: 1, maxDelay: 5 }, { TableName: name });
  }
  if (spec.ttlAttribute !== undefined) {
    const ttl = await client.send(new DescribeTimeToLiveCommand({ TableName: name }));
    const status = ttl.TimeToLiveDescription?.TimeToLiveStatus;
    if (status !== 'ENABLED' && status !== 'ENABLING') {
      await client.send(
        new UpdateTimeToLiveCommand({
          TableName: name,
          TimeToLiveSpecification: { Enabled: true, AttributeName: spec.ttlAttribute },
        }),
      );
    }
  }
}

function errorName(e: unknown): string | undefined {
  return e instanceof Error ? e.name : undefined;
}
