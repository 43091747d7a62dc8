/**
 * Security rules in Cosmos DB: one document per rule in the single logical partition 'rule'.
 * The container's unique key on the lower-cased name makes name uniqueness (creates and
 * renames alike) the database's job, and replaces carry the ETag read with them, so two
 * writers at the same version can never both win.
 */
import type { Container } from '@azure/cosmos';
import { z } from 'zod';
import { type Rule, RuleSchema } from '../../../core/domain.js';
import { NotFoundError, VersionConflictError } from '../../../core/errors.js';
import type { RuleStore } from '../../../core/ports.js';
import { pack, unpack } from './payload.js';
import { docId, guard, parseDoc, queryDocs, readDoc, sql, type Versioned } from './support.js';

const PK = 'rule';

const Version = z.object({ version: z.string() });
interface RuleDoc {
  version: string;
  rule: Rule;
}

function toDoc(rule: Rule) {
  return {
    id: docId(rule.id),
    pk: PK,
    nameKey: rule.name.toLowerCase(),
    version: rule.version,
    ...pack('rule', rule, `rule "${rule.name}"`),
  };
}

/** The `RuleStore` port over the `rules` container. */
export class CosmosRuleStore implements RuleStore {
  constructor(private readonly container: Container) {}

  /** Every rule, ordered by name (case-insensitively): one single-partition query. */
  async list(): Promise<Rule[]> {
    const docs = await queryDocs(
      this.container,
      sql('SELECT c.rule, c.ruleGz FROM c WHERE c.pk = @pk ORDER BY c.nameKey', { pk: PK }),
      { partitionKey: PK },
    );
    return docs.map((d) => unpack(d, 'rule', RuleSchema, this.container.id));
  }

  /** The rule with this id (a point read), or null. */
  async get(id: string): Promise<Rule | null> {
    return (await this.read(id))?.doc.rule ?? null;
  }

  /** The rule with this name compared case-insensitively, or null. */
  async getByName(name: string): Promise<Rule | null> {
    const [doc] = await queryDocs(
      this.container,
      sql('SELECT c.rule, c.ruleGz FROM c WHERE c.pk = @pk AND c.nameKey = @name', {
        pk: PK,
        name: name.toLowerCase(),
      }),
      { partitionKey: PK, max: 1 },
    );
    return doc === undefined ? null : unpack(doc, 'rule', RuleSchema, this.container.id);
  }

  /** Creates a rule; ConflictError when its id or name (case-insensitively) is taken. */
  async create(rule: Rule): Promise<void> {
    await guard(() => this.container.items.create(toDoc(rule)), {
      conflict: `a rule named "${rule.name}" already exists`,
    });
  }

  /** Compare-and-set on the stored version; see `RuleStore.update` for the errors. */
  async update(rule: Rule, expectedVersion: string): Promise<void> {
    const current = await this.readAt(rule.id, expectedVersion);
    await guard(
      () =>
        this.container
          .item(docId(rule.id), PK)
          .replace(toDoc(rule), { accessCondition: { type: 'IfMatch', condition: current.etag } }),
      {
        conflict: `a rule named "${rule.name}" already exists`,
        versionConflict: `rule ${rule.id} is no longer at version ${expectedVersion}`,
        notFound: `rule ${rule.id} not found`,
      },
    );
  }

  /** Deletes a rule, only at `expectedVersion` when given; NotFoundError when it is gone. */
  async delete(id: string, expectedVersion?: string): Promise<void> {
    const condition =
      expectedVersion === undefined ? undefined : (await this.readAt(id, expectedVersion)).etag;
    await guard(
      () =>
        this.container
          .item(docId(id), PK)
          .delete(condition === undefined ? {} : { accessCondition: { type: 'IfMatch', condition } }),
      {
        versionConflict: `rule ${id} is no longer at version ${expectedVersion}`,
        notFound: `rule ${id} not found`,
      },
    );
  }

  /** The stored rule if it is at `expectedVersion`, with the ETag to write it back under. */
  private async readAt(id: string, expectedVersion: string): Promise<Versioned<RuleDoc>> {
    const current = await this.read(id);
    if (current === null) throw new NotFoundError(`rule ${id} not found`);
    if (current.doc.version !== expectedVersion) {
      throw new VersionConflictError(`rule ${id} is no longer at version ${expectedVersion}`);
    }
    return current;
  }

  private async read(id: string): Promise<Versioned<RuleDoc> | null> {
    const found = await readDoc(this.container, docId(id), PK);
    if (found === null) return null;
    const { version } = parseDoc(Version, found.doc, this.container.id);
    return {
      doc: { version, rule: unpack(found.doc, 'rule', RuleSchema, this.container.id) },
      etag: found.etag,
    };
  }
}
