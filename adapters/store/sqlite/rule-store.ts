/**
 * Security rules in SQLite: the whole rule as a JSON document, with id, name and version as
 * columns so that name uniqueness and compare-and-set on the version are enforced by SQLite.
 */
import { z } from 'zod';
import { type Rule, RuleSchema } from '../../../core/domain.js';
import { NotFoundError, VersionConflictError } from '../../../core/errors.js';
import type { RuleStore } from '../../../core/ports.js';
import { type Db, guard, jsonColumn, parseRow } from './database.js';

const RuleRow = z.object({ doc: jsonColumn(RuleSchema) });

/** The `RuleStore` port over the `rules` table. */
export class SqliteRuleStore implements RuleStore {
  private readonly stmts;

  constructor(db: Db) {
    this.stmts = {
      list: db.prepare('SELECT doc FROM rules ORDER BY lower(name), name'),
      get: db.prepare('SELECT doc FROM rules WHERE id = ?'),
      getByName: db.prepare('SELECT doc FROM rules WHERE lower(name) = lower(?)'),
      exists: db.prepare('SELECT 1 AS found FROM rules WHERE id = ?'),
      insert: db.prepare('INSERT INTO rules (id, name, version, doc) VALUES (?, ?, ?, ?)'),
      update: db.prepare('UPDATE rules SET name = ?, version = ?, doc = ? WHERE id = ? AND version = ?'),
      delete: db.prepare('DELETE FROM rules WHERE id = ?'),
      deleteAt: db.prepare('DELETE FROM rules WHERE id = ? AND version = ?'),
    };
  }

  /** Every rule, ordered by name (case-insensitively). */
  async list(): Promise<Rule[]> {
    return this.stmts.list.all().map((row) => parseRow(RuleRow, row, 'rules').doc);
  }

  /** The rule with this id, or null. */
  async get(id: string): Promise<Rule | null> {
    return this.one(this.stmts.get.get(id));
  }

  /** The rule with this name compared case-insensitively, or null. */
  async getByName(name: string): Promise<Rule | null> {
    return this.one(this.stmts.getByName.get(name));
  }

  /** Inserts a new rule; ConflictError when its id or name (case-insensitively) is taken. */
  async create(rule: Rule): Promise<void> {
    guard(
      () => this.stmts.insert.run(rule.id, rule.name, rule.version, JSON.stringify(rule)),
      `a rule named "${rule.name}"`,
    );
  }

  /** Compare-and-set on the stored version; see `RuleStore.update` for the errors. */
  async update(rule: Rule, expectedVersion: string): Promise<void> {
    const { changes } = guard(
      () => this.stmts.update.run(rule.name, rule.version, JSON.stringify(rule), rule.id, expectedVersion),
      `a rule named "${rule.name}"`,
    );
    if (changes === 0) this.missOrConflict(rule.id, expectedVersion);
  }

  /** Deletes a rule, only at `expectedVersion` when given; NotFoundError when it is gone. */
  async delete(id: string, expectedVersion?: string): Promise<void> {
    const { changes } = guard(() =>
      expectedVersion === undefined
        ? this.stmts.delete.run(id)
        : this.stmts.deleteAt.run(id, expectedVersion),
    );
    if (changes === 0) this.missOrConflict(id, expectedVersion);
  }

  /** A conditional write touched nothing: say whether the rule is gone or merely moved on. */
  private missOrConflict(id: string, expectedVersion: string | undefined): never {
    if (this.stmts.exists.get(id) === undefined) throw new NotFoundError(`rule ${id} not found`);
    throw new VersionConflictError(`rule ${id} is no longer at version ${expectedVersion}`);
  }

  private one(row: unknown): Rule | null {
    return row === undefined ? null : parseRow(RuleRow, row, 'rules').doc;
  }
}
