/**
 * Registered clusters in DynamoDB's records table. Besides the cluster item (`CLUSTER`
 * partition) each cluster owns a name lock (`CLUSTERNAME`) and a token item keyed by the
 * token's hash (`TOKEN#<hash>`) holding a copy of the cluster, so that the webhook's token
 * check is one strongly consistent point read. All three change in one transaction.
 */
import { z } from 'zod';
import { type Cluster, type ClusterRecord, ClusterSchema } from '../../../core/domain.js';
import { ConflictError, NotFoundError } from '../../../core/errors.js';
import type { ClusterRegistry } from '../../../core/ports.js';
import { parseItem, unpackDoc } from './codec.js';
import type { Ddb, Key, TransactItem } from './ddb.js';

const CLUSTER = 'CLUSTER';
const CLUSTER_NAME = 'CLUSTERNAME';
const TOKEN = 'TOKEN';

const ClusterItem = z.object({ sk: z.string(), nameKey: z.string(), tokenHash: z.string(), doc: z.string() });
type ClusterItem = z.infer<typeof ClusterItem>;
const TokenItem = z.object({ clusterId: z.string(), doc: z.string() });
const LockItem = z.object({ clusterId: z.string() });

const clusterKey = (id: string): Key => ({ pk: CLUSTER, sk: id });
const lockKey = (nameKey: string): Key => ({ pk: CLUSTER_NAME, sk: nameKey });
const tokenKey = (hash: string): Key => ({ pk: `${TOKEN}#${hash}`, sk: TOKEN });

/** Attempts at a rotation or deletion that keeps meeting a concurrent rotation. */
const ATTEMPTS = 5;

/** The `ClusterRegistry` port over the records table. */
export class DynamoDbClusterRegistry implements ClusterRegistry {
  constructor(
    private readonly ddb: Ddb,
    private readonly table: string,
  ) {}

  /** Puts cluster, name lock and token item together; ConflictError when any is taken. */
  async create(cluster: ClusterRecord): Promise<void> {
    const { tokenHash, ...doc } = cluster;
    const nameKey = cluster.name.toLowerCase();
    const failure = await this.ddb.transact([
      this.put({ ...clusterKey(cluster.id), nameKey, tokenHash, doc: JSON.stringify(doc) }),
      this.put({ ...lockKey(nameKey), clusterId: cluster.id }),
      this.put({ ...tokenKey(tokenHash), clusterId: cluster.id, doc: JSON.stringify(doc) }),
    ]);
    if (failure === null) return;
    const what = failure.failed.includes(1)
      ? `a cluster named "${cluster.name}"`
      : failure.failed.includes(0)
        ? `a cluster with id ${cluster.id}`
        : 'a cluster with this token';
    throw new ConflictError(`${what} already exists`, { cause: failure.cause });
  }

  /** Every cluster, ordered by name. */
  async list(): Promise<ClusterRecord[]> {
    const items = await this.ddb.queryAll({
      TableName: this.table,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': CLUSTER },
      ConsistentRead: true,
    });
    return items
      .map((item) => parseItem(ClusterItem, item, this.table))
      .sort((a, b) => (a.nameKey < b.nameKey ? -1 : a.nameKey > b.nameKey ? 1 : 0))
      .map((item) => this.toRecord(item));
  }

  /** The cluster with this id, or null. */
  async get(id: string): Promise<ClusterRecord | null> {
    const item = await this.read(id);
    return item === null ? null : this.toRecord(item);
  }

  /** The cluster with this name (case-insensitive), through its name lock. */
  async getByName(name: string): Promise<ClusterRecord | null> {
    const lock = await this.ddb.get(this.table, lockKey(name.toLowerCase()), ['clusterId']);
    if (lock === undefined) return null;
    return this.get(parseItem(LockItem, lock, this.table).clusterId);
  }

  /** The cluster whose webhook token hashes to `tokenHash`: one point read. */
  async findByTokenHash(tokenHash: string): Promise<ClusterRecord | null> {
    const item = await this.ddb.get(this.table, tokenKey(tokenHash));
    if (item === undefined) return null;
    const token = parseItem(TokenItem, item, this.table);
    return { ...unpackDoc(token, ClusterSchema, this.table), tokenHash };
  }

  /**
   * Swaps the token item and updates the cluster in one transaction, conditioned on the hash
   * we read, so a concurrent rotation is retried rather than leaving a stray token behind.
   */
  async setTokenHash(id: string, tokenHash: string, rotatedAt: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.read(id);
      if (current === null) throw new NotFoundError(`cluster ${id} not found`);
      const doc: Cluster = { ...this.toDoc(current), tokenRotatedAt: rotatedAt };
      const json = JSON.stringify(doc);
      const items: TransactItem[] = [
        {
          Put: {
            TableName: this.table,
            Item: { ...clusterKey(id), nameKey: current.nameKey, tokenHash, doc: json },
            ConditionExpression: 'tokenHash = :old',
            ExpressionAttributeValues: { ':old': current.tokenHash },
          },
        },
        {
          Put: {
            TableName: this.table,
            Item: { ...tokenKey(tokenHash), clusterId: id, doc: json },
            ConditionExpression: 'attribute_not_exists(pk) OR clusterId = :id',
            ExpressionAttributeValues: { ':id': id },
          },
        },
      ];
      if (current.tokenHash !== tokenHash) items.push(this.release(tokenKey(current.tokenHash), id));
      const failure = await this.ddb.transact(items);
      if (failure === null) return;
      if (failure.failed.includes(1)) {
        throw new ConflictError('another cluster has this token', { cause: failure.cause });
      }
      if (attempt >= ATTEMPTS)
        throw new ConflictError(`cluster ${id} keeps changing`, { cause: failure.cause });
    }
  }

  /** Deletes the cluster with its name lock and token item; NotFoundError when it is gone. */
  async delete(id: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.read(id);
      if (current === null) throw new NotFoundError(`cluster ${id} not found`);
      const failure = await this.ddb.transact([
        {
          Delete: {
            TableName: this.table,
            Key: clusterKey(id),
            ConditionExpression: 'tokenHash = :hash',
            ExpressionAttributeValues: { ':hash': current.tokenHash },
          },
        },
        this.release(lockKey(current.nameKey), id),
        this.release(tokenKey(current.tokenHash), id),
      ]);
      if (failure === null) return;
      if (attempt >= ATTEMPTS)
        throw new ConflictError(`cluster ${id} keeps changing`, { cause: failure.cause });
    }
  }

  private put(item: Record<string, unknown> & Key): TransactItem {
    return { Put: { TableName: this.table, Item: item, ConditionExpression: 'attribute_not_exists(pk)' } };
  }

  /** Deletes a lock or token item unless it belongs to another cluster. */
  private release(key: Key, clusterId: string): TransactItem {
    return {
      Delete: {
        TableName: this.table,
        Key: key,
        ConditionExpression: 'attribute_not_exists(pk) OR clusterId = :id',
        ExpressionAttributeValues: { ':id': clusterId },
      },
    };
  }

  private async read(id: string): Promise<ClusterItem | null> {
    const item = await this.ddb.get(this.table, clusterKey(id));
    return item === undefined ? null : parseItem(ClusterItem, item, this.table);
  }

  private toDoc(item: ClusterItem): Cluster {
    return unpackDoc(item, ClusterSchema, this.table);
  }

  private toRecord(item: ClusterItem): ClusterRecord {
    return { ...this.toDoc(item), tokenHash: item.tokenHash };
  }
}
