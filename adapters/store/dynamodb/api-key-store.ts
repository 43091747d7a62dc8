/**
 * API keys in DynamoDB's records table. The key item is keyed by the key's hash (`APIKEY`
 * partition, sort key = hash) because every authenticated request looks it up by hash; a
 * small `APIKEYID` item maps the id to the hash for deletion and `touch`.
 */
import { z } from 'zod';
import { type ApiKeyRecord, ApiKeySchema } from '../../../core/domain.js';
import { ConflictError, NotFoundError } from '../../../core/errors.js';
import type { ApiKeyStore } from '../../../core/ports.js';
import { parseItem, unpackDoc } from './codec.js';
import type { Ddb, Key } from './ddb.js';

const API_KEY = 'APIKEY';
const API_KEY_ID = 'APIKEYID';

const KeyItem = z.object({
  sk: z.string(),
  id: z.string(),
  createdAt: z.string(),
  lastUsedAt: z.string().optional(),
  doc: z.string(),
});
type KeyItem = z.infer<typeof KeyItem>;
const IdItem = z.object({ keyHash: z.string() });

const keyKey = (hash: string): Key => ({ pk: API_KEY, sk: hash });
const idKey = (id: string): Key => ({ pk: API_KEY_ID, sk: id });

const DocSchema = ApiKeySchema.omit({ lastUsedAt: true });

/** The `ApiKeyStore` port over the records table. */
export class DynamoDbApiKeyStore implements ApiKeyStore {
  constructor(
    private readonly ddb: Ddb,
    private readonly table: string,
  ) {}

  /** Puts the key and its id item in one transaction; ConflictError when either exists. */
  async create(key: ApiKeyRecord): Promise<void> {
    const { keyHash, lastUsedAt, ...doc } = key;
    const failure = await this.ddb.transact([
      {
        Put: {
          TableName: this.table,
          Item: {
            ...keyKey(keyHash),
            id: key.id,
            createdAt: key.createdAt,
            lastUsedAt,
            doc: JSON.stringify(doc),
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
      {
        Put: {
          TableName: this.table,
          Item: { ...idKey(key.id), keyHash },
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
    ]);
    if (failure !== null)
      throw new ConflictError(`API key ${key.id} already exists`, { cause: failure.cause });
  }

  /** Every key, oldest first. */
  async list(): Promise<ApiKeyRecord[]> {
    const items = await this.ddb.queryAll({
      TableName: this.table,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': API_KEY },
      ConsistentRead: true,
    });
    return items
      .map((item) => parseItem(KeyItem, item, this.table))
      .sort((a, b) =>
        a.createdAt < b.createdAt
          ? -1
          : a.createdAt > b.createdAt
            ? 1
            : a.id < b.id
              ? -1
              : a.id > b.id
                ? 1
                : 0,
      )
      .map((item) => this.toRecord(item));
  }

  /** The key whose SHA-256 is `keyHash`: one point read. */
  async findByHash(keyHash: string): Promise<ApiKeyRecord | null> {
    const item = await this.ddb.get(this.table, keyKey(keyHash));
    return item === undefined ? null : this.toRecord(parseItem(KeyItem, item, this.table));
  }

  /** Revokes a key; NotFoundError when it is gone. */
  async delete(id: string): Promise<void> {
    const hash = await this.hashOf(id);
    if (hash === null) throw new NotFoundError(`API key ${id} not found`);
    const failure = await this.ddb.transact([
      { Delete: { TableName: this.table, Key: idKey(id), ConditionExpression: 'attribute_exists(pk)' } },
      { Delete: { TableName: this.table, Key: keyKey(hash) } },
    ]);
    if (failure !== null) throw new NotFoundError(`API key ${id} not found`, { cause: failure.cause });
  }

  /** Records a use of the key; a key deleted meanwhile is ignored (the request already passed). */
  async touch(id: string, usedAt: string): Promise<void> {
    const hash = await this.hashOf(id);
    if (hash === null) return;
    await this.ddb.update(
      this.table,
      keyKey(hash),
      { expression: 'SET lastUsedAt = :at', values: { ':at': usedAt } },
      { expression: 'attribute_exists(pk)' },
    );
  }

  private async hashOf(id: string): Promise<string | null> {
    const item = await this.ddb.get(this.table, idKey(id), ['keyHash']);
    return item === undefined ? null : parseItem(IdItem, item, this.table).keyHash;
  }

  private toRecord(item: KeyItem): ApiKeyRecord {
    const doc = unpackDoc(item, DocSchema, this.table);
    const record: ApiKeyRecord = { ...doc, keyHash: item.sk };
    if (item.lastUsedAt !== undefined) record.lastUsedAt = item.lastUsedAt;
    return record;
  }
}
