/**
 * API keys in Cosmos DB. Key documents share the logical partition 'apikey' (the listing);
 * each key hash has a one-document partition mapping it to its key, so authenticating a
 * request is two point reads. The key document is the authority: a hash document whose key
 * is gone or carries another hash matches nothing.
 */
import type { Container } from '@azure/cosmos';
import { z } from 'zod';
import { type ApiKeyRecord, ApiKeySchema } from '../../../core/domain.js';
import { NotFoundError } from '../../../core/errors.js';
import type { ApiKeyStore } from '../../../core/ports.js';
import { docId, errorCode, guard, parseDoc, queryDocs, readDoc, sql, translateError } from './support.js';

const PK = 'apikey';
const hashPk = (hash: string) => `hash|${hash}`;

const KeyDoc = z.object({
  keyHash: z.string(),
  lastUsedAt: z.string().optional(),
  key: ApiKeySchema.omit({ lastUsedAt: true }),
});
type KeyDoc = z.infer<typeof KeyDoc>;
const HashDoc = z.object({ keyId: z.string() });

function toRecord(doc: KeyDoc): ApiKeyRecord {
  const record: ApiKeyRecord = { ...doc.key, keyHash: doc.keyHash };
  if (doc.lastUsedAt !== undefined) record.lastUsedAt = doc.lastUsedAt;
  return record;
}

/** The `ApiKeyStore` port over the `api-keys` container. */
export class CosmosApiKeyStore implements ApiKeyStore {
  constructor(private readonly container: Container) {}

  /** Stores a new key (its hash document first); ConflictError when its id or hash exists. */
  async create(record: ApiKeyRecord): Promise<void> {
    const { keyHash, lastUsedAt, ...key } = record;
    const conflict = `API key ${record.id} already exists`;
    await guard(
      () => this.container.items.create({ id: docId(keyHash), pk: hashPk(keyHash), keyId: record.id }),
      { conflict },
    );
    const doc = {
      id: docId(record.id),
      pk: PK,
      keyId: record.id,
      createdAt: record.createdAt,
      keyHash,
      ...(lastUsedAt === undefined ? {} : { lastUsedAt }),
      key,
    };
    try {
      await guard(() => this.container.items.create(doc), { conflict });
    } catch (e) {
      await this.dropHash(keyHash);
      throw e;
    }
  }

  /** Every key, oldest first. */
  async list(): Promise<ApiKeyRecord[]> {
    const docs = await queryDocs(
      this.container,
      sql('SELECT c.keyHash, c.lastUsedAt, c.key FROM c WHERE c.pk = @pk ORDER BY c.createdAt, c.keyId', {
        pk: PK,
      }),
      { partitionKey: PK },
    );
    return docs.map((d) => toRecord(parseDoc(KeyDoc, d, this.container.id)));
  }

  /** The key whose SHA-256 is `keyHash` (two point reads), or null. */
  async findByHash(keyHash: string): Promise<ApiKeyRecord | null> {
    const hash = await readDoc(this.container, docId(keyHash), hashPk(keyHash));
    if (hash === null) return null;
    const key = await this.read(parseDoc(HashDoc, hash.doc, this.container.id).keyId);
    return key !== null && key.keyHash === keyHash ? toRecord(key) : null;
  }

  /** Revokes a key: the key document first, so the key stops working at once. */
  async delete(id: string): Promise<void> {
    const current = await this.read(id);
    if (current === null) throw new NotFoundError(`API key ${id} not found`);
    await guard(() => this.container.item(docId(id), PK).delete(), { notFound: `API key ${id} not found` });
    await this.dropHash(current.keyHash);
  }

  /** Records a use with a one-field patch; a key deleted meanwhile is ignored. */
  async touch(id: string, usedAt: string): Promise<void> {
    try {
      await this.container.item(docId(id), PK).patch([{ op: 'set', path: '/lastUsedAt', value: usedAt }]);
    } catch (e) {
      if (errorCode(e) === 404) return;
      translateError(e);
    }
  }

  /** Best effort: a hash document left behind matches nothing (see findByHash). */
  private async dropHash(keyHash: string): Promise<void> {
    try {
      await this.container.item(docId(keyHash), hashPk(keyHash)).delete();
    } catch {
      // Never a match on its own.
    }
  }

  private async read(id: string): Promise<KeyDoc | null> {
    const found = await readDoc(this.container, docId(id), PK);
    return found === null ? null : parseDoc(KeyDoc, found.doc, this.container.id);
  }
}
