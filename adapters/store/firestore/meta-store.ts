/** Portcullis' own key/value state (seeding markers, job checkpoints) in Firestore `meta/{key}`. */
import { z } from 'zod';
import type { MetaStore } from '../../../core/ports.js';
import { Code, docId, type FirestoreContext, grpcCode, parseDoc, translateError } from './client.js';

const ValueDoc = z.object({ value: z.string() });

/** The `MetaStore` port over the `meta` collection. */
export class FirestoreMetaStore implements MetaStore {
  constructor(private readonly ctx: FirestoreContext) {}

  /** The value of `key`, or null. */
  async get(key: string): Promise<string | null> {
    const snap = await this.ctx.call('meta.get', () => this.ref(key).get());
    return snap.exists ? parseDoc(ValueDoc, snap.data(), snap.ref.path).value : null;
  }

  /** Sets `key` only when absent (a `create`, which exactly one racing writer wins); true when set. */
  async setIfAbsent(key: string, value: string): Promise<boolean> {
    try {
      await this.ctx.timed('meta.setIfAbsent', () => this.ref(key).create({ value }));
      return true;
    } catch (e) {
      if (grpcCode(e) === Code.ALREADY_EXISTS) return false;
      translateError(e);
    }
  }

  /** Sets `key`, replacing any value. */
  async set(key: string, value: string): Promise<void> {
    await this.ctx.call('meta.set', () => this.ref(key).set({ value }));
  }

  private ref(key: string) {
    return this.ctx.col('meta').doc(docId(key));
  }
}
