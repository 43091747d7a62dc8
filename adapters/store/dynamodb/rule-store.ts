/**
 * Security rules in DynamoDB's records table. A rule is one item in the `RULE` partition; its
 * lower-cased name is a separate lock item in `RULENAME`, written in the same transaction, so
 * two writers can never both take a name, whatever the race.
 */
import { z } from 'zod';
import { type Rule, RuleSchema } from '../../../core/domain.js';
import { ConflictError, NotFoundError, VersionConflictError } from '../../../core/errors.js';
import type { RuleStore } from '../../../core/ports.js';
import { PackedDocFields, packDoc, parseItem, unpackDoc } from './codec.js';
import type { ConditionFailure, Ddb, Key, TransactItem } from './ddb.js';

const RULE = 'RULE';
const RULE_NAME = 'RULENAME';

const RuleItem = z.object({ sk: z.string(), version: z.string(), nameKey: z.string(), ...PackedDocFields });
type RuleItem = z.infer<typeof RuleItem>;

const ruleKey = (id: string): Key => ({ pk: RULE, sk: id });
const lockKey = (nameKey: string): Key => ({ pk: RULE_NAME, sk: nameKey });
const nameKeyOf = (name: string) => name.toLowerCase();

/** Attempts at an update or delete that keeps meeting a concurrent writer. */
const ATTEMPTS = 5;

/** The `RuleStore` port over the records table. */
export class DynamoDbRuleStore implements RuleStore {
  constructor(
    private readonly ddb: Ddb,
    private readonly table: string,
  ) {}

  /** Every rule, ordered by name case-insensitively: one query of the `RULE` partition. */
  async list(): Promise<Rule[]> {
    const items = await this.ddb.queryAll({
      TableName: this.table,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': RULE },
      ConsistentRead: true,
    });
    const rules = items.map((item) => this.toRule(parseItem(RuleItem, item, this.table)));
    const key = (r: Rule) => r.name.toLowerCase();
    return rules.sort((a, b) =>
      key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
  }

  /** The rule with this id, or null. */
  async get(id: string): Promise<Rule | null> {
    const item = await this.read(id);
    return item === null ? null : this.toRule(item);
  }

  /** The rule with this name (case-insensitive), through its name lock. */
  async getByName(name: string): Promise<Rule | null> {
    const lock = await this.ddb.get(this.table, lockKey(nameKeyOf(name)), ['ruleId']);
    if (lock === undefined) return null;
    const { ruleId } = parseItem(z.object({ ruleId: z.string() }), lock, this.table);
    const item = await this.read(ruleId);
    return item !== null && item.nameKey === nameKeyOf(name) ? this.toRule(item) : null;
  }

  /** Puts the rule and its name lock in one transaction; ConflictError when either exists. */
  async create(rule: Rule): Promise<void> {
    const nameKey = nameKeyOf(rule.name);
    const failure = await this.ddb.transact([
      this.putRule(rule, { expression: 'attribute_not_exists(pk)' }),
      this.putLock(nameKey, rule),
    ]);
    if (failure === null) return;
    const what = failure.failed.includes(1) ? `a rule named "${rule.name}"` : `a rule with id ${rule.id}`;
    throw new ConflictError(`${what} already exists`, { cause: failure.cause });
  }

  /**
   * Replaces the rule on condition that its version is `expectedVersion`; a rename takes the
   * new name's lock and releases the old one in the same transaction.
   */
  async update(rule: Rule, expectedVersion: string): Promise<void> {
    const current = await this.read(rule.id);
    if (current === null) throw new NotFoundError(`rule ${rule.id} not found`);
    if (current.version !== expectedVersion) {
      throw new VersionConflictError(`rule ${rule.id} is no longer at version ${expectedVersion}`);
    }
    const nameKey = nameKeyOf(rule.name);
    const items: TransactItem[] = [
      this.putRule(rule, {
        expression: 'version = :expected',
        values: { ':expected': expectedVersion },
      }),
    ];
    if (nameKey !== current.nameKey)
      items.push(this.putLock(nameKey, rule), this.releaseLock(current.nameKey, rule.id));
    const failure = await this.ddb.transact(items);
    if (failure === null) return;
    if (failure.failed.includes(0)) await this.missOrConflict(rule.id, expectedVersion, failure);
    throw new ConflictError(`a rule named "${rule.name}" already exists`, { cause: failure.cause });
  }

  /** Deletes the rule and its name lock; only at `expectedVersion` when one is given. */
  async delete(id: string, expectedVersion?: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.read(id);
      if (current === null) throw new NotFoundError(`rule ${id} not found`);
      if (expectedVersion !== undefined && current.version !== expectedVersion) {
        throw new VersionConflictError(`rule ${id} is no longer at version ${expectedVersion}`);
      }
      const failure = await this.ddb.transact([
        {
          Delete: {
            TableName: this.table,
            Key: ruleKey(id),
            ConditionExpression: 'version = :version',
            ExpressionAttributeValues: { ':version': current.version },
          },
        },
        this.releaseLock(current.nameKey, id),
      ]);
      if (failure === null) return;
      // Changed since we read it: a versioned delete has lost; an unversioned one tries again.
      if (expectedVersion !== undefined || attempt >= ATTEMPTS) {
        await this.missOrConflict(id, expectedVersion ?? current.version, failure);
      }
    }
  }

  private async read(id: string): Promise<RuleItem | null> {
    const item = await this.ddb.get(this.table, ruleKey(id));
    return item === undefined ? null : parseItem(RuleItem, item, this.table);
  }

  private toRule(item: RuleItem): Rule {
    return unpackDoc(item, RuleSchema, this.table);
  }

  private putRule(rule: Rule, cond: { expression: string; values?: Record<string, unknown> }): TransactItem {
    return {
      Put: {
        TableName: this.table,
        Item: {
          ...ruleKey(rule.id),
          version: rule.version,
          nameKey: nameKeyOf(rule.name),
          ...packDoc(rule, `rule "${rule.name}"`),
        },
        ConditionExpression: cond.expression,
        ...(cond.values === undefined ? {} : { ExpressionAttributeValues: cond.values }),
      },
    };
  }

  private putLock(nameKey: string, rule: Rule): TransactItem {
    return {
      Put: {
        TableName: this.table,
        Item: { ...lockKey(nameKey), ruleId: rule.id },
        ConditionExpression: 'attribute_not_exists(pk)',
      },
    };
  }

  /** Deletes a name lock, unless it belongs to another rule. */
  private releaseLock(nameKey: string, ruleId: string): TransactItem {
    return {
      Delete: {
        TableName: this.table,
        Key: lockKey(nameKey),
        ConditionExpression: 'attribute_not_exists(pk) OR ruleId = :id',
        ExpressionAttributeValues: { ':id': ruleId },
      },
    };
  }

  /** A versioned write failed on the rule item: say whether it is gone or moved on. */
  private async missOrConflict(id: string, expected: string, failure: ConditionFailure): Promise<never> {
    const now = await this.read(id);
    if (now === null) throw new NotFoundError(`rule ${id} not found`, { cause: failure.cause });
    throw new VersionConflictError(`rule ${id} is no longer at version ${expected}`, {
      cause: failure.cause,
    });
  }
}
