/**
 * API keys in Firestore, keyed by the key's SHA-256 so that authenticating a request is one
 * point read: `apiKeys/{hash}` holds the key, `apiKeyIds/{id}` maps the id back to the hash
 * (and keeps ids unique). The last use is a field of its own, so `touch` rewrites nothing else.
 */
import { z } from 'zod';
import { type ApiKeyRecord, ApiKeySchema } from '../../../core/domain.js';
import { NotFoundError } from '../../../core/errors.js';
import type { ApiKeyStore } from '../../../core/ports.js';
import { Code, docId, type FirestoreContext, grpcCode, parseDoc, plain, translateError } from './client.js';

const KeyDoc = z.object({
  keyHash: z.string(),
  createdAt: z.string(),
  lastUsedAt: z.string().optional(),
  doc: ApiKeySchema.omit({ lastUsedAt: true }),
});
type KeyDoc = z.infer<typeof KeyDoc>;
const IdDoc = z.object({ keyHash: z.string() });

function toRecord({ keyHash, lastUsedAt, doc }: KeyDoc): ApiKeyRecord {
  return lastUsedAt === undefined ? { ...doc, keyHash } : { ...doc, keyHash, lastUsedAt };
}

/** The `ApiKeyStore` port over `apiKeys` and `apiKeyIds`. */
export class FirestoreApiKeyStore implements ApiKeyStore {
  constructor(private readonly ctx: FirestoreContext) {}

  /** Stores a new key; ConflictError when its id or hash exists already. */
  async create(key: ApiKeyRecord): Promise<void> {
    const { keyHash, lastUsedAt, ...doc } = key;
    const stored: Record<string, unknown> = { keyHash, createdAt: key.createdAt, doc: plain(doc) };
    if (lastUsedAt !== undefined) stored.lastUsedAt = lastUsedAt;
    const batch = this.ctx.db.batch();
    batch.create(this.keyRef(keyHash), stored);
    batch.create(this.idRef(key.id), { keyHash });
    await this.ctx.call('apiKeys.create', () => batch.commit(), { conflict: `API key ${key.id}` });
  }

  /** Every key, oldest first; the collection holds nothing else. */
  async list(): Promise<ApiKeyRecord[]> {
    const snap = await this.ctx.call('apiKeys.list', () => this.ctx.col('apiKeys').get());
    return snap.docs
      .map((d) => parseDoc(KeyDoc, d.data(), d.ref.path))
      .sort((a, b) => compare(a.createdAt, b.createdAt) || compare(a.doc.id, b.doc.id))
      .map(toRecord);
  }

  /** The key whose SHA-256 is `keyHash`, or null: one point read. */
  async findByHash(keyHash: string): Promise<ApiKeyRecord | null> {
    const snap = await this.ctx.call('apiKeys.findByHash', () => this.keyRef(keyHash).get());
    return snap.exists ? toRecord(parseDoc(KeyDoc, snap.data(), snap.ref.path)) : null;
  }

  /** Revokes a key; NotFoundError when it is gone (also when a concurrent delete won). */
  async delete(id: string): Promise<void> {
    const keyHash = await this.hashOf(id);
    if (keyHash === null) throw new NotFoundError(`API key ${id} not found`);
    const batch = this.ctx.db.batch();
    batch.delete(this.idRef(id), { exists: true });
    batch.delete(this.keyRef(keyHash));
    try {
      await this.ctx.timed('apiKeys.delete', () => batch.commit());
    } catch (e) {
      const code = grpcCode(e);
      if (code === Code.NOT_FOUND || code === Code.FAILED_PRECONDITION) {
        throw new NotFoundError(`API key ${id} not found`, { cause: e });
      }
      translateError(e);
    }
  }

  /** Records a use of the key; a key deleted meanwhile is ignored (the request already passed). */
  async touch(id: string, usedAt: string): Promise<void> {
    const keyHash = await this.hashOf(id);
    if (keyHash === null) return;
    try {
      await this.ctx.timed('apiKeys.touch', () => this.keyRef(keyHash).update({ lastUsedAt: usedAt }));
    } catch (e) {
      if (grpcCode(e) !== Code.NOT_FOUND) translateError(e);
    }
  }

  private async hashOf(id: string): Promise<string | null> {
    const snap = await this.ctx.call('apiKeys.byId', () => this.idRef(id).get());
    return snap.exists ? parseDoc(IdDoc, snap.data(), snap.ref.path).keyHash : null;
  }

  private keyRef(keyHash: string) {
    return this.ctx.col('apiKeys').doc(docId(keyHash));
  }

  private idRef(id: string) {
    return this.ctx.col('apiKeyIds').doc(docId(id));
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
