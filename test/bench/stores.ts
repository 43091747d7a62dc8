/**
 * The four store adapters side by side (issue 3): scan point reads, admission-event writes and
 * bulk scan upserts, each store against its real local server — SQLite in-process, DynamoDB
 * Local, the Cosmos DB server and the Firestore emulator, which test/support starts. The
 * figures describe the adapters on those local servers, not the cloud services.
 *
 * Each store runs in its own worker process (store-worker.ts) so that its memory is measured
 * alone: no other SDK loaded, no heap left over from the store before it. The servers are
 * started and stopped here, one at a time.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startCosmosServer } from '../support/cosmos-server.js';
import { startDynamoDbServer } from '../support/dynamodb-server.js';
import { startFirestoreServer } from '../support/firestore-server.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
const WORKER = join(HERE, 'store-worker.ts');

/** The stores, in the order they run. */
export const STORE_NAMES = ['sqlite', 'dynamodb', 'cosmos', 'firestore'] as const;
export type StoreName = (typeof STORE_NAMES)[number];

/** What each store is run against. */
export const STORE_SERVERS: Record<StoreName, string> = {
  sqlite: 'SQLite file (in-process)',
  dynamodb: 'DynamoDB Local (in memory)',
  cosmos: '@vercel/cosmosdb-server',
  firestore: 'Firestore emulator',
};

/** The work every store is given; the same for all four (the budget may cut the bulk run short). */
export interface StoresBenchParams {
  /** Images the bulk upsert writes, and vulnerabilities per image. */
  bulkImages: number;
  vulnerabilitiesPerImage: number;
  /** Scans per `upsertScans` call, as a sync pages them. */
  scansPerCall: number;
  /** Scans of other images upserted first, unmeasured, to warm the server and the client up. */
  bulkWarmupScans: number;
  /** Wall time after which a store's bulk run stops at the end of its current call. */
  bulkBudgetMs: number;
  /** Sequential `getScan` calls: unmeasured first, then measured (fewer if the budget runs out). */
  readWarmup: number;
  reads: number;
  readBudgetMs: number;
  /** `admissions.record` calls in flight, and for how long (warm-up, then measured). */
  writeConcurrency: number;
  writeWarmupMs: number;
  writeDurationMs: number;
  /** Rules evaluated for the recorded events, besides the default rule (a few trigger). */
  extraRules: number;
  /** Deadline of one request to a local server (the adapters' defaults are 3–5 s, set for the clouds). */
  requestTimeoutMs: number;
}

/** What one store's worker measured. */
export interface StoreFigures {
  scanReadP50Ms: number;
  scanReadP99Ms: number;
  scanReadMaxMs: number;
  /** Reads measured: `reads`, or fewer when a slow server spent the read budget. */
  scanReads: number;
  /** Distinct digests the reads drew from: the images the bulk run wrote. */
  readSetImages: number;
  eventWritesPerSecond: number;
  eventWriteP50Ms: number;
  eventWriteP99Ms: number;
  eventWriteErrors: number;
  eventWriteFirstError?: string;
  /** Bytes of one recorded event as JSON, and the rule-image pairs that triggered in it. */
  eventBytes: number;
  eventTriggeredRules: number;
  /** N: images the bulk run upserted (fewer than asked when the budget ran out). */
  bulkImages: number;
  bulkComplete: boolean;
  /** Time inside `upsertScans` calls only (building the pages is not counted). */
  bulkSeconds: number;
  bulkScansPerSecond: number;
  bulkVulnerabilitiesPerSecond: number;
  /** The worker's memory before the bulk run (after a GC), and its peaks during it. */
  baselineRssMb: number;
  baselineHeapMb: number;
  peakRssMb: number;
  peakHeapMb: number;
  /** Heap still live (after a GC) once the first and the last call returned: flat is the goal. */
  retainedHeapFirstCallMb: number;
  retainedHeapLastCallMb: number;
}

/** One store's run: its figures, or why it has none. */
export interface StoreOutcome {
  name: StoreName;
  server: string;
  /** Seconds to start the server (0 for SQLite). */
  serverStartSeconds: number;
  figures?: StoreFigures;
  error?: string;
}

/** Every store's outcome, and the parameters they ran with. */
export interface StoresBenchResult {
  params: StoresBenchParams;
  stores: StoreOutcome[];
  durationSeconds: number;
}

export interface StoresBenchOptions extends StoresBenchParams {
  /** Only these stores (all four by default). */
  only?: readonly StoreName[];
  /** Progress lines, printed as they happen. */
  progress: (line: string) => void;
}

// ---------------------------------------------------------------------------------------------
// Servers, workers and data dirs: none may outlive the benchmark.

interface RunningServer {
  env: Record<string, string>;
  stop(): Promise<void>;
}

const starting = new Set<Promise<RunningServer>>();
const servers = new Set<RunningServer>();
const workers = new Set<ChildProcess>();
const dataDirs = new Set<string>();

/**
 * Synchronous clean-up for exit handlers: kills the workers, removes the data dirs, and sends
 * each server's process group SIGTERM (a server's `stop()` signals before its first await).
 */
export function cleanUpStores(): void {
  for (const worker of workers) worker.kill('SIGKILL');
  workers.clear();
  for (const server of servers) void server.stop();
  servers.clear();
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
  dataDirs.clear();
}

/** Stops every server, including one still starting, and waits for them to exit (signal handlers). */
export async function stopStoreServers(): Promise<void> {
  const pending = await Promise.allSettled([...starting]);
  const all = new Set(servers);
  for (const p of pending) if (p.status === 'fulfilled') all.add(p.value);
  servers.clear();
  await Promise.allSettled([...all].map((s) => s.stop()));
}

async function startServer(name: StoreName): Promise<RunningServer | null> {
  if (name === 'sqlite') return null;
  const start =
    name === 'dynamodb'
      ? startDynamoDbServer()
      : name === 'cosmos'
        ? startCosmosServer()
        : startFirestoreServer();
  starting.add(start);
  try {
    const server = await start;
    servers.add(server);
    return server;
  } finally {
    starting.delete(start);
  }
}

async function stopServer(server: RunningServer | null): Promise<void> {
  if (server === null || !servers.delete(server)) return;
  await server.stop();
}

/**
 * Runs one store's worker: progress lines go to `progress`, the last line is its figures.
 * Killed after `timeoutMs`.
 */
function runWorker(
  name: StoreName,
  params: StoresBenchParams,
  env: Record<string, string>,
  timeoutMs: number,
  progress: (line: string) => void,
): Promise<StoreFigures> {
  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', WORKER, name], {
    cwd: ROOT,
    env: { ...process.env, ...env, BENCH_STORES_PARAMS: JSON.stringify(params) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  workers.add(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-8192);
  });
  let figures: StoreFigures | undefined;
  let failure: string | undefined;
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (line.startsWith('result ')) figures = JSON.parse(line.slice('result '.length)) as StoreFigures;
    else if (line.startsWith('error ')) failure = JSON.parse(line.slice('error '.length)) as string;
    else if (line.startsWith('progress ')) progress(`${name}: ${line.slice('progress '.length)}`);
  });
  const timer = setTimeout(() => {
    stderr += `\n(killed after ${timeoutMs / 1000} s)`;
    child.kill('SIGKILL');
  }, timeoutMs);
  return new Promise((resolve, reject) => {
    child.on('error', (error) => reject(new Error(`${name} worker could not start: ${error.message}`)));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      workers.delete(child);
      if (code === 0 && figures !== undefined) return resolve(figures);
      reject(
        new Error(
          `${name} worker exited (${signal ?? code}): ${failure ?? 'no error reported'}\n${stderr.trim()}`,
        ),
      );
    });
  });
}

/**
 * Measures each store in turn: starts its server, runs its worker, stops the server. A store
 * that fails is reported with its error and the others still run.
 *
 * @example
 * const { stores } = await runStoresBench({ ...params, progress: console.log });
 */
export async function runStoresBench(options: StoresBenchOptions): Promise<StoresBenchResult> {
  const { progress, only, ...params } = options;
  const started = performance.now();
  const outcomes: StoreOutcome[] = [];
  for (const name of only ?? STORE_NAMES) {
    const outcome: StoreOutcome = { name, server: STORE_SERVERS[name], serverStartSeconds: 0 };
    outcomes.push(outcome);
    let server: RunningServer | null = null;
    const dataDir = mkdtempSync(join(tmpdir(), `portcullis-bench-${name}-`));
    dataDirs.add(dataDir);
    try {
      if (name !== 'sqlite') progress(`${name}: starting ${STORE_SERVERS[name]}…`);
      const t0 = performance.now();
      server = await startServer(name);
      outcome.serverStartSeconds = (performance.now() - t0) / 1000;
      const env = { ...server?.env, BENCH_DATA_DIR: dataDir };
      // The bulk budget, plus room for the reads, the writes and a slow start or close.
      const timeoutMs =
        params.bulkBudgetMs * 2 +
        params.readBudgetMs +
        params.writeWarmupMs +
        params.writeDurationMs +
        120_000;
      outcome.figures = await runWorker(name, params, env, timeoutMs, progress);
    } catch (error) {
      outcome.error = error instanceof Error ? error.message : String(error);
      progress(`${name}: FAILED: ${outcome.error.split('\n')[0]}`);
    } finally {
      await stopServer(server);
      rmSync(dataDir, { recursive: true, force: true });
      dataDirs.delete(dataDir);
    }
  }
  return { params, stores: outcomes, durationSeconds: (performance.now() - started) / 1000 };
}
