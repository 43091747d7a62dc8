/**
 * The findings-sync service over the real SQLite store, with scripted connectors standing in
 * for the registries (a test double of the `RegistryConnector` port): batches, checkpoints,
 * resume after a failure, removed findings, scan statuses, the lease, bounded memory, the
 * schedule, and the admission decisions that follow the findings.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../adapters/store/sqlite/index.js';
import { countSeverities, type ImageScan, type Vulnerability } from '../../core/domain.js';
import { ConflictError, NotFoundError, UnavailableError, ValidationError } from '../../core/errors.js';
import { parseImageRef } from '../../core/image-ref.js';
import type { Clock, Store } from '../../core/ports.js';
import { createServices, type ServiceOptions } from '../../core/services/index.js';
import type {
  ConnectorFactory,
  RegistryConfig,
  ScannerInventory,
  SyncBatch,
  SyncContext,
} from '../../core/sync.js';
import { CLUSTER, deployment, rule } from './evaluate-helpers.js';

const HOST = '123456789012.dkr.ecr.eu-west-1.amazonaws.com';
const stores: Store[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});

function clockAt(iso: string): Clock & { advance(ms: number): void } {
  let now = Date.parse(iso);
  return {
    now: () => new Date(now),
    advance: (ms) => {
      now += ms;
    },
  };
}

function setup(options: ServiceOptions = {}, store?: Store) {
  const s = store ?? openSqliteStore({ path: ':memory:' });
  if (store === undefined) stores.push(s);
  return { services: createServices(s, options), store: s };
}

const digest = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;
const v = (id: string, severity: Vulnerability['severity']): Vulnerability => ({
  id,
  severity,
  package: 'openssl',
  version: '3.0.1',
});

function image(n: number, vulnerabilities: Vulnerability[], extra: Partial<ImageScan> = {}): ImageScan {
  return {
    registry: HOST,
    repository: 'team-a/web',
    digest: digest(n),
    tags: [`v${n}`],
    source: 'inspector2',
    scannedAt: '2026-03-01T00:00:00.000Z',
    status: 'Scanned',
    vulnerabilities,
    counts: countSeverities(vulnerabilities),
    ...extra,
  };
}

/** One scripted run: batches to yield, an error to throw, or a pause to wait on; then a checkpoint. */
type Step = SyncBatch | Error | (() => Promise<void>);
interface Script {
  steps: Iterable<Step> | AsyncIterable<Step>;
  final?: string;
  inventory?: ScannerInventory;
}

/** A connector factory that plays one script per run, and keeps the contexts it was given. */
function scripted(...scripts: Script[]) {
  const contexts: SyncContext[] = [];
  const built: RegistryConfig[] = [];
  let call = 0;
  const factory: ConnectorFactory = (config) => {
    built.push(config);
    return {
      async *sync(context) {
        contexts.push(context);
        const script = scripts[call++];
        if (script === undefined) throw new Error('no script left for this run');
        for await (const step of script.steps) {
          if (step instanceof Error) throw step;
          if (typeof step === 'function') await step();
          else yield step;
        }
        return {
          checkpoint: script.final ?? 'done',
          ...(script.inventory === undefined ? {} : { inventory: script.inventory }),
        };
      },
    };
  };
  return { factory, contexts, built };
}

const ecr = (name = 'prod-ecr', extra: Record<string, unknown> = {}) => ({
  name,
  kind: 'ecr',
  settings: { region: 'eu-west-1', scanning: 'enhanced' },
  ...extra,
});

describe('registries', () => {
  it('validates per kind, answers unknown fields and taken names, and finds by id or name', async () => {
    const { services } = setup();
    const created = await services.sync.create(ecr('prod'), 'alice');
    expect(created).toMatchObject({ name: 'prod', kind: 'ecr', enabled: true, createdBy: 'alice' });
    expect(created.settings).toEqual({ region: 'eu-west-1', scanning: 'enhanced' });
    await expect(services.sync.create(ecr('prod'), 'alice')).rejects.toBeInstanceOf(ConflictError);
    for (const bad of [
      ecr('x', { extra: 1 }),
      { name: 'x', kind: 'ecr', settings: { region: 'eu-west-1', scanning: 'deep' } },
      { name: 'x', kind: 'ecr', settings: { region: 'Ireland' } },
      { name: 'x', kind: 'acr', settings: { subscriptions: [] } },
      { name: 'x', kind: 'gar', settings: { projects: ['p'], colour: 'blue' } },
      { name: 'Not A Label', kind: 'gar', settings: { projects: ['my-project'] } },
      { name: 'x', kind: 'quay', settings: {} },
    ]) {
      await expect(services.sync.create(bad, 'alice'), JSON.stringify(bad)).rejects.toBeInstanceOf(
        ValidationError,
      );
    }
    expect(await services.sync.get(created.id)).toEqual(created);
    expect(await services.sync.get('prod')).toEqual(created);
    await expect(services.sync.get('nope')).rejects.toBeInstanceOf(NotFoundError);
    expect((await services.sync.setEnabled('prod', false, 'alice')).enabled).toBe(false);
    expect((await services.sync.list()).map((r) => [r.name, r.enabled])).toEqual([['prod', false]]);
    await services.sync.delete('prod', 'alice');
    expect(await services.sync.list()).toEqual([]);
  });

  it('answers a clear error for a sync where no connectors are configured', async () => {
    const { services } = setup();
    await services.sync.create(ecr(), 'alice');
    await expect(services.sync.sync('prod-ecr', 'manual')).rejects.toThrow(UnavailableError);
    await expect(services.sync.sync('prod-ecr', 'manual')).rejects.toThrow(/no connectors/);
  });
});

describe('sync runs', () => {
  it('ingests several batches, saves each checkpoint, records the run, and starts the next run from it', async () => {
    const script = scripted(
      {
        steps: [
          { scans: [image(1, [v('CVE-1', 'Critical')]), image(2, [])], checkpoint: 'page-1' },
          { scans: [image(3, [v('CVE-2', 'High'), v('CVE-3', 'Low')])], checkpoint: 'page-2' },
          { scans: [image(4, [v('CVE-1', 'Critical')])], progress: { images: 4, totalImages: 4 } },
        ],
        final: 'since-2026-03-01',
      },
      { steps: [], final: 'since-2026-03-02' },
    );
    const { services, store } = setup({ connectors: script.factory });
    const registry = await services.sync.create(ecr(), 'alice');
    const run = await services.sync.sync('prod-ecr', 'manual');
    expect(run).toMatchObject({
      registryId: registry.id,
      registryName: 'prod-ecr',
      trigger: 'manual',
      status: 'succeeded',
      images: 4,
      vulnerabilities: 4,
      totalImages: 4,
      errors: [],
      checkpointAfter: 'since-2026-03-01',
    });
    expect(run.checkpointBefore).toBeUndefined();
    expect(Date.parse(run.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(run.startedAt));
    expect(await services.sync.run(run.id)).toEqual(run);
    expect(script.built[0]).toEqual(registry);
    expect(script.contexts[0]?.checkpoint).toBeUndefined();
    expect((await services.scans.get(digest(3))).counts).toMatchObject({ High: 1, Low: 1 });
    expect(await services.scans.resolve(parseImageRef(`${HOST}/team-a/web:v2`))).toMatchObject({
      digest: digest(2),
      scan: { status: 'Scanned', vulnerabilities: [] },
    });

    const second = await services.sync.sync(registry.id, 'schedule');
    expect(script.contexts[1]?.checkpoint).toBe('since-2026-03-01');
    expect(second).toMatchObject({
      checkpointBefore: 'since-2026-03-01',
      checkpointAfter: 'since-2026-03-02',
    });
    expect(await store.registries.getCheckpoint(registry.id)).toBe('since-2026-03-02');
    expect((await services.sync.runs('prod-ecr')).map((r) => r.id)).toEqual([second.id, run.id]);
    // The lease is released: nothing holds the registry now.
    expect(
      await store.registries.tryLock(
        registry.id,
        'someone',
        '2099-01-01T00:00:00Z',
        new Date().toISOString(),
      ),
    ).toBe(true);
  });

  it('keeps the last checkpoint of a failed run, leaves unseen images alone, and resumes from it', async () => {
    const old = image(9, [v('CVE-OLD', 'Critical')], { scannedAt: '2026-02-01T00:00:00.000Z' });
    const script = scripted(
      { steps: [{ scans: [old] }], final: 'full' },
      {
        steps: [
          { scans: [image(1, [v('CVE-1', 'High')])], checkpoint: 'p1' },
          { scans: [image(2, [v('CVE-2', 'High')])], checkpoint: 'p2' },
          { scans: [image(3, [v('CVE-3', 'High')])] }, // delivered, but its page never completed
          Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }),
        ],
      },
      { steps: [{ scans: [image(3, [])], checkpoint: 'p3' }], final: 'p-final' },
    );
    const { services, store } = setup({ connectors: script.factory });
    const registry = await services.sync.create(ecr(), 'alice');
    await services.sync.sync('prod-ecr', 'schedule');

    const failed = await services.sync.sync('prod-ecr', 'schedule');
    expect(failed).toMatchObject({
      status: 'failed',
      images: 3,
      checkpointBefore: 'full',
      checkpointAfter: 'p2',
      errors: ['ThrottlingException: Rate exceeded'],
    });
    expect(await store.registries.getCheckpoint(registry.id)).toBe('p2');
    // What the failed run did not see is never taken for fixed.
    expect((await services.scans.get(digest(9))).vulnerabilities.map((x) => x.id)).toEqual(['CVE-OLD']);

    const resumed = await services.sync.sync('prod-ecr', 'manual');
    expect(script.contexts[2]?.checkpoint).toBe('p2');
    expect(resumed).toMatchObject({
      status: 'succeeded',
      checkpointBefore: 'p2',
      checkpointAfter: 'p-final',
    });
    expect((await services.scans.get(digest(3))).vulnerabilities).toEqual([]);
    expect((await services.sync.runs(undefined)).map((r) => r.status)).toEqual([
      'succeeded',
      'failed',
      'succeeded',
    ]);
  });

  it('removes findings that disappeared from an image’s complete scan, and the admission decision follows', async () => {
    const critical = [v('CVE-2023-38545', 'Critical'), v('CVE-2024-0001', 'Medium')];
    const fixed = [v('CVE-2024-0001', 'Medium')];
    const script = scripted(
      { steps: [{ scans: [image(1, critical)] }] },
      { steps: [{ scans: [image(1, fixed, { scannedAt: '2026-03-02T00:00:00.000Z' })] }] },
    );
    const { services, store } = setup({ connectors: script.factory });
    await store.rules.create(
      rule({ name: 'deny-critical', action: 'Deny', conditions: { severities: ['Critical'] } }),
    );
    await services.sync.create(ecr(), 'alice');
    const review = (uid: string) => ({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid,
        kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
        operation: 'CREATE',
        namespace: 'shop',
        name: 'web',
        object: deployment('web', 'shop', [`${HOST}/team-a/web:v1`]),
      },
    });

    await services.sync.sync('prod-ecr', 'schedule');
    const before = await services.admission.review(CLUSTER, review('u1'));
    expect(before.review.response.allowed).toBe(false);
    expect(before.review.response.status?.message).toContain('CVE-2023-38545');

    await services.sync.sync('prod-ecr', 'schedule');
    const scan = await services.scans.get(digest(1));
    expect(scan.vulnerabilities.map((x) => x.id)).toEqual(['CVE-2024-0001']);
    expect(scan.counts).toMatchObject({ Critical: 0, Medium: 1 });
    expect((await services.admission.review(CLUSTER, review('u2'))).review.response.allowed).toBe(true);
  });

  it('marks an image the scanner no longer reports as Pending, keeping its findings, and never as clean', async () => {
    const OTHER = 'contosoapps.azurecr.io';
    const acr = (n: number, extra: Partial<ImageScan> = {}) =>
      image(n, [v('CVE-2023-38545', 'Critical')], {
        registry: 'ContosoApps.azurecr.io',
        source: 'acr',
        ...extra,
      });
    const inventory = (digests: string[]): ScannerInventory => ({
      source: 'acr',
      registries: [OTHER],
      digests,
      reason: 'Defender no longer reports this image',
    });
    const script = scripted(
      {
        steps: [
          {
            scans: [
              acr(1),
              acr(2),
              // Another registry host, which this run's inventory does not cover.
              acr(3, { registry: 'fabrikam.azurecr.io' }),
              // An image whose newest scan comes from another source: not this scanner's to mark.
              acr(4),
            ],
          },
        ],
        inventory: inventory([digest(1), digest(2), digest(4)]),
      },
      // Image 2 is no longer reported; image 4 neither, but its newest scan is a later import.
      { steps: [], inventory: inventory([digest(1).toUpperCase()]) },
      { steps: [], inventory: inventory([digest(1)]) },
      // Listed again, not rescanned (a listing that missed it): Scanned again, as it was.
      { steps: [], inventory: inventory([digest(1), digest(2)]) },
      { steps: [], inventory: inventory([digest(1)]) },
      // Defender reports image 2 again, rescanned: it is Scanned once more, with the new findings.
      {
        steps: [{ scans: [acr(2, { scannedAt: '2026-03-05T00:00:00.000Z', vulnerabilities: [] })] }],
        inventory: inventory([digest(1), digest(2)]),
      },
    );
    const { services, store } = setup({ connectors: script.factory });
    await store.rules.create(
      rule({ name: 'deny-critical', action: 'Deny', conditions: { severities: ['Critical'] } }),
    );
    await store.rules.create(
      rule({
        name: 'deny-unscanned',
        action: 'Deny',
        conditions: { severities: [] },
        applyToUnscannedImages: true,
      }),
    );
    await services.sync.create(ecr(), 'alice');
    const first = await services.sync.sync('prod-ecr', 'manual');
    expect(first).toMatchObject({ status: 'succeeded', images: 4 });
    await services.scans.ingest([
      image(4, [], { registry: OTHER, source: 'trivy', scannedAt: '2026-03-03T00:00:00.000Z' }),
    ]);
    const decide = async (n: number) => {
      const result = await services.admission.whatIf(
        CLUSTER,
        deployment('web', 'shop', [`${OTHER}/team-a/web@${digest(n)}`]),
      );
      return [result.decision, result.images[0]?.triggeredRules.map((r) => r.ruleName)];
    };
    expect(await decide(2)).toEqual(['Denied', ['deny-critical']]);

    const second = await services.sync.sync('prod-ecr', 'manual');
    expect(second).toMatchObject({ status: 'succeeded', images: 1 });
    const marked = await services.scans.get(digest(2));
    expect(marked).toMatchObject({
      status: 'Pending',
      statusReason: 'Defender no longer reports this image',
      source: 'acr',
      scannedAt: '2026-03-01T00:00:00.000Z',
    });
    expect(marked.vulnerabilities.map((x) => x.id)).toEqual(['CVE-2023-38545']);
    // No usable scan: only the rule that gates unscanned images still acts on it.
    expect(await decide(2)).toEqual(['Denied', ['deny-unscanned']]);
    for (const n of [1, 3]) expect((await services.scans.get(digest(n))).status).toBe('Scanned');
    expect((await services.scans.get(digest(4))).source).toBe('trivy');

    // Already marked: the next run writes nothing.
    expect((await services.sync.sync('prod-ecr', 'manual')).images).toBe(0);
    expect((await services.sync.sync('prod-ecr', 'manual')).images).toBe(1);
    const restored = await services.scans.get(digest(2));
    expect(restored).toMatchObject({ status: 'Scanned', scannedAt: '2026-03-01T00:00:00.000Z' });
    expect(restored.statusReason).toBeUndefined();
    expect(await decide(2)).toEqual(['Denied', ['deny-critical']]);
    expect((await services.sync.sync('prod-ecr', 'manual')).images).toBe(1);
    expect((await services.scans.get(digest(2))).status).toBe('Pending');
    const back = await services.sync.sync('prod-ecr', 'manual');
    expect(back.images).toBe(1);
    expect(await services.scans.get(digest(2))).toMatchObject({ status: 'Scanned', vulnerabilities: [] });
    expect(await decide(2)).toEqual(['Allowed', []]);
  });

  it('moves a tag that the registry moved without a new scan, back to an older build too', async () => {
    const critical = [v('CVE-2023-38545', 'Critical')];
    const at = (day: number) => `2026-03-0${day}T00:00:00.000Z`;
    const tagsOf = (n: number, tags: string[]) => ({
      registry: HOST,
      repository: 'team-a/web',
      digest: digest(n),
      source: 'inspector2' as const,
      tags,
    });
    const script = scripted(
      // 1: vulnerable, tagged latest; 2: a newer clean build; 3: an older vulnerable build.
      {
        steps: [
          {
            scans: [
              image(1, critical, { tags: ['latest'], scannedAt: at(2) }),
              image(2, [], { tags: [], scannedAt: at(3) }),
              image(3, critical, { tags: ['old'], scannedAt: at(1) }),
            ],
          },
        ],
      },
      // `latest` moves to the clean build: nothing is scanned again.
      { steps: [{ scans: [], tags: [tagsOf(1, []), tagsOf(2, ['latest']), tagsOf(3, ['old'])] }] },
      // Rolled back to the older build, whose scan is older than the clean build's.
      { steps: [{ scans: [], tags: [tagsOf(2, []), tagsOf(3, ['old', 'latest'])] }] },
    );
    const { services, store } = setup({ connectors: script.factory });
    await store.rules.create(
      rule({ name: 'deny-critical', action: 'Deny', conditions: { severities: ['Critical'] } }),
    );
    await store.rules.create(rule({ name: 'deny-unscanned', action: 'Deny', applyToUnscannedImages: true }));
    await services.sync.create(ecr(), 'alice');
    const latest = async () => {
      const result = await services.admission.whatIf(
        CLUSTER,
        deployment('web', 'shop', [`${HOST}/team-a/web:latest`]),
      );
      const [img] = result.images;
      return [result.decision, img?.digest, img?.triggeredRules.map((r) => r.ruleName)];
    };

    await services.sync.sync('prod-ecr', 'manual');
    expect(await latest()).toEqual(['Denied', digest(1), ['deny-critical']]);

    await services.sync.sync('prod-ecr', 'manual');
    expect(await latest()).toEqual(['Allowed', digest(2), []]);
    expect((await services.scans.get(digest(1))).tags).toEqual([]);
    expect((await services.scans.get(digest(1))).vulnerabilities).toHaveLength(1); // only the tags changed

    // Rolled back to the older build: the tag follows it, and the older build's findings decide.
    await services.sync.sync('prod-ecr', 'manual');
    expect(await latest()).toEqual(['Denied', digest(3), ['deny-critical']]);
    expect((await services.scans.get(digest(3))).tags).toEqual(['old', 'latest']);
    expect((await services.scans.get(digest(3))).vulnerabilities).toHaveLength(1);
    expect((await services.scans.get(digest(2))).tags).toEqual([]);
  });

  it('stores Pending, Unsupported and Failed scans with the source’s reason, apart from Scanned', async () => {
    const script = scripted({
      steps: [
        {
          scans: [
            image(1, [], { status: 'Pending', statusReason: 'PENDING_INITIAL_SCAN' }),
            image(2, [], { status: 'Unsupported', statusReason: 'UNSUPPORTED_OS' }),
            image(3, [], { status: 'Failed', statusReason: 'SCAN_ELIGIBILITY_EXPIRED' }),
            image(4, []),
          ],
        },
      ],
    });
    const { services } = setup({ connectors: script.factory });
    await services.sync.create(ecr(), 'alice');
    expect((await services.sync.sync('prod-ecr', 'manual')).images).toBe(4);
    for (const [n, status, reason] of [
      [1, 'Pending', 'PENDING_INITIAL_SCAN'],
      [2, 'Unsupported', 'UNSUPPORTED_OS'],
      [3, 'Failed', 'SCAN_ELIGIBILITY_EXPIRED'],
      [4, 'Scanned', undefined],
    ] as const) {
      const stored = await services.scans.get(digest(n));
      expect([stored.status, stored.statusReason]).toEqual([status, reason]);
    }
    const pending = await services.scans.list({ status: 'Pending', limit: 10 });
    expect(pending.items.map((i) => i.digest)).toEqual([digest(1)]);
  });

  it('skips an invalid scan as an error of the run, keeps the rest, and bounds the errors kept', async () => {
    const bad = (n: number) => image(n, [], { digest: `not-a-digest-${n}` });
    const script = scripted({
      steps: [
        { scans: [image(1, []), bad(2), image(3, [])] },
        { scans: Array.from({ length: 30 }, (_, i) => bad(10 + i)) },
      ],
    });
    const { services } = setup({ connectors: script.factory });
    await services.sync.create(ecr(), 'alice');
    const run = await services.sync.sync('prod-ecr', 'manual');
    expect(run.status).toBe('succeeded');
    expect(run.images).toBe(2);
    expect(run.errors).toHaveLength(20);
    expect(run.errors[0]).toMatch(/^skipped .*team-a\/web@not-a-digest-2: digest: expected a digest/);
    expect(run.errors[19]).toMatch(/^… 12 more errors; the last: skipped .*not-a-digest-39/);
  });

  it('records a connector that cannot be built as a failed run', async () => {
    const { services } = setup({
      connectors: () => {
        throw new Error('no credentials for eu-west-1');
      },
    });
    await services.sync.create(ecr(), 'alice');
    const run = await services.sync.sync('prod-ecr', 'manual');
    expect(run).toMatchObject({ status: 'failed', images: 0, errors: ['no credentials for eu-west-1'] });
    expect((await services.sync.runs('prod-ecr'))[0]).toEqual(run);
  });
});

describe('one run per registry at a time', () => {
  it('refuses a second sync while the lease is held, in this instance and another, and syncAll skips it', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let entered!: () => void;
    const running = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const script = scripted(
      { steps: [{ scans: [image(1, [])], checkpoint: 'c1' }, async () => entered(), () => gate] },
      { steps: [] },
    );
    const { services, store } = setup({ connectors: script.factory });
    const other = createServices(store, { connectors: scripted({ steps: [] }).factory });
    await services.sync.create(ecr(), 'alice');

    const first = await services.sync.start('prod-ecr', 'manual');
    expect(first.run.status).toBe('running');
    await running;
    await expect(services.sync.start('prod-ecr', 'manual')).rejects.toBeInstanceOf(ConflictError);
    await expect(other.sync.sync('prod-ecr', 'manual')).rejects.toThrow(/being synced already/);
    expect(await other.sync.syncAll()).toEqual({ runs: [], skipped: ['prod-ecr'] });
    const mid = await services.sync.run(first.run.id);
    expect(mid.status).toBe('running');

    release();
    expect((await first.finished).status).toBe('succeeded');
    expect((await services.sync.sync('prod-ecr', 'manual')).status).toBe('succeeded');
  });

  it('renews the lease of a long run, so another instance cannot take over while it makes progress', async () => {
    const clock = clockAt('2026-03-01T12:00:00Z');
    const { services, store } = setup({
      clock,
      connectors: () => ({ sync: () => gen() }),
      sync: { leaseMs: 3000 },
    });
    const other = createServices(store, { clock, connectors: scripted({ steps: [] }).factory });
    const refusals: unknown[] = [];
    async function* gen(): AsyncGenerator<SyncBatch, { checkpoint: string }, void> {
      for (let i = 0; i < 10; i++) {
        clock.advance(1500);
        refusals.push(await other.sync.sync('prod-ecr', 'manual').catch((e: unknown) => e));
        yield { scans: [image(i, [])] };
      }
      return { checkpoint: 'end' };
    }
    await services.sync.create(ecr(), 'alice');
    expect((await services.sync.sync('prod-ecr', 'manual')).status).toBe('succeeded');
    // 15 s of run under a 3 s lease: every attempt of the other instance was refused.
    expect(refusals).toHaveLength(10);
    for (const r of refusals) expect(r).toBeInstanceOf(ConflictError);
  });
});

describe('bounded memory', () => {
  it('stores each batch before it asks for the next, and records progress during the run', async () => {
    const clock = clockAt('2026-03-01T12:00:00Z');
    const BATCHES = 200;
    const { services } = setup({ clock, connectors: () => ({ sync: () => pages() }) });
    let runId = '';
    const notYetStored: number[] = [];
    const progressSeen: number[] = [];
    async function* pages(): AsyncGenerator<SyncBatch, { checkpoint: string }, void> {
      for (let b = 0; b < BATCHES; b++) {
        if (b > 0) {
          // The previous batch is in the store before this one is even built.
          const previous = await services.scans.get(digest(b * 5 - 1)).catch(() => null);
          if (previous === null) notYetStored.push(b - 1);
          progressSeen.push((await services.sync.run(runId)).images);
        }
        clock.advance(250);
        yield {
          scans: Array.from({ length: 5 }, (_, i) => image(b * 5 + i, [v(`CVE-${b}-${i}`, 'Low')])),
          checkpoint: `page-${b}`,
          progress: { images: (b + 1) * 5, totalImages: BATCHES * 5 },
        };
      }
      return { checkpoint: 'end' };
    }
    await services.sync.create(ecr(), 'alice');
    const started = await services.sync.start('prod-ecr', 'manual');
    runId = started.run.id;
    const run = await started.finished;
    expect(notYetStored).toEqual([]);
    expect(run).toMatchObject({
      status: 'succeeded',
      images: 1000,
      vulnerabilities: 1000,
      totalImages: 1000,
    });
    // Progress reached the record about once a (fake) second: every fourth batch of 250 ms.
    const distinct = new Set(progressSeen);
    expect(distinct.size).toBeGreaterThan(40);
    expect(distinct.size).toBeLessThan(60);
    expect(Math.max(...progressSeen)).toBeGreaterThan(950);
  });
});

describe('syncAll', () => {
  it('syncs every enabled registry; one failure does not stop the others', async () => {
    const factory: ConnectorFactory = (config) => ({
      async *sync() {
        if (config.name === 'broken') throw new Error('AccessDeniedException: not authorized');
        yield { scans: [image(config.name.length, [])] };
        return { checkpoint: 'ok' };
      },
    });
    const { services } = setup({ connectors: factory, sync: { concurrency: 1 } });
    await services.sync.create(ecr('broken'), 'alice');
    await services.sync.create(ecr('healthy'), 'alice');
    await services.sync.create(ecr('paused', { enabled: false }), 'alice');
    const result = await services.sync.syncAll();
    expect(result.skipped).toEqual([]);
    expect(result.runs.map((r) => [r.registryName, r.status, r.trigger])).toEqual([
      ['broken', 'failed', 'schedule'],
      ['healthy', 'succeeded', 'schedule'],
    ]);
    expect(result.runs[0]?.errors).toEqual(['AccessDeniedException: not authorized']);
    expect(await services.sync.runs('paused')).toEqual([]);
  });

  it('purges runs older than the retention period', async () => {
    const clock = clockAt('2026-03-01T12:00:00Z');
    const { services, store } = setup({ clock, connectors: scripted({ steps: [] }, { steps: [] }).factory });
    const registry = await services.sync.create(ecr(), 'alice');
    const first = await services.sync.sync('prod-ecr', 'schedule');
    clock.advance(31 * 86_400_000);
    const second = await services.sync.sync('prod-ecr', 'schedule');
    expect((await store.registries.listRuns(registry.id, 10)).map((r) => r.id)).toEqual([second.id]);
    expect(first.id).not.toBe(second.id);
  });
});
