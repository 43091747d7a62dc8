/**
 * Webhook latency, measured side by side with a bare Node HTTPS server (DESIGN.md §7): the
 * built emulator runs as a child process with a registered cluster, imported scans and rules,
 * and answers real AdmissionReviews (recorded as in production); then a bare server with the
 * same certificate answers the same requests with a canned response. Both are driven
 * identically from this process.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { admissionReview, BENCH_CLUSTER, benchScans } from './fixtures.js';
import { type LoadResult, post, runLoad, send } from './load.js';
import { benchRules } from './rules.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
const EMULATOR_BUNDLE = join(ROOT, 'dist', 'emulator.mjs');
const HOST = '127.0.0.1';
const ADMIN_KEY = `bench-admin-key-${randomUUID()}`;

/** How hard and how long to drive each server. */
export interface WebhookBenchOptions {
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  /** Extra node flags for the emulator process, e.g. `--cpu-prof` to profile it. */
  emulatorNodeArgs?: string[];
  /** Progress lines (set-up steps), printed as they happen. */
  progress: (line: string) => void;
}

/** The two runs and what the webhook decided. */
export interface WebhookBenchResult {
  webhook: LoadResult;
  baseline: LoadResult;
  /** Webhook p99 over the bare server's p99. */
  p99Ratio: number;
  /** The decision the webhook gave the benchmark Deployment (Allowed / Audited / Denied). */
  decision: string;
  /** Admission events the emulator recorded during the run (as its summary counts them). */
  recordedEvents: number;
  /** Median of the evaluation latency the emulator itself recorded per event, in ms. */
  recordedLatencyP50Ms: number;
  /** Bytes of one recorded event as the monitoring API returns it (JSON). */
  recordedEventBytes: number;
  requestBytes: number;
  responseBytes: number;
  rules: number;
}

// ---------------------------------------------------------------------------------------------
// Child processes

/** Every child this process started and every data dir it made, so that none outlive it. */
const children = new Set<ChildProcess>();
const dataDirs = new Set<string>();

/**
 * Kills every child still running and removes the data dirs; synchronous, for exit and signal
 * handlers, where nothing may be awaited.
 */
export function cleanUp(): void {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
  dataDirs.clear();
}

interface Server {
  name: string;
  child: ChildProcess;
  /** The last lines the child printed, to explain a failure. */
  output: () => string;
  exited: Promise<number | null>;
}

function startChild(name: string, args: string[], env: Record<string, string>): Server {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-8192);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code) => {
      children.delete(child);
      resolve(code);
    });
    child.on('error', (error) => {
      keep(Buffer.from(String(error)));
      children.delete(child);
      resolve(null);
    });
  });
  return { name, child, output: () => output, exited };
}

/** Asks the child to stop (SIGTERM), and kills it if it has not within 3 s. */
async function stopChild(server: Server): Promise<void> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return;
  server.child.kill('SIGTERM');
  const timer = setTimeout(() => server.child.kill('SIGKILL'), 3000);
  await server.exited;
  clearTimeout(timer);
}

/** A TCP port that was free a moment ago (the child binds it next). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, HOST, () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/** Polls `GET url` until it answers 200; fails early with the child's output if it exits. */
async function waitHealthy(server: Server, url: URL, agent: Agent, timeoutMs = 30_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let exited = false;
  void server.exited.then(() => {
    exited = true;
  });
  let last = '';
  while (performance.now() < deadline) {
    if (exited) throw new Error(`${server.name} exited before it was ready:\n${server.output()}`);
    try {
      const answer = await send(url, agent, 'GET');
      if (answer.status === 200) return;
      last = `HTTP ${answer.status}`;
    } catch (error) {
      last = String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${server.name} not ready after ${timeoutMs} ms (${last}):\n${server.output()}`);
}

// ---------------------------------------------------------------------------------------------
// The emulator and its set-up

interface Emulator {
  server: Server;
  base: URL;
  caPath: string;
  certPath: string;
  keyPath: string;
  /** An agent for admin calls (not the one under load). */
  agent: Agent;
}

async function startEmulator(dataDir: string, nodeArgs: string[]): Promise<Emulator> {
  if (!existsSync(EMULATOR_BUNDLE)) {
    throw new Error(`${EMULATOR_BUNDLE} is missing: run \`npm run build\` (npm run bench does)`);
  }
  const port = await freePort();
  const server = startChild('emulator', [...nodeArgs, EMULATOR_BUNDLE], {
    PORTCULLIS_DATA_DIR: dataDir,
    PORTCULLIS_PORT: String(port),
    PORTCULLIS_HOST: HOST,
    PORTCULLIS_ADMIN_KEY: ADMIN_KEY,
    PORTCULLIS_LOG: 'silent',
  });
  const tls = join(dataDir, 'tls');
  const base = new URL(`https://${HOST}:${port}`);
  // The CA is written at start-up; until then, trust nothing and keep polling.
  const deadline = performance.now() + 30_000;
  while (!existsSync(join(tls, 'server.pem')) && performance.now() < deadline) {
    if (server.child.exitCode !== null) throw new Error(`emulator exited at start:\n${server.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const agent = new Agent({ keepAlive: true, ca: readFileSync(join(tls, 'ca.pem')) });
  await waitHealthy(server, new URL('/healthz', base), agent);
  return {
    server,
    base,
    caPath: join(tls, 'ca.pem'),
    certPath: join(tls, 'server.pem'),
    keyPath: join(tls, 'server-key.pem'),
    agent,
  };
}

/** Calls the admin API as the bootstrap admin; throws with the answer on anything but 2xx. */
async function admin(emulator: Emulator, method: string, path: string, body?: unknown): Promise<unknown> {
  const answer = await send(
    new URL(path, emulator.base),
    emulator.agent,
    method,
    body === undefined ? undefined : JSON.stringify(body),
    { authorization: `Bearer ${ADMIN_KEY}` },
  );
  if (answer.status < 200 || answer.status > 299) {
    throw new Error(`${method} ${path}: HTTP ${answer.status}: ${answer.body.slice(0, 500)}`);
  }
  return answer.body === '' ? undefined : JSON.parse(answer.body);
}

/** Registers the cluster, imports the scans and creates the rules; returns the webhook URL. */
async function setUp(emulator: Emulator, now: Date): Promise<{ webhookUrl: URL; rules: number }> {
  const registration = (await admin(emulator, 'POST', '/api/v1/clusters', BENCH_CLUSTER)) as {
    token: string;
    webhookUrl: string;
  };
  const imported = (await admin(emulator, 'POST', '/api/v1/findings:import?format=native', {
    images: benchScans(now),
  })) as { images: number };
  if (imported.images !== 3) throw new Error(`expected 3 imported images, got ${imported.images}`);
  // 99 rules plus the default rule the emulator seeds: the evaluator benchmark's 100.
  for (const rule of benchRules(now, 99)) await admin(emulator, 'POST', '/api/v1/rules', rule);
  const { items } = (await admin(emulator, 'GET', '/api/v1/rules')) as { items: unknown[] };
  return {
    webhookUrl: new URL(new URL(registration.webhookUrl).pathname, emulator.base),
    rules: items.length,
  };
}

// ---------------------------------------------------------------------------------------------
// The benchmark

/** An AdmissionReview body per request, each with a fresh uid as the API server sends. */
function reviewBodies(): { next: () => string; bytes: number } {
  const marker = '@@uid@@';
  const [before, after] = JSON.stringify(admissionReview(marker)).split(marker) as [string, string];
  return {
    next: () => before + randomUUID() + after,
    bytes: Buffer.byteLength(before + randomUUID() + after),
  };
}

/** One AdmissionReview through the webhook, checked: the answer must echo the uid. */
async function preflight(url: URL, agent: Agent, body: string): Promise<{ body: string; decision: string }> {
  const answer = await post(url, agent, body);
  if (answer.status !== 200) throw new Error(`webhook answered HTTP ${answer.status}: ${answer.body}`);
  const review = JSON.parse(answer.body) as {
    response: { uid: string; allowed: boolean; auditAnnotations?: Record<string, string> };
  };
  const sentUid = (JSON.parse(body) as { request: { uid: string } }).request.uid;
  if (review.response.uid !== sentUid)
    throw new Error(`webhook answered uid ${review.response.uid}, not ${sentUid}`);
  return {
    body: answer.body,
    decision: review.response.auditAnnotations?.decision ?? String(review.response.allowed),
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? Number.NaN : sorted[Math.floor((sorted.length - 1) / 2)]!;
}

/**
 * Starts the emulator, sets it up, drives its webhook, then does the same to a bare HTTPS
 * server with the emulator's certificate. Children are stopped before this returns or throws.
 */
export async function runWebhookBench(options: WebhookBenchOptions): Promise<WebhookBenchResult> {
  const { concurrency, warmupMs, durationMs, progress } = options;
  const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-bench-'));
  dataDirs.add(dataDir);
  const started: Server[] = [];
  try {
    progress('starting the emulator (dist/emulator.mjs)…');
    const emulator = await startEmulator(dataDir, options.emulatorNodeArgs ?? []);
    started.push(emulator.server);
    const { webhookUrl, rules } = await setUp(emulator, new Date());
    progress(`registered cluster ${BENCH_CLUSTER.name}, imported 3 scans, ${rules} rules in force`);

    const bodies = reviewBodies();
    const load = { body: bodies.next, concurrency, warmupMs, durationMs };
    const webhookAgent = new Agent({
      keepAlive: true,
      maxSockets: concurrency,
      ca: readFileSync(emulator.caPath),
    });
    const first = await preflight(webhookUrl, webhookAgent, bodies.next());
    progress(
      `webhook: ${first.decision}; driving ${concurrency} in flight for ${(warmupMs + durationMs) / 1000} s…`,
    );
    const webhook = await runLoad({ ...load, url: webhookUrl, agent: webhookAgent });
    webhookAgent.destroy();

    const summary = (await admin(emulator, 'GET', '/api/v1/admissions/summary')) as {
      totals: Record<string, number>;
    };
    const recordedEvents = Object.values(summary.totals).reduce((n, v) => n + v, 0);
    const recent = (await admin(emulator, 'GET', '/api/v1/admissions?limit=200')) as {
      items: { latencyMs: number }[];
    };
    const recordedLatencyP50Ms = median(recent.items.map((e) => e.latencyMs));
    const recordedEventBytes = Buffer.byteLength(JSON.stringify(recent.items[0] ?? {}));
    emulator.agent.destroy();
    await stopChild(emulator.server);

    progress('starting the bare HTTPS server…');
    const port = await freePort();
    const bare = startChild('bare server', ['--import', 'tsx', join(HERE, 'bare-server.ts')], {
      BENCH_PORT: String(port),
      BENCH_HOST: HOST,
      BENCH_CERT: emulator.certPath,
      BENCH_KEY: emulator.keyPath,
      // The very answer the webhook gave, so both send the same bytes back.
      BENCH_RESPONSE: first.body,
    });
    started.push(bare);
    const bareUrl = new URL(`https://${HOST}:${port}/admission/bench`);
    const bareAgent = new Agent({
      keepAlive: true,
      maxSockets: concurrency,
      ca: readFileSync(emulator.caPath),
    });
    await waitHealthy(bare, bareUrl, bareAgent);
    progress(`bare server: driving ${concurrency} in flight for ${(warmupMs + durationMs) / 1000} s…`);
    const baseline = await runLoad({ ...load, url: bareUrl, agent: bareAgent });
    bareAgent.destroy();

    return {
      webhook,
      baseline,
      p99Ratio: webhook.p99Ms / baseline.p99Ms,
      decision: first.decision,
      recordedEvents,
      recordedLatencyP50Ms,
      recordedEventBytes,
      requestBytes: bodies.bytes,
      responseBytes: Buffer.byteLength(first.body),
      rules,
    };
  } finally {
    await Promise.all(started.map(stopChild));
    rmSync(dataDir, { recursive: true, force: true });
    dataDirs.delete(dataDir);
  }
}
