/**
 * Evaluator throughput on one core: the in-memory work of one admission — read the workload
 * from the object, parse each image reference, evaluate — with the scans already looked up
 * (as the service's cache holds them) and the rules compiled once (as per rule-set version).
 */
import type { ImageScan } from '../../core/domain.js';
import { countSeverities } from '../../core/domain.js';
import { type Evaluation, evaluate, type ResolvedImage } from '../../core/evaluate.js';
import { parseImageRef } from '../../core/image-ref.js';
import { type CompiledRuleSet, compileRuleSet } from '../../core/ruleset.js';
import { DEFAULT_RULE } from '../../core/services/rules.js';
import { workloadFromObject } from '../../core/workload.js';
import { admissionReview, BENCH_IMAGES, benchCluster, benchScans } from './fixtures.js';
import { benchRules, storedRule } from './rules.js';

/** How long to warm up and to measure. */
export interface EvaluatorBenchOptions {
  warmupMs: number;
  durationMs: number;
}

/** What the evaluator benchmark measured. */
export interface EvaluatorBenchResult {
  evalsPerSecond: number;
  /**
   * The same per CPU-second this thread used: on a shared machine, where other processes take
   * the core away now and then, the steadier of the two.
   */
  evalsPerCpuSecond: number;
  /** Mean time of one evaluation, in microseconds. */
  meanMicros: number;
  evaluations: number;
  durationSeconds: number;
  rules: number;
  vulnerabilitiesPerImage: number;
  /** The decision the benchmark Deployment gets, and how many rules triggered on its images. */
  decision: string;
  triggeredRules: number;
}

interface AdmissionRequestLike {
  kind: { kind: string };
  name: string;
  namespace: string;
  object: unknown;
}

/** The scans as the store returns them: native findings with counts, keyed by digest. */
function storedScans(now: Date): Map<string, ImageScan> {
  const scans = new Map<string, ImageScan>();
  for (const image of benchScans(now)) {
    scans.set(image.digest, {
      ...image,
      source: 'native',
      vulnerabilities: image.vulnerabilities.map((v) => ({
        ...v,
        fixAvailable: v.fixedVersion !== undefined,
      })),
      counts: countSeverities(image.vulnerabilities),
    });
  }
  return scans;
}

/**
 * Builds one admission's work as a closure: everything per-request happens inside it, what
 * the service caches (compiled rules, scans by reference) is prepared outside. The rules are the
 * seeded default rule and `extraRules` of `benchRules`.
 */
export function prepareEvaluation(
  now: Date,
  extraRules = 99,
): {
  run: () => Evaluation;
  ruleSet: CompiledRuleSet;
  scans: ReadonlyMap<string, ImageScan>;
} {
  const rules = [DEFAULT_RULE, ...benchRules(now, extraRules)].map((body, i) => storedRule(body, i, now));
  const ruleSet = compileRuleSet(rules);
  const cluster = benchCluster(now);
  const scans = storedScans(now);
  // The service's cache: normalized reference -> digest and scan (tag resolution done).
  const lookups = new Map<string, { digest: string; scan: ImageScan }>();
  for (const image of BENCH_IMAGES) {
    lookups.set(parseImageRef(image.image).normalized, {
      digest: image.digest,
      scan: scans.get(image.digest)!,
    });
  }
  const request = (admissionReview('bench') as { request: AdmissionRequestLike }).request;

  const run = (): Evaluation => {
    const workload = workloadFromObject(request.object, {
      kind: request.kind.kind,
      name: request.name,
      namespace: request.namespace,
    });
    if (workload === null) throw new Error('benchmark Deployment has no pod template');
    const images = workload.images.map((container): ResolvedImage => {
      const ref = parseImageRef(container.image);
      const found = lookups.get(ref.normalized);
      return { container, ref, digest: found?.digest, scan: found?.scan ?? null, gated: true };
    });
    return evaluate({ workload, cluster, images, ruleSet, now });
  };
  return { run, ruleSet, scans };
}

/** Runs `run` in batches until `ms` have passed; returns how many runs and the exact time. */
function timed(
  run: () => Evaluation,
  ms: number,
): { count: number; elapsedMs: number; cpuMs: number; sink: number } {
  const batch = 50;
  let count = 0;
  let sink = 0;
  const cpu = process.cpuUsage();
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let i = 0; i < batch; i++) sink += run().images.length;
    count += batch;
    elapsed = performance.now() - start;
  }
  const used = process.cpuUsage(cpu);
  return { count, elapsedMs: elapsed, cpuMs: (used.user + used.system) / 1000, sink };
}

/**
 * Measures evaluations per second on this thread (one core): a warm-up, then a fixed time.
 *
 * @example const { evalsPerSecond } = runEvaluatorBench({ warmupMs: 1000, durationMs: 3000 });
 */
export function runEvaluatorBench(options: EvaluatorBenchOptions): EvaluatorBenchResult {
  const now = new Date();
  const { run, ruleSet, scans } = prepareEvaluation(now);
  const sample = run();
  timed(run, options.warmupMs);
  const { count, elapsedMs, cpuMs, sink } = timed(run, options.durationMs);
  if (sink !== count * sample.images.length) throw new Error('evaluations returned different images');
  return {
    evalsPerSecond: count / (elapsedMs / 1000),
    evalsPerCpuSecond: count / (cpuMs / 1000),
    meanMicros: (elapsedMs * 1000) / count,
    evaluations: count,
    durationSeconds: elapsedMs / 1000,
    rules: ruleSet.rules.length,
    vulnerabilitiesPerImage: Math.round(
      [...scans.values()].reduce((n, scan) => n + scan.vulnerabilities.length, 0) / scans.size,
    ),
    decision: sample.decision,
    triggeredRules: sample.images.reduce((n, image) => n + image.triggeredRules.length, 0),
  };
}
