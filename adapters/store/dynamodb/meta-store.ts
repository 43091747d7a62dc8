/** Portcullis' own key/value state (seeding markers, job checkpoints) in the records table. */
import { z } from 'zod';
import type { MetaStore } from '../../../core/ports.js';
import { parseItem } from './codec.js';
import type { Ddb, Key } from './ddb.js';

const META = 'META';
const ValueItem = z.object({ value: z.string() });
const metaKey = (key: string): Key => ({ pk: META, sk: key });

/** The `MetaStore` port over the `META` partition of the records table. */
export class DynamoDbMetaStore implements MetaStore {
  constructor(
    private readonly ddb: Ddb,
    private readonly table: string,
  ) {}

  /** The value of `key`, or null. */
  async get(key: string): Promise<string | null> {
    const item = await this.ddb.get(this.table, metaKey(key), ['value']);
    return item === undefined ? null : parseItem(ValueItem, item, this.table).value;
  }

  /** Sets `key` only when absent (a conditional put); true when this call set it. */
  async setIfAbsent(key: string, value: string): Promise<boolean> {
    const failure = await this.ddb.put(
      this.table,
      { ...metaKey(key), value },
      { expression: 'attribute_not_exists(pk)' },
    );
    return failure === null;
  }

  /** Sets `key`, replacing any value. */
  async set(key: string, value: string): Promise<void> {
    await this.ddb.put(this.table, { ...metaKey(key), value });
  }
}
