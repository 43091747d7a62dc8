/**
 * The benchmark's rules: 99 of them besides the seeded default rule, spread over scopes,
 * actions, conditions and exemptions as an organisation accumulates them. Deterministic.
 */
import type { z } from 'zod';
import { type Rule, RuleInputSchema } from '../../core/domain.js';
import {
  ADVISORIES,
  BENCH_CLUSTER,
  BENCH_IMAGES,
  DEPLOYMENT,
  dateFrom,
  NAMESPACE,
  pick,
  prng,
} from './fixtures.js';

/** A rule as `POST /api/v1/rules` accepts it. */
export type RuleBody = z.input<typeof RuleInputSchema>;
type ResourceBody = NonNullable<NonNullable<RuleBody['scope']>['resources']>[number];
type ExemptionBody = NonNullable<RuleBody['exemptions']>[number];

/**
 * Resource scopes in rotation, as an organisation's rules spread over its teams: about a
 * quarter apply to the benchmark Deployment (global, its namespace, its labels, its
 * Deployment, its cluster, one of its registries), the rest name other teams' workloads.
 */
function resourcesFor(i: number): ResourceBody[] {
  const team = `team-${i % 7}`;
  switch (i % 20) {
    case 0:
      return [];
    case 1:
      return [{ type: 'Namespace', match: 'Equals', value: NAMESPACE }];
    case 5:
      return [
        { type: 'LabelSelector', match: 'Equals', value: 'app in (payments-api,checkout),tier!=frontend' },
      ];
    case 9:
      return [{ type: 'Image', match: 'StartsWith', value: 'ghcr.io/acme/' }];
    case 13:
      return [
        { type: 'Deployment', match: 'Equals', value: DEPLOYMENT },
        { type: 'Namespace', match: 'NotEquals', value: 'kube-system' },
      ];
    case 17:
      return [{ type: 'Cluster', match: 'StartsWith', value: 'prod-' }];
    case 2:
    case 11:
      return [{ type: 'Namespace', match: 'Equals', value: team }];
    case 3:
    case 15:
      return [{ type: 'Namespace', match: 'StartsWith', value: `${team}-` }];
    case 4:
    case 12:
      return [
        { type: 'LabelSelector', match: 'Equals', value: `team=${team},environment in (prod,staging)` },
      ];
    case 6:
      return [{ type: 'Image', match: 'Equals', value: `redis:7.${i % 4}` }];
    case 7:
      return [{ type: 'Image', match: 'StartsWith', value: 'docker.io/bitnami/' }];
    case 8:
      return [{ type: 'Deployment', match: 'Equals', value: `${team}-gateway` }];
    case 10:
      return [{ type: 'Cluster', match: 'StartsWith', value: 'staging-' }];
    case 14:
      return [{ type: 'LabelSelector', match: 'NotEquals', value: 'tier' }];
    case 16:
      return [{ type: 'Namespace', match: 'NotEquals', value: NAMESPACE }];
    case 18:
      return [{ type: 'Pod', match: 'StartsWith', value: `${team}-batch-` }];
    default:
      return [{ type: 'Namespace', match: 'Contains', value: 'monitoring' }];
  }
}

/** Twenty advisory ids: a few an image carries, the rest a security team's watch list. */
function cveList(random: () => number): string[] {
  const ids = new Set<string>();
  while (ids.size < 4) ids.add(pick(random, ADVISORIES).id);
  while (ids.size < 20)
    ids.add(`CVE-${2014 + Math.floor(random() * 11)}-${1000 + Math.floor(random() * 60_000)}`);
  return [...ids];
}

function exemptionsFor(i: number, now: Date, random: () => number): ExemptionBody[] {
  const out: ExemptionBody[] = [];
  const reason = 'accepted by the security team';
  if (i % 5 === 0) {
    out.push({
      type: 'CVE',
      value: pick(random, ADVISORIES).id,
      expiresOn: dateFrom(now, 60),
      reason,
      ticket: `SEC-${i}`,
    });
  }
  if (i % 5 === 1) {
    // Expired: stays on the rule for the record, applies no more.
    out.push({ type: 'CVE', value: pick(random, ADVISORIES).id, expiresOn: dateFrom(now, -10), reason });
  }
  if (i % 7 === 0) out.push({ type: 'Namespace', value: 'kube-system', reason });
  if (i % 11 === 0) out.push({ type: 'Registry', value: 'ghcr.io', expiresOn: dateFrom(now, -3), reason });
  if (i % 13 === 0) out.push({ type: 'CVE', match: 'StartsWith', value: 'CVE-2016-', reason });
  if (i % 17 === 0) {
    out.push({ type: 'Image', value: BENCH_IMAGES[0]!.digest, expiresOn: dateFrom(now, 14), reason });
  }
  return out;
}

type CloudBody = NonNullable<RuleBody['scope']>['cloud'];

function cloudFor(i: number): CloudBody {
  if (i % 15 === 0) return { provider: 'aws', accounts: [BENCH_CLUSTER.account] };
  if (i % 15 === 7) return { provider: 'azure', accounts: [] };
  if (i % 15 === 11) return { provider: 'gcp', accounts: ['acme-prod'] };
  return undefined;
}

/**
 * `count` rules as an organisation accumulates them, besides the seeded default rule: a quarter Deny (some phased in with
 * `enforceFrom`), the rest Audit; namespace, label-selector, image, deployment, cluster and
 * pod scopes; some cloud scopes; severity and 20-id CVE conditions; CVE, namespace, registry
 * and image exemptions, some of them expired.
 */
export function benchRules(now: Date, count = 100): RuleBody[] {
  const random = prng(7);
  return Array.from({ length: count }, (_, i): RuleBody => {
    const action = i % 4 === 0 ? 'Deny' : 'Audit';
    const severities: Array<'Critical' | 'High' | 'Medium' | 'Low'> =
      i % 3 === 0 ? ['Critical'] : i % 3 === 2 ? ['Critical', 'High'] : [];
    const cves = i % 3 === 0 ? [] : cveList(random);
    const rule: RuleBody = {
      name: `${action.toLowerCase()}-${String(i).padStart(3, '0')}`,
      description: `benchmark rule ${i}`,
      action,
      scope: { name: `scope-${i % 10}`, resources: resourcesFor(i) },
      conditions: {
        severities,
        cves,
        ...(i % 17 === 3 ? { minCvss: 9 } : {}),
        ...(i % 13 === 5 ? { fixAvailableOnly: true } : {}),
      },
      applyToUnscannedImages: i % 12 === 0,
      exemptions: exemptionsFor(i, now, random),
    };
    const cloud = cloudFor(i);
    if (cloud !== undefined) rule.scope = { ...rule.scope, cloud };
    if (action === 'Deny' && i % 8 === 4) rule.enforceFrom = dateFrom(now, 30);
    if (i % 10 === 9) rule.maxScanAgeDays = 30;
    return rule;
  });
}

/** A rule body as the store keeps it: validated, with the fields the server adds. */
export function storedRule(body: RuleBody, i: number, now: Date): Rule {
  const input = RuleInputSchema.parse(body);
  const at = now.toISOString();
  const actor = 'apikey:bench';
  return {
    name: input.name,
    description: input.description,
    enabled: input.enabled,
    action: input.action,
    scope: input.scope,
    conditions: input.conditions,
    applyToUnscannedImages: input.applyToUnscannedImages,
    ...(input.maxScanAgeDays !== undefined ? { maxScanAgeDays: input.maxScanAgeDays } : {}),
    ...(input.enforceFrom !== undefined ? { enforceFrom: input.enforceFrom } : {}),
    exemptions: input.exemptions.map((e, j) => ({
      ...e,
      id: `ex-${i}-${j}`,
      createdBy: actor,
      createdAt: at,
    })),
    id: `rule-${i}`,
    version: '1',
    createdAt: at,
    createdBy: actor,
    updatedAt: at,
    updatedBy: actor,
  };
}
