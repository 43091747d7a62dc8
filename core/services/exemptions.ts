/**
 * Exemptions across every rule, with their expiry: what the security team reviews before a
 * waiver lapses (`GET /exemptions?expiringWithinDays=N`, the dashboard's exemptions view).
 */
import { z } from 'zod';
import type { Action, Exemption } from '../domain.js';
import type { Clock } from '../ports.js';
import { exemptionActive, startOfDayUtc } from '../ruleset.js';
import { parseInput } from '../validation.js';
import type { RuleService } from './rules.js';

const DAY_MS = 86_400_000;

/** Query-string filters of `GET /exemptions`. */
export const ExemptionListQuerySchema = z.strictObject({
  /** Only exemptions still in force whose `expiresOn` is within this many days (0 = ends today). */
  expiringWithinDays: z.coerce.number().int().min(0).max(3650).optional(),
  /** Only the exemptions of this rule (name or id). */
  rule: z.string().max(256).optional(),
});

export interface ExemptionListing extends Exemption {
  ruleId: string;
  ruleName: string;
  ruleAction: Action;
  ruleEnabled: boolean;
  /** The expiry day has passed (or the expiry job marked it): the exemption no longer applies. */
  expired: boolean;
  /** Whole days from today (UTC) to `expiresOn`: 0 ends today, negative has passed. */
  expiresInDays?: number;
}

export interface ExemptionList {
  /** Today, UTC: the day `expiresInDays` counts from. */
  asOf: string;
  expiringWithinDays?: number;
  items: ExemptionListing[];
}

export class ExemptionService {
  constructor(
    private readonly rules: RuleService,
    private readonly clock: Clock,
  ) {}

  /**
   * Every exemption of every rule, soonest expiry first (those without expiry last), each with
   * its rule and whether it has expired.
   *
   * @example await services.exemptions.list({ expiringWithinDays: '7' })
   */
  async list(params: unknown): Promise<ExemptionList> {
    const q = parseInput(ExemptionListQuerySchema, params, 'exemptions query');
    const now = this.clock.now();
    const asOf = now.toISOString().slice(0, 10);
    const today = startOfDayUtc(asOf);
    const wanted = q.rule?.toLowerCase();
    const items: ExemptionListing[] = [];
    for (const rule of await this.rules.list()) {
      if (wanted !== undefined && rule.name.toLowerCase() !== wanted && rule.id !== q.rule) continue;
      for (const e of rule.exemptions) {
        const expired = !exemptionActive(e, now);
        const expiresInDays =
          e.expiresOn === undefined ? undefined : Math.round((startOfDayUtc(e.expiresOn) - today) / DAY_MS);
        if (q.expiringWithinDays !== undefined) {
          if (expired || expiresInDays === undefined || expiresInDays > q.expiringWithinDays) continue;
        }
        items.push({
          ...e,
          ruleId: rule.id,
          ruleName: rule.name,
          ruleAction: rule.action,
          ruleEnabled: rule.enabled,
          expired,
          ...(expiresInDays !== undefined ? { expiresInDays } : {}),
        });
      }
    }
    items.sort(
      (a, b) =>
        (a.expiresOn ?? '9999-99-99').localeCompare(b.expiresOn ?? '9999-99-99') ||
        a.ruleName.localeCompare(b.ruleName) ||
        a.value.localeCompare(b.value),
    );
    return {
      asOf,
      ...(q.expiringWithinDays !== undefined ? { expiringWithinDays: q.expiringWithinDays } : {}),
      items,
    };
  }
}
