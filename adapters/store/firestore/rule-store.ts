/**
 * Security rules in Firestore: `rules/{id}` holds the rule, and `ruleNames/{lower-cased name}`
 * is a name lock written in the same atomic commit, so two rules can never share a name, even
 * when created or renamed at the same moment.
 *
 * Compare-and-set is optimistic: a write carries the `updateTime` the rule was read at as its
 * precondition, so of two writers at the same version exactly one commits and the other gets
 * FAILED_PRECONDITION -> VersionConflictError. Unlike a read-write transaction this takes no
 * locks, so racing admins cost one round trip each instead of lock waits and retries.
 */
import type { DocumentSnapshot } from '@google-cloud/firestore';
import { z } from 'zod';
import { type Rule, RuleSchema } from '../../../core/domain.js';
import { ConflictError, NotFoundError, VersionConflictError } from '../../../core/errors.js';
import type { RuleStore } from '../../../core/ports.js';
import { Code, docId, type FirestoreContext, grpcCode, parseDoc, plain, translateError } from './client.js';
import { buildQuery, RULE_BY_NAME_SHAPE } from './query-shapes.js';

const RuleDoc = z.object({ nameKey: z.string(), version: z.string(), doc: RuleSchema });

/** Attempts of a delete without a version when the rule keeps changing underneath it. */
const DELETE_ATTEMPTS = 5;

/** The `RuleStore` port over `rules` and `ruleNames`. */
export class FirestoreRuleStore implements RuleStore {
  constructor(private readonly ctx: FirestoreContext) {}

  /** Every rule, ordered by name (case-insensitively); the rules collection holds nothing else. */
  async list(): Promise<Rule[]> {
    const snap = await this.ctx.call('rules.list', () => this.ctx.col('rules').get());
    return snap.docs
      .map((d) => parseDoc(RuleDoc, d.data(), d.ref.path))
      .sort((a, b) => compare(a.nameKey, b.nameKey) || compare(a.doc.name, b.doc.name))
      .map((r) => r.doc);
  }

  /** The rule with this id, or null. */
  async get(id: string): Promise<Rule | null> {
    const snap = await this.read(id);
    return snap.exists ? this.parse(snap).doc : null;
  }

  /** The rule with this name compared case-insensitively, or null. */
  async getByName(name: string): Promise<Rule | null> {
    const query = buildQuery(this.ctx.col('rules'), RULE_BY_NAME_SHAPE, { nameKey: name.toLowerCase() });
    const snap = await this.ctx.call('rules.getByName', () => query.limit(1).get());
    const doc = snap.docs[0];
    return doc === undefined ? null : parseDoc(RuleDoc, doc.data(), doc.ref.path).doc;
  }

  /** Creates the rule and its name lock atomically; ConflictError when the id or name is taken. */
  async create(rule: Rule): Promise<void> {
    const nameKey = rule.name.toLowerCase();
    const batch = this.ctx.db.batch();
    batch.create(this.ref(rule.id), this.toDoc(rule));
    batch.create(this.nameRef(nameKey), { ruleId: rule.id });
    await this.ctx.call('rules.create', () => batch.commit(), { conflict: `a rule named "${rule.name}"` });
  }

  /** Compare-and-set on the stored version; see `RuleStore.update` for the errors. */
  async update(rule: Rule, expectedVersion: string): Promise<void> {
    const snap = await this.read(rule.id);
    if (!snap.exists) throw new NotFoundError(`rule ${rule.id} not found`);
    const stored = this.parse(snap);
    if (stored.version !== expectedVersion) throw this.stale(rule.id, expectedVersion);
    const nameKey = rule.name.toLowerCase();
    const batch = this.ctx.db.batch();
    batch.update(this.ref(rule.id), this.toDoc(rule), { lastUpdateTime: snap.updateTime! });
    if (nameKey !== stored.nameKey) {
      batch.create(this.nameRef(nameKey), { ruleId: rule.id });
      batch.delete(this.nameRef(stored.nameKey));
    }
    try {
      await this.ctx.timed('rules.update', () => batch.commit());
    } catch (e) {
      await this.explainFailedWrite(e, rule.id, expectedVersion, `a rule named "${rule.name}"`);
    }
  }

  /** Deletes a rule and its name lock, only at `expectedVersion` when given. */
  async delete(id: string, expectedVersion?: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const snap = await this.read(id);
      if (!snap.exists) throw new NotFoundError(`rule ${id} not found`);
      const stored = this.parse(snap);
      if (expectedVersion !== undefined && stored.version !== expectedVersion) {
        throw this.stale(id, expectedVersion);
      }
      const batch = this.ctx.db.batch();
      // The precondition makes sure the name lock deleted is the one the rule holds now.
      batch.delete(this.ref(id), { lastUpdateTime: snap.updateTime! });
      batch.delete(this.nameRef(stored.nameKey));
      try {
        await this.ctx.timed('rules.delete', () => batch.commit());
        return;
      } catch (e) {
        const changed = grpcCode(e) === Code.FAILED_PRECONDITION;
        // Without a version to hold to, a rule edited meanwhile is simply deleted at its new state.
        if (!changed || expectedVersion !== undefined || attempt >= DELETE_ATTEMPTS) {
          await this.explainFailedWrite(e, id, expectedVersion ?? stored.version, `rule ${id}`);
        }
      }
    }
  }

  /**
   * A conditional commit failed: re-read to tell a rule that is gone (NotFoundError) from one
   * that moved on (VersionConflictError) from a name taken by another rule (ConflictError).
   */
  private async explainFailedWrite(
    e: unknown,
    id: string,
    expectedVersion: string,
    conflict: string,
  ): Promise<never> {
    const code = grpcCode(e);
    if (code === Code.FAILED_PRECONDITION || code === Code.NOT_FOUND || code === Code.ALREADY_EXISTS) {
      const now = await this.read(id);
      if (!now.exists) throw new NotFoundError(`rule ${id} not found`, { cause: e });
      if (code !== Code.ALREADY_EXISTS || this.parse(now).version !== expectedVersion) {
        throw this.stale(id, expectedVersion, e);
      }
      throw new ConflictError(`${conflict} already exists`, { cause: e });
    }
    translateError(e);
  }

  private stale(id: string, expectedVersion: string, cause?: unknown): VersionConflictError {
    return new VersionConflictError(`rule ${id} is no longer at version ${expectedVersion}`, { cause });
  }

  private read(id: string): Promise<DocumentSnapshot> {
    return this.ctx.call('rules.get', () => this.ref(id).get());
  }

  private parse(snap: DocumentSnapshot): z.infer<typeof RuleDoc> {
    return parseDoc(RuleDoc, snap.data(), snap.ref.path);
  }

  private toDoc(rule: Rule) {
    return { nameKey: rule.name.toLowerCase(), version: rule.version, doc: plain(rule) };
  }

  private ref(id: string) {
    return this.ctx.col('rules').doc(docId(id));
  }

  private nameRef(nameKey: string) {
    return this.ctx.col('ruleNames').doc(docId(nameKey));
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
