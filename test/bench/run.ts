/**
 * `npm run bench`: the evaluator's throughput, the webhook's latency beside a bare HTTPS
 * server (DESIGN.md §7), the four store adapters side by side on their local servers
 * (issue 3), and each cloud function's bundle size beside its cold import time (functions.ts). Speed is measured, never asserted: the figures are printed with their goals and
 * merged into `.bench/results.json`; a missed goal is called out, not failed.
 *
 * `npm run bench -- <section>` runs one section (the others' figures in the results file are
 * kept); `-- stores sqlite,cosmos` runs some of the stores. To profile the emulator under load,
 * pass node flags through BENCH_EMULATOR_NODE_ARGS, e.g.
 * `BENCH_EMULATOR_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"`.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runDashboardSection } from './dashboard.js';
import { type EvaluatorBenchResult, runEvaluatorBench } from './evaluator.js';
import { runFunctionsSection } from './functions.js';
import {
  cleanUpStores,
  runStoresBench,
  STORE_NAMES,
  type StoreName,
  type StoresBenchParams,
  type StoresBenchResult,
  stopStoreServers,
} from './stores.js';
import { runSyncSection } from './sync.js';
import { cleanUp, runWebhookBench, type WebhookBenchResult } from './webhook.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const RESULTS = join(ROOT, '.bench', 'results.json');

const EVALUATOR = { warmupMs: 1000, durationMs: 3000, goalPerSecond: 20_000 };
const WEBHOOK = { concurrency: 16, warmupMs: 1000, durationMs: 5000, goalP99Ratio: 3 };
/**
 * The local servers are slow (DynamoDB Local and the Firestore emulator take hundreds of writes
 * a second), so each store's bulk run stops after a budget and reports the N it reached; the
 * section as a whole takes about six minutes.
 */
const STORES: StoresBenchParams = {
  bulkImages: 10_000,
  vulnerabilitiesPerImage: 50,
  scansPerCall: 1000,
  bulkWarmupScans: 100,
  bulkBudgetMs: 35_000,
  readWarmup: 100,
  reads: 2000,
  readBudgetMs: 20_000,
  writeConcurrency: 16,
  writeWarmupMs: 1000,
  writeDurationMs: 5000,
  extraRules: 9,
  requestTimeoutMs: 15_000,
};
const SECTIONS = ['evaluator', 'webhook', 'stores', 'sync', 'dashboard', 'functions'] as const;
type Section = (typeof SECTIONS)[number];

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number) => n.toFixed(2);

function printEvaluator(r: EvaluatorBenchResult): string[] {
  const met = r.evalsPerSecond >= EVALUATOR.goalPerSecond;
  const lines = [
    `evaluator  ${r.rules} rules, 3 images x ${r.vulnerabilitiesPerImage} vulnerabilities, one core ` +
      `(decision ${r.decision}; ${r.triggeredRules} rule-image pairs triggered)`,
    `  ${int(r.evalsPerSecond).padStart(9)} evals/s (${int(r.evalsPerCpuSecond)} per CPU-second)   ` +
      `${r.meanMicros.toFixed(1)} us each   ` +
      `goal >= ${int(EVALUATOR.goalPerSecond)}/s  ${met ? 'met' : 'MISSED'}`,
  ];
  if (!met)
    lines.push(
      `  NOTE: evaluator goal missed: ${int(r.evalsPerSecond)}/s < ${int(EVALUATOR.goalPerSecond)}/s`,
    );
  return lines;
}

function printWebhook(r: WebhookBenchResult): string[] {
  const row = (name: string, l: WebhookBenchResult['webhook']) =>
    `  ${name.padEnd(12)}${ms(l.p50Ms).padStart(8)}${ms(l.p99Ms).padStart(9)}${ms(l.maxMs).padStart(9)}` +
    `${int(l.requestsPerSecond).padStart(9)}${String(l.errors).padStart(8)}`;
  const met = r.p99Ratio <= WEBHOOK.goalP99Ratio;
  const lines = [
    `webhook    ${WEBHOOK.concurrency} in flight, ${WEBHOOK.durationMs / 1000} s after ${WEBHOOK.warmupMs / 1000} s ` +
      `warm-up; ${r.requestBytes} B AdmissionReview in, ${r.responseBytes} B out (${r.decision})`,
    `  ${''.padEnd(12)}${'p50 ms'.padStart(8)}${'p99 ms'.padStart(9)}${'max ms'.padStart(9)}${'req/s'.padStart(9)}${'errors'.padStart(8)}`,
    row('webhook', r.webhook),
    row('bare https', r.baseline),
    `  p99 ratio ${r.p99Ratio.toFixed(2)}x   goal <= ${WEBHOOK.goalP99Ratio}x  ${met ? 'met' : 'MISSED'}`,
    `  emulator recorded ${int(r.recordedEvents)} admission events; median evaluation latency it ` +
      `recorded ${ms(r.recordedLatencyP50Ms)} ms; one event is ${int(r.recordedEventBytes)} B of JSON`,
  ];
  for (const [name, l] of [
    ['webhook', r.webhook],
    ['bare server', r.baseline],
  ] as const) {
    if (l.errors > 0) lines.push(`  NOTE: ${name} had ${l.errors} failed requests; first: ${l.firstError}`);
  }
  if (!met) {
    lines.push(
      `  NOTE: webhook goal missed: p99 is ${r.p99Ratio.toFixed(2)}x the bare server's (goal ${WEBHOOK.goalP99Ratio}x)`,
    );
  }
  return lines;
}

const mb = (n: number) => n.toFixed(0);

function printStores(r: StoresBenchResult): string[] {
  const p = r.params;
  const sample = r.stores.find((s) => s.figures !== undefined)?.figures;
  const lines = [
    'stores     LOCAL-EMULATOR FIGURES: the adapters against SQLite, DynamoDB Local, @vercel/cosmosdb-server',
    '           and the Firestore emulator on this machine, not against the cloud services; request timeouts',
    `           raised to ${p.requestTimeoutMs / 1000} s for these slow local servers (the adapters default to 3-5 s)`,
    `  read     getScan, ${int(p.readWarmup)} warm-up + ${int(p.reads)} sequential (at most ${p.readBudgetMs / 1000} s), ` +
      `no cache; random digests among`,
    `           the images the bulk run wrote (${p.vulnerabilitiesPerImage} vulnerabilities each)`,
    `  events   admissions.record, ${p.writeConcurrency} in flight, ${p.writeDurationMs / 1000} s after ` +
      `${p.writeWarmupMs / 1000} s warm-up; 3 images` +
      (sample === undefined
        ? ''
        : `, ${sample.eventTriggeredRules} rule-image pairs triggered, ${int(sample.eventBytes)} B as JSON`),
    `  bulk     upsertScans, ${int(p.scansPerCall)} scans per call (as a sync pages them), ` +
      `${int(p.bulkImages)} images x ${p.vulnerabilitiesPerImage} vulnerabilities asked;`,
    `           no call begun after ${p.bulkBudgetMs / 1000} s; N = images done (after ${p.bulkWarmupScans} unmeasured)`,
    '  memory   the worker process running the store (servers are separate processes): peak (+ growth over',
    '           the pre-run baseline) during the bulk run, and heap kept after a GC after the first and last call',
    `  ${'store'.padEnd(10)}${'read p50'.padStart(9)}${'p99 ms'.padStart(8)}${'events/s'.padStart(9)}` +
      `${'N'.padStart(8)}${'scans/s'.padStart(9)}${'vulns/s'.padStart(10)}` +
      `${'peak RSS MB'.padStart(14)}${'peak heap MB'.padStart(14)}${'kept heap MB'.padStart(14)}`,
  ];
  const notes: string[] = [];
  for (const { name, figures: f, error } of r.stores) {
    if (f === undefined) {
      lines.push(`  ${name.padEnd(10)}FAILED: ${error?.split('\n')[0] ?? 'no figures'}`);
      continue;
    }
    const growth = (peak: number, base: number) => `${mb(peak)} (+${mb(peak - base)})`;
    lines.push(
      `  ${name.padEnd(10)}${ms(f.scanReadP50Ms).padStart(9)}${ms(f.scanReadP99Ms).padStart(8)}` +
        `${int(f.eventWritesPerSecond).padStart(9)}${`${int(f.bulkImages)}${f.bulkComplete ? '' : '*'}`.padStart(8)}` +
        `${int(f.bulkScansPerSecond).padStart(9)}${int(f.bulkVulnerabilitiesPerSecond).padStart(10)}` +
        `${growth(f.peakRssMb, f.baselineRssMb).padStart(14)}${growth(f.peakHeapMb, f.baselineHeapMb).padStart(14)}` +
        `${`${mb(f.retainedHeapFirstCallMb)} -> ${mb(f.retainedHeapLastCallMb)}`.padStart(14)}`,
    );
    if (!f.bulkComplete) {
      notes.push(
        `  * ${name}: bulk measured at N = ${int(f.bulkImages)}, not ${int(p.bulkImages)}: stopped at the ` +
          `${p.bulkBudgetMs / 1000} s budget (${f.bulkSeconds.toFixed(0)} s inside upsertScans); its rates are over those N`,
      );
    }
    if (f.scanReads < p.reads) {
      notes.push(
        `  * ${name}: read p50/p99 over ${int(f.scanReads)} reads, not ${int(p.reads)}: ` +
          `stopped at the ${p.readBudgetMs / 1000} s budget`,
      );
    }
    const kept = f.retainedHeapLastCallMb - f.retainedHeapFirstCallMb;
    if (kept > 5 && kept > 0.2 * f.retainedHeapFirstCallMb) {
      notes.push(`  NOTE: ${name}: the heap kept between calls grew by ${mb(kept)} MB over the bulk run`);
    }
    if (f.eventWriteErrors > 0) {
      notes.push(
        `  NOTE: ${name}: ${f.eventWriteErrors} failed event writes; first: ${f.eventWriteFirstError}`,
      );
    }
  }
  for (const { name, error } of r.stores) {
    if (error === undefined) continue;
    notes.push(`  NOTE: ${name} failed: ${error.split('\n').slice(0, 6).join('\n    ')}`);
  }
  return [...lines, ...notes, `  (${r.durationSeconds.toFixed(0)} s in all, server starts included)`];
}

/** Reads the results file so that sections written by other benchmarks survive. */
function previousResults(): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(readFileSync(RESULTS, 'utf8'));
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}

function storesSection(r: StoresBenchResult, previous: unknown, stamp: Record<string, unknown>) {
  const round = (n: number, digits: number) => Number(n.toFixed(digits));
  // Stores not run this time keep their last figures.
  const section: Record<string, unknown> =
    typeof previous === 'object' && previous !== null ? { ...(previous as Record<string, unknown>) } : {};
  for (const { name, server, figures: f, error } of r.stores) {
    section[name] =
      f === undefined
        ? { server, error, ...stamp }
        : {
            scanReadP50Ms: round(f.scanReadP50Ms, 3),
            scanReadP99Ms: round(f.scanReadP99Ms, 3),
            eventWritesPerSecond: Math.round(f.eventWritesPerSecond),
            bulkScansPerSecond: Math.round(f.bulkScansPerSecond),
            bulkVulnerabilitiesPerSecond: Math.round(f.bulkVulnerabilitiesPerSecond),
            peakRssMb: round(f.peakRssMb, 1),
            peakHeapMb: round(f.peakHeapMb, 1),
            rssGrowthMb: round(f.peakRssMb - f.baselineRssMb, 1),
            heapGrowthMb: round(f.peakHeapMb - f.baselineHeapMb, 1),
            retainedHeapFirstCallMb: round(f.retainedHeapFirstCallMb, 1),
            retainedHeapLastCallMb: round(f.retainedHeapLastCallMb, 1),
            bulkImages: f.bulkImages,
            bulkComplete: f.bulkComplete,
            bulkSeconds: round(f.bulkSeconds, 2),
            scanReadMaxMs: round(f.scanReadMaxMs, 3),
            scanReads: f.scanReads,
            readSetImages: f.readSetImages,
            eventWriteP50Ms: round(f.eventWriteP50Ms, 3),
            eventWriteP99Ms: round(f.eventWriteP99Ms, 3),
            eventWriteErrors: f.eventWriteErrors,
            server,
            ...stamp,
          };
  }
  section.parameters = {
    ...r.params,
    eventImages: 3,
    note: 'local-emulator figures: the adapters against local servers, not the cloud services',
  };
  return section;
}

function writeResults(
  evaluator: EvaluatorBenchResult | undefined,
  webhook: WebhookBenchResult | undefined,
  stores: StoresBenchResult | undefined,
): void {
  const results = previousResults();
  const measuredAt = new Date().toISOString();
  const machine = { node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown' };
  if (evaluator !== undefined) {
    results.evaluator = {
      evalsPerSecond: Math.round(evaluator.evalsPerSecond),
      evalsPerCpuSecond: Math.round(evaluator.evalsPerCpuSecond),
      goalEvalsPerSecond: EVALUATOR.goalPerSecond,
      meanMicros: Number(evaluator.meanMicros.toFixed(2)),
      durationSeconds: Number(evaluator.durationSeconds.toFixed(2)),
      rules: evaluator.rules,
      images: 3,
      vulnerabilitiesPerImage: evaluator.vulnerabilitiesPerImage,
      decision: evaluator.decision,
      measuredAt,
      ...machine,
    };
  }
  if (webhook !== undefined) {
    const round = (n: number) => Number(n.toFixed(3));
    results.webhook = {
      p50Ms: round(webhook.webhook.p50Ms),
      p99Ms: round(webhook.webhook.p99Ms),
      requestsPerSecond: Math.round(webhook.webhook.requestsPerSecond),
      baselineP50Ms: round(webhook.baseline.p50Ms),
      baselineP99Ms: round(webhook.baseline.p99Ms),
      baselineRequestsPerSecond: Math.round(webhook.baseline.requestsPerSecond),
      p99Ratio: round(webhook.p99Ratio),
      goalP99Ratio: WEBHOOK.goalP99Ratio,
      concurrency: WEBHOOK.concurrency,
      durationSeconds: webhook.webhook.durationSeconds,
      warmupSeconds: WEBHOOK.warmupMs / 1000,
      errors: webhook.webhook.errors,
      baselineErrors: webhook.baseline.errors,
      decision: webhook.decision,
      rules: webhook.rules,
      recordedEvents: webhook.recordedEvents,
      measuredAt,
      ...machine,
    };
  }
  if (stores !== undefined)
    results.stores = storesSection(stores, results.stores, { measuredAt, ...machine });
  mkdirSync(dirname(RESULTS), { recursive: true });
  writeFileSync(RESULTS, `${JSON.stringify(results, null, 2)}\n`);
}

/** The stores named by `-- stores a,b` (all four without a list). */
function storeList(arg: string | undefined): StoreName[] | undefined {
  if (arg === undefined) return undefined;
  const names = arg.split(',').filter((n) => n !== '');
  for (const name of names) {
    if (!(STORE_NAMES as readonly string[]).includes(name)) {
      throw new Error(`unknown store "${name}"; use ${STORE_NAMES.join(', ')}`);
    }
  }
  return names as StoreName[];
}

async function main(): Promise<void> {
  const only = process.argv[2];
  if (await runSyncSection(only)) return;
  if (await runFunctionsSection(only, ROOT, RESULTS)) return;
  if (only === 'dashboard') return runDashboardSection(RESULTS);
  if (only !== undefined && !(SECTIONS as readonly string[]).includes(only)) {
    throw new Error(`unknown section "${only}"; use ${SECTIONS.join(', ')}, or nothing for all`);
  }
  const runs = (section: Section) => only === undefined || only === section;
  const stores = storeList(only === 'stores' ? process.argv[3] : undefined);
  const cpu = cpus();
  console.log(
    `Portcullis benchmarks: node ${process.version}, ${cpu.length} CPUs (${cpu[0]?.model ?? 'unknown'})\n`,
  );

  let evaluator: EvaluatorBenchResult | undefined;
  if (runs('evaluator')) {
    evaluator = runEvaluatorBench(EVALUATOR);
    console.log(`${printEvaluator(evaluator).join('\n')}\n`);
  }
  let webhook: WebhookBenchResult | undefined;
  if (runs('webhook')) {
    webhook = await runWebhookBench({
      ...WEBHOOK,
      emulatorNodeArgs: process.env.BENCH_EMULATOR_NODE_ARGS?.split(' ').filter((a) => a !== ''),
      progress: (line) => console.log(`  . ${line}`),
    });
    console.log(`${printWebhook(webhook).join('\n')}\n`);
  }
  let storesResult: StoresBenchResult | undefined;
  if (runs('stores')) {
    storesResult = await runStoresBench({
      ...STORES,
      ...(stores === undefined ? {} : { only: stores }),
      progress: (line) => console.log(`  . ${line}`),
    });
    console.log(`${printStores(storesResult).join('\n')}\n`);
    if (storesResult.stores.some((s) => s.error !== undefined)) process.exitCode = 1;
  }
  if (only === undefined) await runDashboardSection(RESULTS);
  writeResults(evaluator, webhook, storesResult);
  console.log(`results merged into ${RESULTS}`);
}

// Children, servers and their data must not outlive the benchmark, however it ends.
process.on('exit', () => {
  cleanUp();
  cleanUpStores();
});
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    // A second signal does not wait for the servers.
    if (interrupted) process.exit(130);
    interrupted = true;
    cleanUp();
    // The store servers run in their own process groups, which a terminal's Ctrl-C does not
    // reach: stop them (one still starting too), waiting at most 10 s.
    const deadline = new Promise((resolve) => setTimeout(resolve, 10_000).unref());
    void Promise.race([stopStoreServers(), deadline]).finally(() => process.exit(130));
  });
}

main().catch((error: unknown) => {
  console.error('bench failed:', error instanceof Error ? (error.stack ?? error.message) : error);
  cleanUp();
  cleanUpStores();
  process.exitCode = 1;
});
