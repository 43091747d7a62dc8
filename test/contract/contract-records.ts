/**
 * Contract: rules (optimistic concurrency, unique names), clusters (token lookups), API keys
 * and meta state.
 */
import { describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError, VersionConflictError } from '../../core/errors.js';
import { makeApiKey, makeCluster, makeRule, sha256 } from './factories.js';
import type { ContractContext } from './store-contract.js';

/** Rules: CRUD, case-insensitive unique names, compare-and-set on the version. */
export function ruleContract(ctx: ContractContext): void {
  describe('rules', () => {
    it('creates a rule and reads it back by id and by name, case-insensitively', async () => {
      const rule = makeRule({
        name: 'Deny-Critical-Payments',
        action: 'Deny',
        scope: {
          name: 'payments',
          cloud: { provider: 'aws', accounts: ['123456789012'] },
          resources: [{ type: 'Namespace', match: 'Equals', value: 'payments' }],
        },
        conditions: { severities: ['Critical'], cves: ['CVE-2023-38545'], minCvss: 9 },
        enforceFrom: '2027-01-01',
        exemptions: [
          {
            id: 'ex-1',
            type: 'CVE',
            match: 'Equals',
            value: 'CVE-2019-3462',
            expiresOn: '2027-01-31',
            reason: 'no upstream fix',
            ticket: 'SEC-42',
            createdBy: 'alice',
            createdAt: '2026-01-05T10:00:00.000Z',
          },
        ],
      });
      await ctx.store.rules.create(rule);
      expect(await ctx.store.rules.get(rule.id)).toEqual(rule);
      expect(await ctx.store.rules.getByName('deny-critical-payments')).toEqual(rule);
      expect(await ctx.store.rules.getByName('DENY-CRITICAL-PAYMENTS')).toEqual(rule);
      expect(await ctx.store.rules.get('no-such-rule')).toBeNull();
      expect(await ctx.store.rules.getByName('no-such-rule')).toBeNull();
    });

    it('lists every rule, enabled or not, ordered by name', async () => {
      const names = ['charlie', 'alpha', 'delta', 'bravo'];
      for (const [i, name] of names.entries()) {
        await ctx.store.rules.create(makeRule({ name, enabled: i % 2 === 0 }));
      }
      const listed = await ctx.store.rules.list();
      expect(listed.map((r) => r.name)).toEqual(['alpha', 'bravo', 'charlie', 'delta']);
      expect(listed.filter((r) => r.enabled)).toHaveLength(2);
    });

    it('rejects a duplicate name, in any case, with ConflictError', async () => {
      await ctx.store.rules.create(makeRule({ name: 'no-critical' }));
      await expect(ctx.store.rules.create(makeRule({ name: 'no-critical' }))).rejects.toBeInstanceOf(
        ConflictError,
      );
      await expect(ctx.store.rules.create(makeRule({ name: 'No-Critical' }))).rejects.toBeInstanceOf(
        ConflictError,
      );
      expect(await ctx.store.rules.list()).toHaveLength(1);
    });

    it('updates at the current version and rejects a stale version with VersionConflictError', async () => {
      const v1 = makeRule({ version: 'v1' });
      await ctx.store.rules.create(v1);
      const v2 = { ...v1, description: 'second', version: 'v2', updatedAt: '2026-01-06T00:00:00.000Z' };
      await ctx.store.rules.update(v2, 'v1');
      expect(await ctx.store.rules.get(v1.id)).toEqual(v2);

      const stale = { ...v1, description: 'lost', version: 'v3' };
      await expect(ctx.store.rules.update(stale, 'v1')).rejects.toBeInstanceOf(VersionConflictError);
      expect(await ctx.store.rules.get(v1.id)).toEqual(v2);
    });

    it('answers NotFoundError when updating a rule that is gone', async () => {
      const rule = makeRule({ version: 'v1' });
      await expect(ctx.store.rules.update({ ...rule, version: 'v2' }, 'v1')).rejects.toBeInstanceOf(
        NotFoundError,
      );
    });

    it('rejects a rename onto another rule’s name with ConflictError and allows a change of case', async () => {
      const a = makeRule({ name: 'rule-a', version: 'a1' });
      const b = makeRule({ name: 'rule-b', version: 'b1' });
      await ctx.store.rules.create(a);
      await ctx.store.rules.create(b);
      await expect(
        ctx.store.rules.update({ ...b, name: 'RULE-A', version: 'b2' }, 'b1'),
      ).rejects.toBeInstanceOf(ConflictError);
      expect((await ctx.store.rules.get(b.id))?.name).toBe('rule-b');

      await ctx.store.rules.update({ ...b, name: 'Rule-B', version: 'b2' }, 'b1');
      expect((await ctx.store.rules.getByName('rule-b'))?.name).toBe('Rule-B');
      // The old name is free again once renamed away from.
      await ctx.store.rules.update({ ...a, name: 'rule-c', version: 'a2' }, 'a1');
      await ctx.store.rules.create(makeRule({ name: 'rule-a' }));
      expect((await ctx.store.rules.list()).map((r) => r.name.toLowerCase()).sort()).toEqual([
        'rule-a',
        'rule-b',
        'rule-c',
      ]);
    });

    it('deletes only at the expected version, and answers NotFoundError once gone', async () => {
      const rule = makeRule({ version: 'v1' });
      await ctx.store.rules.create(rule);
      await expect(ctx.store.rules.delete(rule.id, 'v0')).rejects.toBeInstanceOf(VersionConflictError);
      expect(await ctx.store.rules.get(rule.id)).not.toBeNull();
      await ctx.store.rules.delete(rule.id, 'v1');
      expect(await ctx.store.rules.get(rule.id)).toBeNull();
      await expect(ctx.store.rules.delete(rule.id)).rejects.toBeInstanceOf(NotFoundError);
      await expect(ctx.store.rules.delete(rule.id, 'v1')).rejects.toBeInstanceOf(NotFoundError);

      const other = makeRule();
      await ctx.store.rules.create(other);
      await ctx.store.rules.delete(other.id);
      expect(await ctx.store.rules.list()).toEqual([]);
      // A deleted rule's name can be used again.
      await ctx.store.rules.create(makeRule({ name: rule.name }));
    });
  });
}

/** Clusters: unique names, lookups by token hash, rotation, deletion. */
export function clusterContract(ctx: ContractContext): void {
  describe('clusters', () => {
    it('registers clusters and finds them by id, name and token hash', async () => {
      const prod = makeCluster({ name: 'prod-eks', tokenHash: sha256('token-prod') });
      const dev = makeCluster({ name: 'dev-aks', provider: 'azure', tokenHash: sha256('token-dev') });
      await ctx.store.clusters.create(prod);
      await ctx.store.clusters.create(dev);
      expect(await ctx.store.clusters.get(prod.id)).toEqual(prod);
      expect(await ctx.store.clusters.getByName('dev-aks')).toEqual(dev);
      expect(await ctx.store.clusters.findByTokenHash(sha256('token-prod'))).toEqual(prod);
      expect(await ctx.store.clusters.findByTokenHash(sha256('token-dev'))).toEqual(dev);
      expect(await ctx.store.clusters.findByTokenHash(sha256('token-unknown'))).toBeNull();
      expect(await ctx.store.clusters.get('nope')).toBeNull();
      expect(await ctx.store.clusters.getByName('nope')).toBeNull();
      const listed = await ctx.store.clusters.list();
      expect(listed.map((c) => c.name).sort()).toEqual(['dev-aks', 'prod-eks']);
    });

    it('rejects a duplicate cluster name with ConflictError', async () => {
      await ctx.store.clusters.create(makeCluster({ name: 'prod' }));
      await expect(ctx.store.clusters.create(makeCluster({ name: 'prod' }))).rejects.toBeInstanceOf(
        ConflictError,
      );
      expect(await ctx.store.clusters.list()).toHaveLength(1);
    });

    it('rotates the token: the old hash stops matching, the new one matches', async () => {
      const cluster = makeCluster({ tokenHash: sha256('old') });
      await ctx.store.clusters.create(cluster);
      await ctx.store.clusters.setTokenHash(cluster.id, sha256('new'), '2026-02-01T00:00:00.000Z');
      expect(await ctx.store.clusters.findByTokenHash(sha256('old'))).toBeNull();
      const found = await ctx.store.clusters.findByTokenHash(sha256('new'));
      expect(found).toEqual({
        ...cluster,
        tokenHash: sha256('new'),
        tokenRotatedAt: '2026-02-01T00:00:00.000Z',
      });
      await expect(
        ctx.store.clusters.setTokenHash('gone', sha256('x'), '2026-02-01T00:00:00.000Z'),
      ).rejects.toBeInstanceOf(NotFoundError);
    });

    it('deletes a cluster; its token stops matching; NotFoundError once gone', async () => {
      const cluster = makeCluster();
      await ctx.store.clusters.create(cluster);
      await ctx.store.clusters.delete(cluster.id);
      expect(await ctx.store.clusters.get(cluster.id)).toBeNull();
      expect(await ctx.store.clusters.findByTokenHash(cluster.tokenHash)).toBeNull();
      await expect(ctx.store.clusters.delete(cluster.id)).rejects.toBeInstanceOf(NotFoundError);
      await ctx.store.clusters.create(makeCluster({ name: cluster.name }));
    });
  });
}

/** API keys by hash, and the meta key/value state. */
export function keyAndMetaContract(ctx: ContractContext): void {
  describe('API keys', () => {
    it('creates keys, finds them by hash, records their last use and deletes them', async () => {
      const admin = makeApiKey({ secret: 'pk_admin_secret', role: 'SecurityAdmin' });
      const reader = makeApiKey({ secret: 'pk_reader_secret', createdAt: '2026-01-06T00:00:00.000Z' });
      await ctx.store.apiKeys.create(admin);
      await ctx.store.apiKeys.create(reader);
      expect(await ctx.store.apiKeys.findByHash(sha256('pk_admin_secret'))).toEqual(admin);
      expect(await ctx.store.apiKeys.findByHash(sha256('pk_unknown'))).toBeNull();
      expect((await ctx.store.apiKeys.list()).map((k) => k.id).sort()).toEqual([admin.id, reader.id].sort());

      await ctx.store.apiKeys.touch(reader.id, '2026-01-07T08:00:00.000Z');
      expect(await ctx.store.apiKeys.findByHash(sha256('pk_reader_secret'))).toEqual({
        ...reader,
        lastUsedAt: '2026-01-07T08:00:00.000Z',
      });

      await ctx.store.apiKeys.delete(admin.id);
      expect(await ctx.store.apiKeys.findByHash(sha256('pk_admin_secret'))).toBeNull();
      await expect(ctx.store.apiKeys.delete(admin.id)).rejects.toBeInstanceOf(NotFoundError);
      expect((await ctx.store.apiKeys.list()).map((k) => k.id)).toEqual([reader.id]);
    });
  });

  describe('meta', () => {
    it('sets a key only when absent, and overwrites with set', async () => {
      expect(await ctx.store.meta.get('seeded')).toBeNull();
      expect(await ctx.store.meta.setIfAbsent('seeded', 'v1')).toBe(true);
      expect(await ctx.store.meta.setIfAbsent('seeded', 'v2')).toBe(false);
      expect(await ctx.store.meta.get('seeded')).toBe('v1');
      await ctx.store.meta.set('seeded', 'v3');
      expect(await ctx.store.meta.get('seeded')).toBe('v3');
      await ctx.store.meta.set('checkpoint:ecr', '{"page":2}');
      expect(await ctx.store.meta.get('checkpoint:ecr')).toBe('{"page":2}');
    });
  });
}
