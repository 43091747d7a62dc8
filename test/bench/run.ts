/**
 * `npm run bench`: the evaluator's throughput and the webhook's latency beside a bare HTTPS
 * server (DESIGN.md §7). Speed is measured, never asserted: the figures are printed with their
 * goals and merged into `.bench/results.json`; a missed goal is called out, not failed.
 *
 * `npm run bench -- evaluator` or `-- webhook` runs one section (the other's figures in the
 * results file are kept). To profile the emulator under load, pass node flags through
 * BENCH_EMULATOR_NODE_ARGS, e.g. `BENCH_EMULATOR_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"`.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runDashboardSection } from './dashboard.js';
import { type EvaluatorBenchResult, runEvaluatorBench } from './evaluator.js';
import { runSyncSection } from './sync.js';
import { cleanUp, runWebhookBench, type WebhookBenchResult } from './webhook.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const RESULTS = join(ROOT, '.bench', 'results.json');

const EVALUATOR = { warmupMs: 1000, durationMs: 3000, goalPerSecond: 20_000 };
const WEBHOOK = { concurrency: 16, warmupMs: 1000, durationMs: 5000, goalP99Ratio: 3 };

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
      `recorded ${ms(r.recordedLatencyP50Ms)} ms`,
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

function writeResults(
  evaluator: EvaluatorBenchResult | undefined,
  webhook: WebhookBenchResult | undefined,
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
  mkdirSync(dirname(RESULTS), { recursive: true });
  writeFileSync(RESULTS, `${JSON.stringify(results, null, 2)}\n`);
}

async function main(): Promise<void> {
  const only = process.argv[2];
  if (await runSyncSection(only)) return;
  if (only === 'dashboard') return runDashboardSection(RESULTS);
  if (only !== undefined && only !== 'evaluator' && only !== 'webhook') {
    throw new Error(`unknown section "${only}"; use evaluator or webhook, or nothing for both`);
  }
  const cpu = cpus();
  console.log(
    `Portcullis benchmarks: node ${process.version}, ${cpu.length} CPUs (${cpu[0]?.model ?? 'unknown'})\n`,
  );

  let evaluator: EvaluatorBenchResult | undefined;
  if (only !== 'webhook') {
    evaluator = runEvaluatorBench(EVALUATOR);
    console.log(`${printEvaluator(evaluator).join('\n')}\n`);
  }
  let webhook: WebhookBenchResult | undefined;
  if (only !== 'evaluator') {
    webhook = await runWebhookBench({
      ...WEBHOOK,
      emulatorNodeArgs: process.env.BENCH_EMULATOR_NODE_ARGS?.split(' ').filter((a) => a !== ''),
      progress: (line) => console.log(`  . ${line}`),
    });
    console.log(`${printWebhook(webhook).join('\n')}\n`);
  }
  if (only === undefined) await runDashboardSection(RESULTS);
  writeResults(evaluator, webhook);
  console.log(`results merged into ${RESULTS}`);
}

// Children and their data must not outlive the benchmark, however it ends.
process.on('exit', cleanUp);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    cleanUp();
    process.exit(130);
  });
}

main().catch((error: unknown) => {
  console.error('bench failed:', error instanceof Error ? (error.stack ?? error.message) : error);
  cleanUp();
  process.exitCode = 1;
});
