/**
 * `npm run bench -- sync`: findings-sync ingest from paged responses into the SQLite store.
 * The real ACR connector pages through an in-process stand-in for Azure Resource Graph (JSON
 * pages of `$top` rows generated on demand, one row per vulnerability, never all at once),
 * and SyncService ingests each batch into a SQLite file, as a scheduled run would. Each size
 * runs in a fresh process so that its peak memory is its own: if memory is bounded, the peak
 * stays flat as the input grows. Measured, never asserted.
 *
 * Run alone, `node --import tsx test/bench/sync.ts worker N V` syncs N images x V vulnerabilities
 * and prints `result {json}`.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createAcrConnector } from '../../adapters/registry/connectors/acr.js';
import { openSqliteStore } from '../../adapters/store/sqlite/index.js';
import { createServices } from '../../core/services/index.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
const RESULTS = join(ROOT, '.bench', 'results.json');

export const SYNC_BENCH = { sizes: [2500, 5000, 10_000], vulnerabilitiesPerImage: 100 };

export interface SyncFigures {
  images: number;
  vulnerabilities: number;
  seconds: number;
  imagesPerSecond: number;
  vulnerabilitiesPerSecond: number;
  /** Resident set size before the run, and the process's peak, in MB. */
  baselineRssMb: number;
  peakRssMb: number;
  /** JavaScript heap in use before the run, and its peak during it, in MB. */
  baselineHeapMb: number;
  peakHeapMb: number;
  /** Resource Graph pages the connector fetched. */
  pages: number;
  /** JSON the stand-in served, in MB. */
  servedMb: number;
}

const SUBSCRIPTION = '0b1f6471-1bf0-4dda-aec3-cb9272f09590';
const SEVERITIES = ['Critical', 'High', 'Medium', 'Low'];
const digestOf = (i: number) => `sha256:${i.toString(16).padStart(64, '0')}`;

/** One Defender sub-assessment row: image `i`, vulnerability `j`. */
function row(i: number, j: number) {
  const digest = digestOf(i);
  const severity = SEVERITIES[j % SEVERITIES.length];
  const cve = `CVE-2024-${String(10_000 + j)}`;
  const fixed = j % 3 !== 0;
  return {
    id: `/subscriptions/${SUBSCRIPTION}/resourceGroups/rg-bench/providers/Microsoft.ContainerRegistry/registries/benchreg/providers/Microsoft.Security/assessments/c0b7cfc6-3172-465a-b378-53c7ff2cc0d5/subassessments/${i}-${j}`,
    type: 'microsoft.security/assessments/subassessments',
    properties: {
      id: cve,
      displayName: cve,
      timeGenerated: '2024-06-01T08:00:00.0000000Z',
      status: { severity, code: 'Unhealthy' },
      additionalData: {
        assessedResourceType: 'AzureContainerRegistryVulnerability',
        cvssV30Score: (j % 100) / 10,
        vulnerabilityDetails: { severity, cveId: cve },
        artifactDetails: {
          registryHost: 'benchreg.azurecr.io',
          repositoryName: `team-${i % 50}/app-${i}`,
          artifactType: 'ContainerImage',
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest,
          tags: [`v${i}`],
        },
        softwareDetails: {
          category: 'OS',
          packageName: `package-${j}`,
          version: '1.2.3-r0',
          fixedVersion: fixed ? '1.2.4-r0' : '',
          fixStatus: fixed ? 'FixAvailable' : 'NoFixAvailable',
        },
      },
    },
    digest,
  };
}

/**
 * Resource Graph for `images` images of `perImage` rows each, answering the connector's two
 * query shapes page by page: rows are generated for the page asked for, not kept.
 */
export function resourceGraphFetch(
  images: number,
  perImage: number,
  stats: { pages: number; bytes: number; sample?: () => void },
): typeof fetch {
  return async (_url, init) => {
    // A real answer arrives on a later turn of the event loop; so does this one.
    await new Promise((resolve) => setImmediate(resolve));
    stats.sample?.();
    const body = JSON.parse(String(init?.body)) as {
      query: string;
      options: { $top: number; $skipToken?: string };
    };
    const offset = Number(body.options.$skipToken ?? 0);
    const top = body.options.$top;
    let total: number;
    let data: unknown[];
    if (body.query.includes('| distinct host, digest')) {
      // The run's closing inventory: every image reported, one row each.
      total = images;
      data = [];
      for (let i = offset; i < Math.min(images, offset + top); i++)
        data.push({ host: 'benchreg.azurecr.io', digest: digestOf(i) });
    } else if (body.query.includes('summarize')) {
      total = images;
      data = [];
      for (let i = offset; i < Math.min(images, offset + top); i++)
        data.push({ digest: digestOf(i), rows: perImage });
    } else {
      const wanted = [...body.query.matchAll(/'sha256:([0-9a-f]{64})'/g)].map((m) =>
        Number.parseInt(m[1] as string, 16),
      );
      total = wanted.length * perImage;
      data = [];
      for (let r = offset; r < Math.min(total, offset + top); r++) {
        data.push(row(wanted[Math.floor(r / perImage)] as number, r % perImage));
      }
    }
    const more = offset + data.length < total;
    const text = JSON.stringify({
      totalRecords: total,
      count: data.length,
      resultTruncated: 'false',
      ...(more ? { $skipToken: String(offset + data.length) } : {}),
      facets: [],
      data,
    });
    stats.pages++;
    stats.bytes += text.length;
    return new Response(text, { status: 200, headers: { 'content-type': 'application/json' } });
  };
}

/** Syncs `images` x `perImage` into a fresh SQLite file through SyncService; the worker's job. */
export async function runSyncWorker(images: number, perImage: number): Promise<SyncFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-sync-bench-'));
  const store = openSqliteStore({ path: join(dir, 'portcullis.db') });
  try {
    let peakHeap = 0;
    const sample = () => {
      peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
    };
    const stats = { pages: 0, bytes: 0, sample };
    const services = createServices(store, {
      connectors: (config) =>
        createAcrConnector(config, {
          token: async () => 'bench-token',
          fetch: resourceGraphFetch(images, perImage, stats),
          endpoint: 'https://management.azure.com',
        }),
    });
    await services.sync.create(
      { name: 'bench', kind: 'acr', settings: { subscriptions: [SUBSCRIPTION] } },
      'bench',
    );
    (globalThis as { gc?: () => void }).gc?.();
    const baselineRss = process.memoryUsage().rss;
    const baselineHeap = process.memoryUsage().heapUsed;
    // Sampled on a timer and on every page the connector asks for.
    const sampler = setInterval(sample, 10);
    const started = performance.now();
    const run = await services.sync.sync('bench', 'manual');
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    if (run.status !== 'succeeded' || run.images !== images || run.vulnerabilities !== images * perImage) {
      throw new Error(
        `sync run ${run.status}: ${run.images} images, ${run.vulnerabilities} vulnerabilities; ${run.errors.join('; ')}`,
      );
    }
    const mb = (n: number) => Number((n / 1024 / 1024).toFixed(1));
    return {
      images: run.images,
      vulnerabilities: run.vulnerabilities,
      seconds: Number(seconds.toFixed(2)),
      imagesPerSecond: Math.round(run.images / seconds),
      vulnerabilitiesPerSecond: Math.round(run.vulnerabilities / seconds),
      baselineRssMb: mb(baselineRss),
      // The kernel's high-water mark for the whole process (KiB), start-up included.
      peakRssMb: mb(process.resourceUsage().maxRSS * 1024),
      baselineHeapMb: mb(baselineHeap),
      peakHeapMb: mb(peakHeap),
      pages: stats.pages,
      servedMb: mb(stats.bytes),
    };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs one size in a fresh process; its last line is the figures. */
function runInChild(images: number, perImage: number): Promise<SyncFigures> {
  const child = spawn(
    process.execPath,
    [
      '--expose-gc',
      '--import',
      'tsx',
      fileURLToPath(import.meta.url),
      'worker',
      String(images),
      String(perImage),
    ],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString('utf8')).slice(-4096);
  });
  let figures: SyncFigures | undefined;
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (line.startsWith('result ')) figures = JSON.parse(line.slice(7)) as SyncFigures;
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0 && figures !== undefined) resolve(figures);
      else reject(new Error(`sync bench worker (${images} images) exited with ${code}: ${stderr.trim()}`));
    });
  });
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');

/** Prints the figures of every size, and whether memory stayed flat. */
export function printSync(rows: readonly SyncFigures[]): string[] {
  const first = rows[0];
  const last = rows[rows.length - 1];
  const growth =
    first && last ? last.peakRssMb - last.baselineRssMb - (first.peakRssMb - first.baselineRssMb) : 0;
  const lines = [
    `sync       ACR connector <- paged Resource Graph stand-in (in process) -> SyncService -> SQLite file; ` +
      `${SYNC_BENCH.vulnerabilitiesPerImage} vulnerabilities per image, one process per size`,
    `  ${'images'.padStart(8)}${'vulns'.padStart(12)}${'seconds'.padStart(9)}${'images/s'.padStart(10)}` +
      `${'vulns/s'.padStart(11)}${'peak RSS MB'.padStart(13)}${'(+ over start)'.padStart(16)}${'peak heap MB'.padStart(14)}${'pages'.padStart(7)}`,
    ...rows.map(
      (r) =>
        `  ${int(r.images).padStart(8)}${int(r.vulnerabilities).padStart(12)}${r.seconds.toFixed(1).padStart(9)}` +
        `${int(r.imagesPerSecond).padStart(10)}${int(r.vulnerabilitiesPerSecond).padStart(11)}` +
        `${r.peakRssMb.toFixed(0).padStart(13)}${`+${(r.peakRssMb - r.baselineRssMb).toFixed(0)}`.padStart(16)}` +
        `${r.peakHeapMb.toFixed(0).padStart(14)}${int(r.pages).padStart(7)}`,
    ),
    `  memory over the run grows by ${growth.toFixed(0)} MB from ${int(first?.images ?? 0)} to ${int(last?.images ?? 0)} images ` +
      `(goal: flat; the input grows ${first && last ? (last.images / first.images).toFixed(0) : '?'}x)`,
  ];
  return lines;
}

function mergeResults(rows: readonly SyncFigures[]): void {
  let results: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(readFileSync(RESULTS, 'utf8'));
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed))
      results = parsed as Record<string, unknown>;
  } catch {
    // No results yet.
  }
  results.sync = {
    vulnerabilitiesPerImage: SYNC_BENCH.vulnerabilitiesPerImage,
    runs: rows,
    measuredAt: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
  };
  mkdirSync(dirname(RESULTS), { recursive: true });
  writeFileSync(RESULTS, `${JSON.stringify(results, null, 2)}\n`);
}

/**
 * The `sync` section of `npm run bench`: runs when `only` is undefined (every section) or
 * `sync`, prints its figures and merges them into `.bench/results.json`. Returns true when the
 * caller asked for this section alone, so that it runs no other.
 */
export async function runSyncSection(only: string | undefined): Promise<boolean> {
  if (only !== undefined && only !== 'sync') return false;
  const rows: SyncFigures[] = [];
  for (const n of SYNC_BENCH.sizes) {
    console.log(`  . sync: ${int(n)} images x ${SYNC_BENCH.vulnerabilitiesPerImage} vulnerabilities`);
    rows.push(await runInChild(n, SYNC_BENCH.vulnerabilitiesPerImage));
  }
  console.log(`${printSync(rows).join('\n')}\n`);
  mergeResults(rows);
  if (only === 'sync') console.log(`results merged into ${RESULTS}`);
  return only === 'sync';
}

if (process.argv[2] === 'worker' && fileURLToPath(import.meta.url) === process.argv[1]) {
  runSyncWorker(Number(process.argv[3]), Number(process.argv[4]))
    .then((figures) => {
      console.log(`result ${JSON.stringify(figures)}`);
    })
    .catch((error: unknown) => {
      console.error(error instanceof Error ? (error.stack ?? error.message) : error);
      process.exitCode = 1;
    });
}
