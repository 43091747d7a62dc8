/**
 * One store's run for the `stores` benchmark (stores.ts starts it with `--expose-gc`, the store
 * name as argument, the parameters in BENCH_STORES_PARAMS and the server's variables in the
 * environment). In order: a bulk scan upsert as a sync pages it (measured first, so that the
 * memory figures are this phase's alone), sequential `getScan` point reads of the images it
 * wrote, then admission events recorded at a fixed concurrency. Prints `progress <text>` lines
 * and, last, `result <json>` (or `error <json string>` when it failed).
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { type AdmissionEvent, countSeverities, type ImageScan } from '../../core/domain.js';
import type { Store } from '../../core/ports.js';
import { newId } from '../../core/secrets.js';
import { workloadFromObject } from '../../core/workload.js';
import { prepareEvaluation } from './evaluator.js';
import {
  admissionReview,
  benchCluster,
  DEPLOYMENT,
  NAMESPACE,
  prng,
  vulnerabilitiesFor,
} from './fixtures.js';
import { quantile } from './load.js';
import type { StoreFigures, StoreName, StoresBenchParams } from './stores.js';

const MB = 1024 * 1024;
const REGISTRY = '123456789012.dkr.ecr.us-east-1.amazonaws.com';
/** Repositories the bulk images spread over, as an ECR registry's would. */
const REPOSITORIES = 200;

const progress = (line: string) => process.stdout.write(`progress ${line}\n`);

function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('store-worker needs node --expose-gc');
  gc();
}

/**
 * Opens the store as its runtime would, but with `timeoutMs` per request instead of the 3–5 s
 * the adapters default to for the clouds: a local server that just started (a cold JVM) on a
 * busy machine can take longer, which says nothing of the adapter.
 */
async function openStore(name: StoreName, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Store> {
  switch (name) {
    case 'sqlite': {
      const { openSqliteStore } = await import('../../adapters/store/sqlite/index.js');
      return openSqliteStore({ path: join(env.BENCH_DATA_DIR!, 'portcullis.db') });
    }
    case 'dynamodb': {
      const { openDynamoDbStoreFromEnv } = await import('../../adapters/store/dynamodb/index.js');
      return openDynamoDbStoreFromEnv({
        ...env,
        PORTCULLIS_DYNAMODB_ENSURE_SCHEMA: 'true',
        PORTCULLIS_DYNAMODB_TIMEOUT_MS: String(timeoutMs),
      });
    }
    case 'cosmos': {
      const { openCosmosStoreFromEnv } = await import('../../adapters/store/cosmos/index.js');
      return openCosmosStoreFromEnv({
        ...env,
        PORTCULLIS_COSMOS_ENSURE_SCHEMA: 'true',
        PORTCULLIS_COSMOS_TIMEOUT_MS: String(timeoutMs),
      });
    }
    case 'firestore': {
      // What openFirestoreStoreFromEnv does for the emulator (check it answers, no 500/50/5
      // ramp-up), which takes no timeout from the environment.
      const { createEmulatorClient, openFirestoreStore } = await import(
        '../../adapters/store/firestore/index.js'
      );
      return openFirestoreStore({
        client: createEmulatorClient(env.FIRESTORE_EMULATOR_HOST!, env.GOOGLE_CLOUD_PROJECT!),
        ensureSchema: true,
        bulkThrottling: false,
        timeoutMs,
      });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Bulk upsert

function imageDigest(i: number): string {
  return `sha256:${i.toString(16).padStart(8, '0')}${'5ca7'.repeat(14)}`;
}

/** Images from here on warm the server up; they are never read. */
const WARMUP_IMAGES_FROM = 1_000_000;

/** Scans `from`..`from + count - 1` as an ECR sync reads them: one tag, `perImage` findings each. */
function scanPage(from: number, count: number, perImage: number, now: Date): ImageScan[] {
  const random = prng(from + 1);
  return Array.from({ length: count }, (_, k): ImageScan => {
    const i = from + k;
    const vulnerabilities = vulnerabilitiesFor(10_000 + i, perImage).map((v) => ({
      ...v,
      fixAvailable: v.fixedVersion !== undefined,
    }));
    return {
      registry: REGISTRY,
      repository: `team-${i % 20}/service-${i % REPOSITORIES}`,
      digest: imageDigest(i),
      tags: [`build-${i}`],
      source: 'ecr',
      scannedAt: new Date(now.getTime() - Math.floor(random() * 7 * 86_400_000)).toISOString(),
      status: 'Scanned',
      vulnerabilities,
      counts: countSeverities(vulnerabilities),
    };
  });
}

type BulkFigures = Pick<
  StoreFigures,
  | 'bulkImages'
  | 'bulkComplete'
  | 'bulkSeconds'
  | 'bulkScansPerSecond'
  | 'bulkVulnerabilitiesPerSecond'
  | 'baselineRssMb'
  | 'baselineHeapMb'
  | 'peakRssMb'
  | 'peakHeapMb'
  | 'retainedHeapFirstCallMb'
  | 'retainedHeapLastCallMb'
>;

/**
 * Upserts `bulkImages` scans, `scansPerCall` per call, until done or the budget is spent,
 * after an unmeasured call of `bulkWarmupScans` other images (JIT, connections, lazy set-up).
 * Memory is sampled every 10 ms and around each call; the peak RSS is the OS's high-water mark
 * (getrusage), which no sample can miss. A synchronous store (SQLite runs a call as one
 * transaction on this thread) can only be sampled for heap at the call's edges.
 */
async function bulkUpsert(store: Store, p: StoresBenchParams, now: Date): Promise<BulkFigures> {
  await store.scans.upsertScans(
    scanPage(WARMUP_IMAGES_FROM, p.bulkWarmupScans, p.vulnerabilitiesPerImage, now),
  );
  collectGarbage();
  const baseline = process.memoryUsage();
  let peakHeap = baseline.heapUsed;
  const sample = () => {
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
  };
  const sampler = setInterval(sample, 10);
  // The page is built and dropped inside this function, so a GC after it sees only what the store keeps.
  const upsertPage = async (from: number, count: number): Promise<number> => {
    const page = scanPage(from, count, p.vulnerabilitiesPerImage, now);
    sample();
    const t0 = performance.now();
    await store.scans.upsertScans(page);
    const ms = performance.now() - t0;
    sample();
    return ms;
  };
  const retained: number[] = [];
  let images = 0;
  let upsertMs = 0;
  const started = performance.now();
  try {
    while (images < p.bulkImages) {
      const count = Math.min(p.scansPerCall, p.bulkImages - images);
      const ms = await upsertPage(images, count);
      images += count;
      upsertMs += ms;
      collectGarbage();
      retained.push(process.memoryUsage().heapUsed);
      progress(
        `bulk ${images.toLocaleString('en-US')}/${p.bulkImages.toLocaleString('en-US')} scans ` +
          `(last call ${(ms / 1000).toFixed(1)} s, heap ${(retained.at(-1)! / MB).toFixed(0)} MB)`,
      );
      // The budget is checked between calls, so at least two run unless one takes all of it.
      if (performance.now() - started >= p.bulkBudgetMs) break;
    }
  } finally {
    clearInterval(sampler);
  }
  const seconds = upsertMs / 1000;
  return {
    bulkImages: images,
    bulkComplete: images === p.bulkImages,
    bulkSeconds: seconds,
    bulkScansPerSecond: images / seconds,
    bulkVulnerabilitiesPerSecond: (images * p.vulnerabilitiesPerImage) / seconds,
    baselineRssMb: baseline.rss / MB,
    baselineHeapMb: baseline.heapUsed / MB,
    peakRssMb: (process.resourceUsage().maxRSS * 1024) / MB,
    peakHeapMb: peakHeap / MB,
    retainedHeapFirstCallMb: retained[0]! / MB,
    retainedHeapLastCallMb: retained.at(-1)! / MB,
  };
}

// ---------------------------------------------------------------------------------------------
// Point reads

/**
 * Sequential `getScan` of random digests among the `images` written, each of which must come
 * back whole: `readWarmup` unmeasured, then `reads` or as many as `readBudgetMs` allows.
 */
async function pointReads(store: Store, p: StoresBenchParams, images: number) {
  const random = prng(42);
  const read = async () => {
    const digest = imageDigest(Math.floor(random() * images));
    const t0 = performance.now();
    const scan = await store.scans.getScan(digest);
    const ms = performance.now() - t0;
    if (scan?.vulnerabilities.length !== p.vulnerabilitiesPerImage) {
      throw new Error(`getScan(${digest}) returned ${scan === null ? 'null' : 'an incomplete scan'}`);
    }
    return ms;
  };
  for (let i = 0; i < p.readWarmup; i++) await read();
  const all = new Float64Array(p.reads);
  const deadline = performance.now() + p.readBudgetMs;
  let count = 0;
  while (count < p.reads && performance.now() < deadline) all[count++] = await read();
  const latencies = all.subarray(0, count).sort();
  return {
    scanReads: count,
    scanReadP50Ms: quantile(latencies, 0.5),
    scanReadP99Ms: quantile(latencies, 0.99),
    scanReadMaxMs: latencies[latencies.length - 1]!,
    readSetImages: images,
  };
}

// ---------------------------------------------------------------------------------------------
// Admission-event writes

/**
 * Events as the webhook records them (core/services/admission.ts): the benchmark Deployment's
 * evaluation and workload facts, with a fresh id, uid and time each.
 */
function eventFactory(p: StoresBenchParams, now: Date): { next: () => AdmissionEvent; triggered: number } {
  const evaluation = prepareEvaluation(now, p.extraRules).run();
  const cluster = benchCluster(now);
  const request = (admissionReview('bench') as { request: { object: unknown } }).request;
  const workload = workloadFromObject(request.object, {
    kind: 'Deployment',
    name: DEPLOYMENT,
    namespace: NAMESPACE,
  });
  if (workload === null) throw new Error('benchmark Deployment has no pod template');
  const next = (): AdmissionEvent => ({
    id: newId(),
    uid: randomUUID(),
    time: new Date().toISOString(),
    clusterId: cluster.id,
    cluster: cluster.name,
    namespace: workload.namespace,
    kind: workload.kind,
    name: workload.name,
    operation: 'CREATE',
    user: 'system:serviceaccount:argocd:argocd-application-controller',
    dryRun: false,
    decision: evaluation.decision,
    message: evaluation.message,
    warnings: evaluation.warnings,
    images: evaluation.images,
    rulesetVersion: 'bench-1',
    latencyMs: 1.5,
    workload: {
      labels: workload.labels,
      podLabels: workload.podLabels,
      podName: workload.podName,
      ...(workload.deployment !== undefined ? { deployment: workload.deployment } : {}),
    },
  });
  const triggered = evaluation.images.reduce((n, image) => n + image.triggeredRules.length, 0);
  return { next, triggered };
}

/** `writeConcurrency` loops of `record` for the warm-up and the window; counts what completes in the window. */
async function eventWrites(store: Store, p: StoresBenchParams, now: Date) {
  const events = eventFactory(p, now);
  const start = performance.now();
  const measureFrom = start + p.writeWarmupMs;
  const end = measureFrom + p.writeDurationMs;
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const loop = async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      try {
        await store.admissions.record(events.next());
        const t1 = performance.now();
        if (t1 >= measureFrom && t1 <= end) latencies.push(t1 - t0);
      } catch (error) {
        errors++;
        firstError ??= error instanceof Error ? error.message : String(error);
      }
    }
  };
  await Promise.all(Array.from({ length: p.writeConcurrency }, loop));
  const recorded = await store.admissions.query({ limit: 1 });
  if (recorded.items.length === 0) throw new Error('no admission event can be read back');
  const sorted = Float64Array.from(latencies).sort();
  return {
    eventWritesPerSecond: latencies.length / (p.writeDurationMs / 1000),
    eventWriteP50Ms: quantile(sorted, 0.5),
    eventWriteP99Ms: quantile(sorted, 0.99),
    eventWriteErrors: errors,
    ...(firstError === undefined ? {} : { eventWriteFirstError: firstError }),
    eventBytes: Buffer.byteLength(JSON.stringify(events.next())),
    eventTriggeredRules: events.triggered,
  };
}

async function main(): Promise<void> {
  const name = process.argv[2] as StoreName;
  const params = JSON.parse(process.env.BENCH_STORES_PARAMS ?? 'null') as StoresBenchParams | null;
  if (params === null)
    throw new Error('BENCH_STORES_PARAMS is not set: run through `npm run bench -- stores`');
  const now = new Date();
  const store = await openStore(name, process.env, params.requestTimeoutMs);
  try {
    const bulk = await bulkUpsert(store, params, now);
    progress(`${params.readWarmup} + ${params.reads} sequential getScan…`);
    const reads = await pointReads(store, params, bulk.bulkImages);
    progress(
      `admissions.record, ${params.writeConcurrency} in flight for ` +
        `${(params.writeWarmupMs + params.writeDurationMs) / 1000} s…`,
    );
    const writes = await eventWrites(store, params, now);
    const figures: StoreFigures = { ...reads, ...writes, ...bulk };
    process.stdout.write(`result ${JSON.stringify(figures)}\n`);
  } finally {
    await store.close();
  }
}

// An SDK may keep a socket or timer alive after close(); the result is out, so leave.
main().then(
  () => process.exit(0),
  (error: unknown) => {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    const cause =
      error instanceof Error && error.cause !== undefined ? ` (cause: ${String(error.cause)})` : '';
    process.stdout.write(`error ${JSON.stringify(message + cause)}\n`);
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(1);
  },
);
