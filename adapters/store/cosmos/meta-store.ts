/** Portcullis' own key/value state (seeding markers, job checkpoints) in Cosmos DB. */
import type { Container } from '@azure/cosmos';
import { z } from 'zod';
import type { MetaStore } from '../../../core/ports.js';
import { docId, errorCode, guard, parseDoc, readDoc, translateError } from './support.js';

const MetaDoc = z.object({ value: z.string() });

/** The `MetaStore` port over the `meta` container: one logical partition per key. */
export class CosmosMetaStore implements MetaStore {
  constructor(private readonly container: Container) {}

  /** The value of `key` (a point read), or null. */
  async get(key: string): Promise<string | null> {
    const id = docId(key);
    const found = await readDoc(this.container, id, id);
    return found === null ? null : parseDoc(MetaDoc, found.doc, this.container.id).value;
  }

  /** Sets `key` only when absent (a create, which Cosmos DB refuses with 409 when it exists). */
  async setIfAbsent(key: string, value: string): Promise<boolean> {
    const id = docId(key);
    try {
      await this.container.items.create({ id, pk: id, key, value });
      return true;
    } catch (e) {
      if (errorCode(e) === 409) return false;
      translateError(e);
    }
  }

  /** Sets `key`, replacing any value. */
  async set(key: string, value: string): Promise<void> {
    const id = docId(key);
    await guard(() => this.container.items.upsert({ id, pk: id, key, value }));
  }
}
