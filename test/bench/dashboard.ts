/**
 * The dashboard's weight and the monitoring queries behind it, over a realistic log: 100,000
 * admission events spread over the 90-day retention window are written straight into the
 * SQLite store through its AdmissionLog (the webhook would take minutes to make them), then the
 * built emulator serves them. Measured over HTTPS as a browser sees it: the bytes of the first
 * view (index.html and the assets it names, compressed as the server sends them) and the time
 * of `GET /api/v1/admissions/summary` over a day and over 90 days.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openSqliteStore } from '../../adapters/store/sqlite/index.js';
import type { AdmissionEvent, Decision } from '../../core/domain.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const HOST = '127.0.0.1';
const ADMIN_KEY = `bench-dashboard-${'k'.repeat(24)}`;
const DAY_MS = 86_400_000;

export interface DashboardBenchOptions {
  events: number;
  /** Timed calls per query, after one untimed warm-up call. */
  runs: number;
  progress: (line: string) => void;
}

interface Timing {
  firstMs: number;
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
}

export interface DashboardBenchResult {
  firstView: {
    requests: number;
    /** What travels with Accept-Encoding `gzip, deflate, br` (as Chromium asks), headers included. */
    transferredBytes: number;
    encoding: string;
    /** The same with gzip only. */
    gzipTransferredBytes: number;
    /** The bodies before compression. */
    uncompressedBytes: number;
    files: { path: string; bytes: number; uncompressed: number }[];
  };
  events: number;
  insertSeconds: number;
  summaryDay: Timing & { events: number };
  summary90Days: Timing & { events: number };
  topDay: Timing;
  exposure: Timing & { scannedEvents: number; truncated: boolean };
}

// ---------------------------------------------------------------------------------------------

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An event as the webhook records it: one or two images, triggered rules with their CVEs. */
function makeEvent(i: number, timeMs: number, random: () => number): AdmissionEvent {
  const r = random();
  const decision: Decision = r < 0.1 ? 'Denied' : r < 0.3 ? 'Audited' : 'Allowed';
  const namespace = `team-${Math.floor(random() * 20)}`;
  const name = `app-${Math.floor(random() * 400)}`;
  const imageCount = random() < 0.3 ? 2 : 1;
  const images = Array.from({ length: imageCount }, (_, k) => {
    const repo = `acme/service-${Math.floor(random() * 150)}`;
    const digest = `sha256:${(i * 31 + k).toString(16).padStart(64, '0')}`;
    const action = decision === 'Denied' ? 'Deny' : decision === 'Audited' ? 'Audit' : 'Allow';
    const vulnerabilities = Array.from({ length: 5 }, (_, v) => ({
      id: `CVE-2024-${1000 + ((i + v) % 300)}`,
      severity: 'High' as const,
      package: 'openssl',
    }));
    return {
      container: `c${k}`,
      containerType: 'container' as const,
      image: `ghcr.io/${repo}:1.${k}`,
      reference: `ghcr.io/${repo}:1.${k}`,
      digest,
      scanState: 'Scanned' as const,
      scannedAt: new Date(timeMs - DAY_MS).toISOString(),
      counts: { Critical: 0, High: 5, Medium: 12, Low: 30, Negligible: 4 },
      gated: true,
      action: action as 'Allow' | 'Audit' | 'Deny',
      triggeredRules:
        action === 'Allow'
          ? []
          : [
              {
                ruleId: action === 'Deny' ? 'r-deny' : 'r-audit',
                ruleName: action === 'Deny' ? 'deny-high-prod' : 'default-audit-high-critical',
                action: action as 'Audit' | 'Deny',
                configuredAction: action as 'Audit' | 'Deny',
                reason: 'Vulnerabilities' as const,
                vulnerabilities,
                vulnerabilityCount: 5,
              },
            ],
      exemptions: [],
      notes: [],
    };
  });
  return {
    id: `bench-${i.toString().padStart(7, '0')}`,
    uid: `uid-${i}`,
    time: new Date(timeMs).toISOString(),
    clusterId: `cluster-${i % 3}`,
    cluster: ['prod-eks', 'prod-aks', 'staging-gke'][i % 3]!,
    namespace,
    kind: 'Deployment',
    name,
    operation: random() < 0.7 ? 'UPDATE' : 'CREATE',
    user: 'system:serviceaccount:argocd:argocd-application-controller',
    dryRun: false,
    decision,
    message: decision === 'Allowed' ? '' : `Portcullis ${decision.toLowerCase()} Deployment ${name}`,
    warnings: [],
    images,
    rulesetVersion: '0123456789abc',
    latencyMs: 0.4,
    workload: { labels: { app: name }, podLabels: { app: name }, podName: name, deployment: name },
  };
}

/**
 * Writes `count` events over the last 89.9 days, oldest first, in group-committed batches
 * (also handy to profile the monitoring queries in process).
 */
export async function fillStore(path: string, count: number, now: number): Promise<void> {
  const store = openSqliteStore({ path });
  try {
    const random = mulberry32(42);
    const span = 89.9 * DAY_MS;
    const batch = 5000;
    for (let start = 0; start < count; start += batch) {
      const writes: Promise<void>[] = [];
      for (let i = start; i < Math.min(count, start + batch); i++) {
        writes.push(store.admissions.record(makeEvent(i, now - span + (span * i) / count, random)));
      }
      await Promise.all(writes);
    }
  } finally {
    await store.close();
  }
}

// ---------------------------------------------------------------------------------------------

interface Fetched {
  status: number;
  body: Buffer;
  headerBytes: number;
  encoding: string;
}

function get(url: URL, agent: Agent, headers: Record<string, string>): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        // Status line + each header line, as on the wire (HTTP/1.1).
        let headerBytes = `HTTP/1.1 ${res.statusCode} ${res.statusMessage}\r\n`.length + 2;
        for (let i = 0; i < res.rawHeaders.length; i += 2) {
          headerBytes += `${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}\r\n`.length;
        }
        resolve({
          status: res.statusCode ?? 0,
          body: Buffer.concat(chunks),
          headerBytes,
          encoding: String(res.headers['content-encoding'] ?? 'identity'),
        });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

async function firstView(base: URL, agent: Agent, acceptEncoding: string) {
  const headers = { 'accept-encoding': acceptEncoding, accept: '*/*' };
  const index = await get(new URL('/', base), agent, headers);
  if (index.status !== 200) throw new Error(`GET / answered ${index.status}: is dist/web built?`);
  const { gunzipSync, brotliDecompressSync } = await import('node:zlib');
  const decode = (f: Fetched) =>
    f.encoding === 'br' ? brotliDecompressSync(f.body) : f.encoding === 'gzip' ? gunzipSync(f.body) : f.body;
  const html = decode(index).toString('utf8');
  const paths = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!);
  const files = [{ path: '/', fetched: index, uncompressed: decode(index).length }];
  for (const path of paths) {
    const fetched = await get(new URL(path, base), agent, headers);
    if (fetched.status !== 200) throw new Error(`GET ${path} answered ${fetched.status}`);
    files.push({ path, fetched, uncompressed: decode(fetched).length });
  }
  return {
    encoding: index.encoding,
    requests: files.length,
    transferred: files.reduce((n, f) => n + f.fetched.body.length + f.fetched.headerBytes, 0),
    uncompressed: files.reduce((n, f) => n + f.uncompressed, 0),
    files: files.map((f) => ({ path: f.path, bytes: f.fetched.body.length, uncompressed: f.uncompressed })),
  };
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function timed<T>(runs: number, call: () => Promise<T>): Promise<{ timing: Timing; last: T }> {
  let t = performance.now();
  let last = await call();
  const firstMs = performance.now() - t;
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    t = performance.now();
    last = await call();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return {
    timing: { firstMs, p50Ms: quantile(times, 0.5), p95Ms: quantile(times, 0.95), maxMs: times.at(-1)! },
    last,
  };
}

async function api<T>(base: URL, agent: Agent, path: string): Promise<T> {
  const res = await get(new URL(`/api/v1${path}`, base), agent, { authorization: `Bearer ${ADMIN_KEY}` });
  if (res.status !== 200)
    throw new Error(`GET ${path} answered ${res.status}: ${res.body.toString().slice(0, 300)}`);
  return JSON.parse(res.body.toString('utf8')) as T;
}

/** Starts dist/emulator.mjs on `dataDir`; resolves with its base URL once /healthz answers. */
async function startEmulator(dataDir: string): Promise<{ child: ChildProcess; base: URL; agent: Agent }> {
  const bundle = join(ROOT, 'dist', 'emulator.mjs');
  if (!existsSync(bundle) || !existsSync(join(ROOT, 'dist', 'web', 'index.html'))) {
    throw new Error('dist/ is not built: run `npm run build` (npm run bench does)');
  }
  const child = spawn(process.execPath, [bundle], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORTCULLIS_DATA_DIR: dataDir,
      PORTCULLIS_PORT: '0',
      PORTCULLIS_HOST: HOST,
      PORTCULLIS_ADMIN_KEY: ADMIN_KEY,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let output = '';
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`emulator did not start in 60 s:\n${output}`)), 60_000);
    const check = () => {
      const m = /admin API:\s+(https:\/\/[^/\s]+)\/api\/v1/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout?.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`emulator exited with ${code}:\n${output}`));
    });
  });
  const agent = new Agent({ keepAlive: true, ca: readFileSync(join(dataDir, 'tls', 'ca.pem')) });
  return { child, base: new URL(url.replace('localhost', HOST)), agent };
}

/** Fills a store, starts the emulator on it, and measures. The emulator is stopped before returning. */
export async function runDashboardBench(options: DashboardBenchOptions): Promise<DashboardBenchResult> {
  const { events, runs, progress } = options;
  const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-bench-dashboard-'));
  try {
    const now = Date.now();
    progress(`writing ${events.toLocaleString('en-US')} admission events over 90 days into SQLite…`);
    const t = performance.now();
    await fillStore(join(dataDir, 'portcullis.db'), events, now);
    const insertSeconds = (performance.now() - t) / 1000;
    progress(`written in ${insertSeconds.toFixed(1)} s; starting the emulator (dist/emulator.mjs)…`);
    const emulator = await startEmulator(dataDir);
    try {
      const { base, agent } = emulator;
      const view = await firstView(base, agent, 'gzip, deflate, br');
      const gzipView = await firstView(base, agent, 'gzip');
      progress(
        `first view: ${view.requests} requests, ${view.transferred} B (${view.encoding}); timing queries…`,
      );
      const to = new Date().toISOString();
      const dayFrom = new Date(Date.now() - DAY_MS).toISOString();
      const ninetyFrom = new Date(Date.now() - 90 * DAY_MS).toISOString();
      type Summary = { totals: Record<string, number> };
      const total = (s: Summary) => Object.values(s.totals).reduce((n, v) => n + v, 0);
      const day = await timed(runs, () =>
        api<Summary>(base, agent, `/admissions/summary?from=${dayFrom}&to=${to}&bucket=hour`),
      );
      const ninety = await timed(runs, () =>
        api<Summary>(base, agent, `/admissions/summary?from=${ninetyFrom}&to=${to}&bucket=day`),
      );
      const top = await timed(runs, () => api(base, agent, `/admissions/top?from=${dayFrom}&to=${to}`));
      const exposure = await timed(Math.min(runs, 5), () =>
        api<{ scannedEvents: number; truncated: boolean }>(base, agent, '/exposure'),
      );
      agent.destroy();
      return {
        firstView: {
          requests: view.requests,
          transferredBytes: view.transferred,
          encoding: view.encoding,
          gzipTransferredBytes: gzipView.transferred,
          uncompressedBytes: view.uncompressed,
          files: view.files,
        },
        events,
        insertSeconds,
        summaryDay: { ...day.timing, events: total(day.last) },
        summary90Days: { ...ninety.timing, events: total(ninety.last) },
        topDay: top.timing,
        exposure: {
          ...exposure.timing,
          scannedEvents: exposure.last.scannedEvents,
          truncated: exposure.last.truncated,
        },
      };
    } finally {
      emulator.child.kill('SIGTERM');
      await new Promise((resolve) => {
        if (emulator.child.exitCode !== null) resolve(null);
        else emulator.child.once('exit', resolve);
      });
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const ms = (n: number) => n.toFixed(1);
const int = (n: number) => Math.round(n).toLocaleString('en-US');

/** The printed lines of the section. */
export function printDashboard(r: DashboardBenchResult): string[] {
  const v = r.firstView;
  const row = (name: string, x: Timing, extra = '') =>
    `  ${name.padEnd(26)}${ms(x.firstMs).padStart(9)}${ms(x.p50Ms).padStart(9)}${ms(x.p95Ms).padStart(9)}${ms(x.maxMs).padStart(9)}  ${extra}`;
  return [
    `dashboard  first view: ${v.requests} requests (${v.files.map((f) => f.path).join(', ')}), ` +
      `${int(v.transferredBytes)} B transferred (${v.encoding}, headers included); ` +
      `${int(v.gzipTransferredBytes)} B with gzip; ${int(v.uncompressedBytes)} B uncompressed`,
    ...v.files.map(
      (f) => `    ${f.path.padEnd(30)}${int(f.bytes).padStart(8)} B  (${int(f.uncompressed)} B uncompressed)`,
    ),
    `  over ${int(r.events)} admission events in SQLite (written in ${r.insertSeconds.toFixed(1)} s), HTTPS, one at a time:`,
    `  ${'query'.padEnd(26)}${'first ms'.padStart(9)}${'p50 ms'.padStart(9)}${'p95 ms'.padStart(9)}${'max ms'.padStart(9)}`,
    row('summary, last day (hour)', r.summaryDay, `${int(r.summaryDay.events)} events counted`),
    row('summary, 90 days (day)', r.summary90Days, `${int(r.summary90Days.events)} events counted`),
    row('top denied, last day', r.topDay),
    row(
      'exposure',
      r.exposure,
      `${int(r.exposure.scannedEvents)} events read${r.exposure.truncated ? ' (capped)' : ''}`,
    ),
  ];
}

/**
 * Runs the section, prints it and merges `dashboard` into the results file (other sections
 * kept).
 *
 * @example if (only === 'dashboard') return runDashboardSection(RESULTS);
 */
export async function runDashboardSection(resultsPath: string): Promise<void> {
  const r = await runDashboardBench({ events: 100_000, runs: 20, progress: (l) => console.log(`  . ${l}`) });
  console.log(`${printDashboard(r).join('\n')}\n`);
  let results: Record<string, unknown> = {};
  try {
    results = JSON.parse(readFileSync(resultsPath, 'utf8')) as Record<string, unknown>;
  } catch {
    // A first run: no file yet.
  }
  const round = (x: Timing) => ({
    firstMs: Number(x.firstMs.toFixed(2)),
    p50Ms: Number(x.p50Ms.toFixed(2)),
    p95Ms: Number(x.p95Ms.toFixed(2)),
    maxMs: Number(x.maxMs.toFixed(2)),
  });
  results.dashboard = {
    firstViewRequests: r.firstView.requests,
    firstViewTransferredBytes: r.firstView.transferredBytes,
    firstViewEncoding: r.firstView.encoding,
    firstViewGzipTransferredBytes: r.firstView.gzipTransferredBytes,
    firstViewUncompressedBytes: r.firstView.uncompressedBytes,
    firstViewFiles: r.firstView.files,
    events: r.events,
    summaryDay: { ...round(r.summaryDay), events: r.summaryDay.events },
    summary90Days: { ...round(r.summary90Days), events: r.summary90Days.events },
    topDeniedDay: round(r.topDay),
    exposure: {
      ...round(r.exposure),
      scannedEvents: r.exposure.scannedEvents,
      truncated: r.exposure.truncated,
    },
    measuredAt: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
  };
  mkdirSync(dirname(resultsPath), { recursive: true });
  writeFileSync(resultsPath, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`dashboard figures merged into ${resultsPath}`);
}
