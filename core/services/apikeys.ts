/** API keys for the admin API: a role each, shown once, stored as SHA-256. */
import { TtlCache } from '../cache.js';
import { type ApiKey, ApiKeyInputSchema, type ApiKeyRecord, type Role } from '../domain.js';
import type { ApiKeyStore, Clock, Logger } from '../ports.js';
import { hashSecret, newId, newSecret } from '../secrets.js';
import { parseInput } from '../validation.js';

export interface Principal {
  id: string;
  name: string;
  role: Role;
}

export class ApiKeyService {
  private readonly byKey: TtlCache<string, ApiKeyRecord | null>;

  constructor(
    private readonly store: ApiKeyStore,
    private readonly clock: Clock,
    private readonly logger: Logger,
    cacheTtlMs: number,
  ) {
    this.byKey = new TtlCache(cacheTtlMs, 1000, clock);
  }

  /** Creates a key; the returned `key` is the only time it is shown. */
  async create(body: unknown, actor: string): Promise<ApiKey & { key: string }> {
    const input = parseInput(ApiKeyInputSchema, body, 'API key');
    return this.issue(input.name, input.role, actor, newSecret('pck_'));
  }

  /**
   * Makes sure a given key exists (the bootstrap admin key from the environment).
   * Returns false when it was already there.
   */
  async ensure(key: string, name: string, role: Role): Promise<boolean> {
    if ((await this.store.findByHash(await hashSecret(key))) !== null) return false;
    await this.issue(name, role, 'system', key);
    return true;
  }

  async list(): Promise<ApiKey[]> {
    return (await this.store.list()).map(publicKey);
  }

  async delete(id: string, actor: string): Promise<void> {
    await this.store.delete(id);
    this.byKey.clear();
    this.logger.info('API key deleted', { id, actor });
  }

  /** The principal a bearer key belongs to, or null. */
  async authenticate(key: string): Promise<Principal | null> {
    if (key.length < 16 || key.length > 256) return null;
    const record = await this.byKey.getOrLoad(key, async () => this.store.findByHash(await hashSecret(key)));
    return record === null ? null : { id: record.id, name: record.name, role: record.role };
  }

  private async issue(
    name: string,
    role: Role,
    actor: string,
    key: string,
  ): Promise<ApiKey & { key: string }> {
    const record: ApiKeyRecord = {
      id: newId(),
      name,
      role,
      prefix: key.slice(0, 8),
      createdAt: this.clock.now().toISOString(),
      createdBy: actor,
      keyHash: await hashSecret(key),
    };
    await this.store.create(record);
    this.byKey.clear();
    this.logger.info('API key created', { id: record.id, name, role, actor });
    return { ...publicKey(record), key };
  }
}

function publicKey(record: ApiKeyRecord): ApiKey {
  const { keyHash: _hash, ...key } = record;
  return key;
}
