/**
 * Security rules: CRUD with versions (optimistic concurrency), exemptions, the seeded
 * default rule and exemption expiry. Every write invalidates this instance's rule cache.
 */
import { TtlCache } from '../cache.js';
import {
  type Exemption,
  type ExemptionInput,
  ExemptionInputSchema,
  type Rule,
  type RuleInput,
  RuleInputSchema,
  RulePatchSchema,
} from '../domain.js';
import { NotFoundError, ValidationError } from '../errors.js';
import type { Clock, Logger, MetaStore, RuleStore } from '../ports.js';
import { type CompiledRuleSet, compileRuleSet, exemptionActive } from '../ruleset.js';
import { newId } from '../secrets.js';
import { parseInput } from '../validation.js';

/** What an admin controls of a rule; the rest is server-kept. */
type RuleBody = Omit<Rule, 'id' | 'version' | 'createdAt' | 'createdBy' | 'updatedAt' | 'updatedBy'>;

/** The rule every new installation starts with (DESIGN.md §2). */
export const DEFAULT_RULE: RuleInput = {
  name: 'default-audit-high-critical',
  description: 'Audits every workload whose images have Critical or High vulnerabilities.',
  enabled: true,
  action: 'Audit',
  scope: { name: 'all clusters', resources: [] },
  conditions: { severities: ['Critical', 'High'], cves: [] },
  applyToUnscannedImages: false,
  exemptions: [],
};

export class RuleService {
  private readonly cache: TtlCache<'rules', CompiledRuleSet>;

  constructor(
    private readonly store: RuleStore,
    private readonly meta: MetaStore,
    private readonly clock: Clock,
    private readonly logger: Logger,
    cacheTtlMs: number,
  ) {
    this.cache = new TtlCache(cacheTtlMs, 1, clock);
  }

  /** The enabled rules compiled for evaluation; at most `cacheTtlMs` behind writes made elsewhere. */
  compiled(): Promise<CompiledRuleSet> {
    return this.cache.getOrLoad('rules', async () => compileRuleSet(await this.store.list()));
  }

  list(): Promise<Rule[]> {
    return this.store.list();
  }

  async get(id: string): Promise<Rule> {
    const rule = await this.store.get(id);
    if (rule === null) throw new NotFoundError(`rule ${id} not found`);
    return rule;
  }

  async getByName(name: string): Promise<Rule | null> {
    return this.store.getByName(name);
  }

  /** Creates a rule from an admin's input (validated here); ConflictError on a taken name. */
  async create(body: unknown, actor: string): Promise<Rule> {
    const input = parseInput(RuleInputSchema, body, 'rule');
    const now = this.clock.now().toISOString();
    const rule: Rule = {
      ...this.fromInput(input, [], actor, now),
      id: newId(),
      version: '1',
      createdAt: now,
      createdBy: actor,
      updatedAt: now,
      updatedBy: actor,
    };
    await this.store.create(rule);
    this.cache.clear();
    this.logger.info('rule created', { rule: rule.name, id: rule.id, actor });
    return rule;
  }

  /** Replaces a rule (PUT). `ifMatch` is the version the caller read; omitted = last writer wins. */
  async replace(id: string, body: unknown, ifMatch: string | undefined, actor: string): Promise<Rule> {
    const input = parseInput(RuleInputSchema, body, 'rule');
    return this.write(id, ifMatch, actor, (current, now) =>
      this.fromInput(input, current.exemptions, actor, now),
    );
  }

  /** Merges the given top-level fields into the rule (PATCH); `null` clears an optional field. */
  async patch(id: string, body: unknown, ifMatch: string | undefined, actor: string): Promise<Rule> {
    const patch = parseInput(RulePatchSchema, body, 'rule patch');
    return this.write(id, ifMatch, actor, (current, now) => {
      const merged: Record<string, unknown> = { ...toInput(current) };
      for (const [key, value] of Object.entries(patch)) {
        if (value === undefined || SERVER_KEPT.has(key)) continue;
        if (value === null) delete merged[key];
        else merged[key] = value;
      }
      const input = parseInput(RuleInputSchema, merged, 'rule');
      return this.fromInput(input, current.exemptions, actor, now);
    });
  }

  setEnabled(id: string, enabled: boolean, ifMatch: string | undefined, actor: string): Promise<Rule> {
    return this.write(id, ifMatch, actor, (current) => ({ ...current, enabled }));
  }

  async delete(id: string, ifMatch: string | undefined, actor: string): Promise<void> {
    await this.store.delete(id, ifMatch);
    this.cache.clear();
    this.logger.info('rule deleted', { id, actor });
  }

  /** Adds an exemption to a rule; returns the rule with it. */
  async addExemption(id: string, body: unknown, ifMatch: string | undefined, actor: string): Promise<Rule> {
    const input = parseInput(ExemptionInputSchema, body, 'exemption');
    if (input.expiresOn !== undefined && !exemptionActive(input, this.clock.now())) {
      throw new ValidationError(
        `expiresOn ${input.expiresOn} has passed; an exemption must end today or later`,
        {
          details: [{ path: 'expiresOn', message: 'in the past' }],
        },
      );
    }
    return this.write(id, ifMatch, actor, (current, now) => ({
      ...current,
      exemptions: [...current.exemptions, newExemption(input, actor, now)],
    }));
  }

  async removeExemption(
    id: string,
    exemptionId: string,
    ifMatch: string | undefined,
    actor: string,
  ): Promise<Rule> {
    return this.write(id, ifMatch, actor, (current) => {
      const kept = current.exemptions.filter((e) => e.id !== exemptionId);
      if (kept.length === current.exemptions.length) {
        throw new NotFoundError(`exemption ${exemptionId} not found on rule ${current.name}`);
      }
      return { ...current, exemptions: kept };
    });
  }

  /** Seeds the default rule once per store, on first start. Returns true when it did. */
  async seedDefaultRule(): Promise<boolean> {
    if (!(await this.meta.setIfAbsent('seeded:default-rule', this.clock.now().toISOString()))) return false;
    if ((await this.store.getByName(DEFAULT_RULE.name)) !== null) return false;
    await this.create(DEFAULT_RULE, 'system');
    return true;
  }

  /**
   * Marks exemptions whose day has passed as expired (hourly job). Evaluation checks the date
   * itself; this keeps the record readable. Returns how many it marked.
   */
  async expireExemptions(): Promise<number> {
    const now = this.clock.now();
    let marked = 0;
    for (const rule of await this.store.list()) {
      const due = rule.exemptions.filter((e) => e.expired !== true && !exemptionActive(e, now));
      if (due.length === 0) continue;
      const ids = new Set(due.map((e) => e.id));
      try {
        await this.write(rule.id, rule.version, 'system', (current) => ({
          ...current,
          exemptions: current.exemptions.map((e) => (ids.has(e.id) ? { ...e, expired: true } : e)),
        }));
        marked += due.length;
        for (const e of due) {
          this.logger.info('exemption expired', { rule: rule.name, exemption: e.id, expiresOn: e.expiresOn });
        }
      } catch (error) {
        // A concurrent edit wins; the next run picks the exemption up again.
        this.logger.warn('exemption expiry skipped a rule', { rule: rule.name, error: String(error) });
      }
    }
    return marked;
  }

  private async write(
    id: string,
    ifMatch: string | undefined,
    actor: string,
    change: (current: Rule, now: string) => RuleBody,
  ): Promise<Rule> {
    const current = await this.get(id);
    const expected = ifMatch ?? current.version;
    const now = this.clock.now().toISOString();
    const changed = change(current, now);
    // Writing what is already there is a no-op: rules-as-code re-applied changes nothing.
    if (ifMatch === undefined || ifMatch === current.version) {
      if (JSON.stringify(canonical(changed)) === JSON.stringify(canonical(current))) return current;
    }
    const next: Rule = {
      ...changed,
      id: current.id,
      createdAt: current.createdAt,
      createdBy: current.createdBy,
      version: String(Number(expected) + 1),
      updatedAt: now,
      updatedBy: actor,
    };
    await this.store.update(next, expected);
    this.cache.clear();
    this.logger.info('rule updated', { rule: next.name, id, version: next.version, actor });
    return next;
  }

  private fromInput(input: RuleInput, previous: readonly Exemption[], actor: string, now: string): RuleBody {
    return {
      name: input.name,
      description: input.description,
      enabled: input.enabled,
      action: input.action,
      scope: {
        ...(input.scope.name ? { name: input.scope.name } : {}),
        ...(input.scope.cloud ? { cloud: input.scope.cloud } : {}),
        resources: input.scope.resources,
      },
      conditions: input.conditions,
      applyToUnscannedImages: input.applyToUnscannedImages,
      ...(input.maxScanAgeDays !== undefined ? { maxScanAgeDays: input.maxScanAgeDays } : {}),
      ...(input.enforceFrom !== undefined ? { enforceFrom: input.enforceFrom } : {}),
      exemptions: mergeExemptions(input.exemptions, previous, actor, now).map((e) =>
        // An exemption written with a day already past is recorded as expired at once.
        e.expired !== true && !exemptionActive(e, this.clock.now()) ? { ...e, expired: true } : e,
      ),
    };
  }
}

const SERVER_KEPT = new Set(['id', 'version', 'createdAt', 'createdBy', 'updatedAt', 'updatedBy']);

function toInput(rule: Rule): Record<string, unknown> {
  const out: Record<string, unknown> = { ...rule };
  for (const key of SERVER_KEPT) delete out[key];
  return out;
}

function newExemption(input: ExemptionInput, actor: string, now: string): Exemption {
  return {
    id: newId(),
    type: input.type,
    match: input.match,
    value: input.value,
    ...(input.expiresOn !== undefined ? { expiresOn: input.expiresOn } : {}),
    reason: input.reason,
    ...(input.ticket ? { ticket: input.ticket } : {}),
    createdBy: actor,
    createdAt: now,
  };
}

/**
 * Exemptions in a written rule keep their identity and authorship when they are unchanged,
 * matched by id or else by (type, match, value) — so rules-as-code re-applied is a no-op.
 */
function mergeExemptions(
  inputs: readonly ExemptionInput[],
  previous: readonly Exemption[],
  actor: string,
  now: string,
): Exemption[] {
  const key = (e: Pick<Exemption, 'type' | 'match' | 'value'>) =>
    `${e.type}|${e.match}|${e.value.toLowerCase()}`;
  const byId = new Map(previous.map((e) => [e.id, e]));
  const byKey = new Map(previous.map((e) => [key(e), e]));
  const seen = new Set<string>();
  return inputs.map((input) => {
    const old = (input.id !== undefined ? byId.get(input.id) : undefined) ?? byKey.get(key(input));
    if (old !== undefined && !seen.has(old.id)) {
      seen.add(old.id);
      const stillExpired = old.expired === true && old.expiresOn === input.expiresOn;
      const { expired: _expired, ticket: _ticket, expiresOn: _expiresOn, ...kept } = old;
      return {
        ...kept,
        type: input.type,
        match: input.match,
        value: input.value,
        reason: input.reason,
        ...(input.expiresOn !== undefined ? { expiresOn: input.expiresOn } : {}),
        ...(input.ticket ? { ticket: input.ticket } : {}),
        ...(stillExpired ? { expired: true } : {}),
      };
    }
    return newExemption(input, actor, now);
  });
}

/** What an admin controls of a rule, in a fixed key order, for no-op detection. */
function canonical(rule: RuleBody): unknown {
  return {
    name: rule.name,
    description: rule.description,
    enabled: rule.enabled,
    action: rule.action,
    scope: { name: rule.scope.name, cloud: rule.scope.cloud, resources: rule.scope.resources },
    conditions: rule.conditions,
    applyToUnscannedImages: rule.applyToUnscannedImages,
    maxScanAgeDays: rule.maxScanAgeDays,
    enforceFrom: rule.enforceFrom,
    exemptions: rule.exemptions.map(({ id, type, match, value, expiresOn, reason, ticket, expired }) => ({
      id,
      type,
      match,
      value,
      expiresOn,
      reason,
      ticket,
      expired,
    })),
  };
}
