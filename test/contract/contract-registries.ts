/**
 * Contract: registry connectors and what their findings sync keeps — unique names, the
 * checkpoint, the sync lease (one run per registry at a time, expiring) and the run records.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { SyncRun } from '../../core/domain.js';
import { ConflictError, NotFoundError } from '../../core/errors.js';
import type { RegistryConfig } from '../../core/sync.js';
import { unique } from './factories.js';
import type { ContractContext } from './store-contract.js';

/** A stored ECR registry connector. */
export function makeRegistry(overrides: Partial<RegistryConfig> = {}): RegistryConfig {
  return {
    id: randomUUID(),
    name: `registry-${unique()}`,
    kind: 'ecr',
    settings: {
      region: 'eu-west-1',
      registryId: '123456789012',
      repositories: ['team-a/', 'base'],
      scanning: 'enhanced',
    },
    enabled: true,
    createdAt: '2026-01-05T10:00:00.000Z',
    createdBy: 'contract',
    ...overrides,
  };
}

/** A finished run of `registry` started at `startedAt`. */
export function makeRun(
  registry: RegistryConfig,
  startedAt: string,
  overrides: Partial<SyncRun> = {},
): SyncRun {
  return {
    id: randomUUID(),
    registryId: registry.id,
    registryName: registry.name,
    trigger: 'schedule',
    status: 'succeeded',
    startedAt,
    finishedAt: new Date(Date.parse(startedAt) + 30_000).toISOString(),
    images: 12,
    vulnerabilities: 340,
    errors: [],
    checkpointBefore: 'cp-1',
    checkpointAfter: 'cp-2',
    ...overrides,
  };
}

const T0 = Date.parse('2026-03-01T12:00:00.000Z');
const t = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();

/** Registries: CRUD, enabling, checkpoints, the lease, run records. */
export function registryContract(ctx: ContractContext): void {
  describe('registries', () => {
    it('creates registries and reads them back by id and by name, case-insensitively, with their settings', async () => {
      const ecr = makeRegistry({ name: 'Prod-ECR' });
      const acr = makeRegistry({
        name: 'prod-acr',
        kind: 'acr',
        settings: {
          subscriptions: ['00000000-0000-0000-0000-000000000001'],
          registries: ['myreg.azurecr.io'],
        },
        enabled: false,
      });
      await ctx.store.registries.create(ecr);
      await ctx.store.registries.create(acr);
      expect(await ctx.store.registries.get(ecr.id)).toEqual(ecr);
      expect(await ctx.store.registries.get(acr.id)).toEqual(acr);
      expect(await ctx.store.registries.getByName('prod-ecr')).toEqual(ecr);
      expect(await ctx.store.registries.getByName('PROD-ACR')).toEqual(acr);
      expect(await ctx.store.registries.get(randomUUID())).toBeNull();
      expect(await ctx.store.registries.getByName('no-such-registry')).toBeNull();
    });

    it('lists every registry, enabled or not, ordered by name', async () => {
      for (const [i, name] of ['gamma', 'alpha', 'beta'].entries()) {
        await ctx.store.registries.create(makeRegistry({ name, enabled: i !== 1 }));
      }
      const listed = await ctx.store.registries.list();
      expect(listed.map((r) => [r.name, r.enabled])).toEqual([
        ['alpha', false],
        ['beta', true],
        ['gamma', true],
      ]);
    });

    it('rejects a duplicate name, in any case, with ConflictError', async () => {
      await ctx.store.registries.create(makeRegistry({ name: 'prod' }));
      await expect(ctx.store.registries.create(makeRegistry({ name: 'PROD' }))).rejects.toBeInstanceOf(
        ConflictError,
      );
      expect(await ctx.store.registries.list()).toHaveLength(1);
    });

    it('enables and disables a registry, keeping its checkpoint; NotFoundError once gone', async () => {
      const registry = makeRegistry();
      await ctx.store.registries.create(registry);
      await ctx.store.registries.setCheckpoint(registry.id, 'cp-a');
      await ctx.store.registries.setEnabled(registry.id, false);
      expect(await ctx.store.registries.get(registry.id)).toEqual({ ...registry, enabled: false });
      expect(await ctx.store.registries.getCheckpoint(registry.id)).toBe('cp-a');
      await ctx.store.registries.setEnabled(registry.id, true);
      expect((await ctx.store.registries.getByName(registry.name))?.enabled).toBe(true);
      await expect(ctx.store.registries.setEnabled(randomUUID(), false)).rejects.toBeInstanceOf(
        NotFoundError,
      );
    });

    it('keeps a checkpoint per registry, replaced by each save; none before the first', async () => {
      const a = makeRegistry();
      const b = makeRegistry();
      await ctx.store.registries.create(a);
      await ctx.store.registries.create(b);
      expect(await ctx.store.registries.getCheckpoint(a.id)).toBeNull();
      await ctx.store.registries.setCheckpoint(a.id, 'page-1');
      await ctx.store.registries.setCheckpoint(a.id, 'page-2');
      // Connectors may keep a position per repository: a checkpoint can be sizeable.
      const big = JSON.stringify(
        Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`repo-${i}`, t(i)])),
      );
      await ctx.store.registries.setCheckpoint(b.id, big);
      expect(await ctx.store.registries.getCheckpoint(a.id)).toBe('page-2');
      expect(await ctx.store.registries.getCheckpoint(b.id)).toBe(big);
      expect(await ctx.store.registries.get(a.id)).toEqual(a);
      await expect(ctx.store.registries.setCheckpoint(randomUUID(), 'x')).rejects.toBeInstanceOf(
        NotFoundError,
      );
    });

    it('grants the sync lease to one owner at a time until it expires or is released', async () => {
      const registry = makeRegistry();
      await ctx.store.registries.create(registry);
      const leases = ctx.store.registries;
      expect(await leases.tryLock(registry.id, 'worker-a', t(60), t(0))).toBe(true);
      expect(await leases.tryLock(registry.id, 'worker-b', t(60), t(10))).toBe(false);
      // The holder extends its own lease.
      expect(await leases.tryLock(registry.id, 'worker-a', t(120), t(30))).toBe(true);
      expect(await leases.tryLock(registry.id, 'worker-b', t(180), t(90))).toBe(false);
      // Releasing someone else's lease does nothing.
      await leases.unlock(registry.id, 'worker-b');
      expect(await leases.tryLock(registry.id, 'worker-b', t(180), t(100))).toBe(false);
      await leases.unlock(registry.id, 'worker-a');
      expect(await leases.tryLock(registry.id, 'worker-b', t(200), t(101))).toBe(true);
      // A holder that died without unlocking loses the lease once it expires.
      expect(await leases.tryLock(registry.id, 'worker-c', t(400), t(199))).toBe(false);
      expect(await leases.tryLock(registry.id, 'worker-c', t(400), t(201))).toBe(true);
      // The lease lives beside the registry without changing it or its checkpoint.
      await leases.setCheckpoint(registry.id, 'cp');
      await leases.setEnabled(registry.id, false);
      expect(await leases.tryLock(registry.id, 'worker-a', t(500), t(300))).toBe(false);
      expect(await leases.get(registry.id)).toEqual({ ...registry, enabled: false });
      expect(await leases.getCheckpoint(registry.id)).toBe('cp');
      await expect(leases.tryLock(randomUUID(), 'worker-a', t(60), t(0))).rejects.toBeInstanceOf(
        NotFoundError,
      );
      await leases.unlock(randomUUID(), 'worker-a');
    });

    it('lets exactly one of many racing owners take the lease', async () => {
      const registry = makeRegistry();
      await ctx.store.registries.create(registry);
      const won = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          ctx.store.registries.tryLock(registry.id, `worker-${i}`, t(60), t(0)),
        ),
      );
      expect(won.filter(Boolean)).toHaveLength(1);
      const holder = `worker-${won.indexOf(true)}`;
      expect(await ctx.store.registries.tryLock(registry.id, holder, t(90), t(1))).toBe(true);
    });

    it('records runs, replaces them by id as they progress, and lists them newest first', async () => {
      const a = makeRegistry();
      const b = makeRegistry();
      await ctx.store.registries.create(a);
      await ctx.store.registries.create(b);
      const running = makeRun(a, t(0), {
        trigger: 'manual',
        status: 'running',
        finishedAt: undefined,
        images: 0,
        vulnerabilities: 0,
        checkpointAfter: undefined,
      });
      const { finishedAt: _f, checkpointAfter: _c, ...runningStored } = running;
      await ctx.store.registries.recordRun(running);
      expect(await ctx.store.registries.getRun(running.id)).toEqual(runningStored);
      const failed: SyncRun = {
        ...running,
        status: 'failed',
        finishedAt: t(45),
        images: 400,
        vulnerabilities: 9000,
        totalImages: 1000,
        errors: ['ThrottlingException: Rate exceeded', 'gave up after 8 attempts'],
        checkpointAfter: 'page-4',
      };
      await ctx.store.registries.recordRun(failed);
      expect(await ctx.store.registries.getRun(running.id)).toEqual(failed);

      const older = makeRun(a, t(-900));
      const newer = makeRun(a, t(900));
      // Two runs starting at the same instant are ordered by id.
      const tieA = makeRun(a, t(1800), { id: `00-${randomUUID()}` });
      const tieB = makeRun(a, t(1800), { id: `ff-${randomUUID()}` });
      const ofB = makeRun(b, t(600));
      for (const run of [newer, tieA, ofB, older, tieB]) await ctx.store.registries.recordRun(run);

      const ofA = await ctx.store.registries.listRuns(a.id, 10);
      expect(ofA.map((r) => r.id)).toEqual([tieB.id, tieA.id, newer.id, running.id, older.id]);
      expect(ofA[3]).toEqual(failed);
      expect((await ctx.store.registries.listRuns(a.id, 2)).map((r) => r.id)).toEqual([tieB.id, tieA.id]);
      expect((await ctx.store.registries.listRuns(b.id, 10)).map((r) => r.id)).toEqual([ofB.id]);
      const all = await ctx.store.registries.listRuns(undefined, 4);
      expect(all.map((r) => r.id)).toEqual([tieB.id, tieA.id, newer.id, ofB.id]);
      expect(await ctx.store.registries.getRun(randomUUID())).toBeNull();
    });

    it('purges one registry’s runs started before a time', async () => {
      const a = makeRegistry();
      const b = makeRegistry();
      await ctx.store.registries.create(a);
      await ctx.store.registries.create(b);
      const runs = [0, 60, 120, 180].map((s) => makeRun(a, t(s)));
      const keep = makeRun(b, t(0));
      for (const run of [...runs, keep]) await ctx.store.registries.recordRun(run);
      expect(await ctx.store.registries.purgeRuns(a.id, t(120))).toBe(2);
      expect((await ctx.store.registries.listRuns(a.id, 10)).map((r) => r.id)).toEqual([
        runs[3]!.id,
        runs[2]!.id,
      ]);
      expect(await ctx.store.registries.getRun(runs[0]!.id)).toBeNull();
      expect(await ctx.store.registries.getRun(keep.id)).toEqual(keep);
      expect(await ctx.store.registries.purgeRuns(a.id, t(120))).toBe(0);
    });

    it('deletes a registry with its checkpoint, lease and runs; its name is free again', async () => {
      const registry = makeRegistry({ name: 'short-lived' });
      await ctx.store.registries.create(registry);
      await ctx.store.registries.setCheckpoint(registry.id, 'cp');
      await ctx.store.registries.tryLock(registry.id, 'worker-a', t(60), t(0));
      const run = makeRun(registry, t(0));
      await ctx.store.registries.recordRun(run);
      await ctx.store.registries.delete(registry.id);
      expect(await ctx.store.registries.get(registry.id)).toBeNull();
      expect(await ctx.store.registries.getByName('short-lived')).toBeNull();
      expect(await ctx.store.registries.getCheckpoint(registry.id)).toBeNull();
      expect(await ctx.store.registries.getRun(run.id)).toBeNull();
      expect(await ctx.store.registries.listRuns(undefined, 10)).toEqual([]);
      await expect(ctx.store.registries.delete(registry.id)).rejects.toBeInstanceOf(NotFoundError);

      const again = makeRegistry({ name: 'Short-Lived' });
      await ctx.store.registries.create(again);
      expect(await ctx.store.registries.getCheckpoint(again.id)).toBeNull();
      expect(await ctx.store.registries.tryLock(again.id, 'worker-b', t(60), t(1))).toBe(true);
    });
  });
}
