/**
 * `npm run bench -- functions`: each cloud function's bundle, built the way its deployment
 * builds it, beside the time a fresh Node process takes to load it (what a cold start pays
 * before the first request is handled).
 *
 * - AWS: `serverless package` (serverless-esbuild, as `serverless deploy` runs it); each
 *   function's .mjs from its zip. The three job functions are one bundle (functions/aws/jobs.mjs).
 * - Azure: `scripts/build-functions.mjs azure`, as docs/deploy-azure.md builds it. One app serves every
 *   function: an instance loads index.mjs and its static imports at start; the api's first
 *   request also loads the admin API chunk.
 * - Google Cloud: `scripts/build-functions.mjs gcp`, as docs/deploy-gcp.md. Each function runs one target of the
 *   same source: index.js and its static imports, then (webhook, api) the app chunk its first
 *   request loads. The Firestore SDK and functions-framework come from node_modules (Cloud Build
 *   installs them): counted in the load time, not in the bundle size.
 *
 * Load time: a new `node` process per repetition imports the bundle (and the chunk a first
 * request loads) and reports the elapsed time measured inside it, so Node's own start-up is
 * left out; the median of several runs is printed. Measured, never asserted.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { buildFunctions } from '../../scripts/build-functions.mjs';

const run = promisify(execFile);
const REPETITIONS = 7;
const WEBHOOK_GOAL_BYTES = 1024 * 1024;

export interface FunctionFigures {
  cloud: 'aws' | 'azure' | 'gcp';
  function: string;
  /** Minified JavaScript the function loads before answering its first request. */
  bytes: number;
  /** Median milliseconds to import it in a fresh process, and every run's. */
  loadMs: number;
  loadRunsMs: number[];
  /** Whether `bytes` is what the webhook loads (the 1 MB goal applies to it). */
  webhook: boolean;
  note?: string;
}

/** A module graph to import in a fresh process: `files` in order, each timed as a whole. */
interface LoadPlan {
  files: string[];
  cwd: string;
  env: Record<string, string>;
  /** Provides `@azure/functions-core` as the Functions worker does, so `app.http()` registers. */
  azureWorker?: boolean;
}

const CHILD = `
import Module from 'node:module';
import { pathToFileURL } from 'node:url';
const [azure, ...files] = process.argv.slice(1);
if (azure === 'azure') {
  const core = { registerFunction: () => ({ dispose() {} }), setProgrammingModel() {},
    registerHook: () => ({ dispose() {} }), log() {} };
  const original = Module.prototype.require;
  Module.prototype.require = new Proxy(original, {
    apply: (t, self, args) => (args[0] === '@azure/functions-core' ? core : Reflect.apply(t, self, args)),
  });
}
const started = performance.now();
for (const file of files) await import(pathToFileURL(file).href);
process.stdout.write('\\nLOADED ' + (performance.now() - started) + '\\n');
process.exit(0);
`;

async function loadOnce(plan: LoadPlan): Promise<number> {
  const { stdout } = await run(
    process.execPath,
    ['--input-type=module', '-e', CHILD, plan.azureWorker ? 'azure' : '-', ...plan.files],
    { cwd: plan.cwd, env: { PATH: process.env.PATH ?? '', NODE_NO_WARNINGS: '1', ...plan.env } },
  );
  const line = stdout.split('\n').find((l) => l.startsWith('LOADED '));
  if (line === undefined) throw new Error(`the load probe printed no time:\n${stdout}`);
  return Number(line.slice(7));
}

async function loadTimes(plan: LoadPlan): Promise<{ median: number; runs: number[] }> {
  await loadOnce(plan); // fills the OS file cache; not counted
  const runs: number[] = [];
  for (let i = 0; i < REPETITIONS; i++) runs.push(await loadOnce(plan));
  const sorted = [...runs].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)]!, runs };
}

const size = (file: string) => statSync(file).size;

/** Settings the api handlers read at import (no store is opened until a request). */
const FUNCTION_ENV = {
  PORTCULLIS_WEBHOOK_BASE_URL: 'https://webhook.example.com',
  AWS_REGION: 'us-east-1',
  POWERTOOLS_LOG_LEVEL: 'ERROR',
};

async function measureAws(
  root: string,
  work: string,
  progress: (l: string) => void,
): Promise<FunctionFigures[]> {
  progress('aws: serverless package');
  const out = join(work, 'aws');
  await run(
    join(root, 'node_modules/.bin/serverless'),
    ['package', '--stage', 'dev', '--region', 'us-east-1', '--package', out],
    {
      cwd: root,
      timeout: 600_000,
      env: {
        ...process.env,
        SLS_TELEMETRY_DISABLED: '1',
        SLS_NOTIFICATIONS_MODE: 'off',
        AWS_ACCESS_KEY_ID: 'x',
        AWS_SECRET_ACCESS_KEY: 'y',
        NODE_NO_WARNINGS: '1',
      },
    },
  );
  const figures: FunctionFigures[] = [];
  for (const [fn, file, note] of [
    ['webhook', 'webhook.mjs', undefined],
    ['api', 'api.mjs', undefined],
    ['jobs', 'jobs.mjs', 'expireExemptions, monitoringUpkeep and findingsSync: one bundle'],
  ] as const) {
    const dir = join(out, fn);
    const zip = fn === 'jobs' ? 'findingsSync' : fn;
    await run('unzip', ['-q', '-o', join(out, `${zip}.zip`), '-d', dir]);
    const bundle = join(dir, 'functions/aws', file);
    progress(`aws: loading ${fn}`);
    const load = await loadTimes({ files: [bundle], cwd: dir, env: FUNCTION_ENV });
    figures.push({
      cloud: 'aws',
      function: fn,
      bytes: size(bundle),
      loadMs: load.median,
      loadRunsMs: load.runs,
      webhook: fn === 'webhook',
      ...(note === undefined ? {} : { note }),
    });
  }
  return figures;
}

interface Metafile {
  outputs: Record<string, { bytes: number; entryPoint?: string; imports: { path: string; kind: string }[] }>;
}

/** Output files loaded with `start`: it and its static imports, transitively (metafile paths). */
function closure(meta: Metafile, start: string[]): Set<string> {
  const seen = new Set<string>();
  const visit = (o: string) => {
    if (seen.has(o) || meta.outputs[o] === undefined) return;
    seen.add(o);
    for (const i of meta.outputs[o]!.imports) if (i.kind === 'import-statement') visit(i.path);
  };
  for (const s of start) visit(s);
  return seen;
}

const outputOf = (meta: Metafile, entryPoint: string) => {
  const found = Object.keys(meta.outputs).find((o) => meta.outputs[o]!.entryPoint === entryPoint);
  if (found === undefined) throw new Error(`no output for ${entryPoint}`);
  return found;
};
const bytesOf = (meta: Metafile, files: Set<string>) =>
  [...files].filter((f) => f.endsWith('js')).reduce((n, f) => n + meta.outputs[f]!.bytes, 0);

async function measureAzure(
  root: string,
  work: string,
  progress: (l: string) => void,
): Promise<FunctionFigures[]> {
  progress('azure: node scripts/build-functions.mjs azure (docs/deploy-azure.md)');
  const out = join(work, 'azure');
  const meta = join(work, 'azure-meta.json');
  await buildFunctions('azure', out, { metafile: meta });
  const m = JSON.parse(readFileSync(meta, 'utf8')) as Metafile;
  const index = outputOf(m, 'functions/azure/index.ts');
  const app = outputOf(m, 'functions/app.ts');
  const atStart = closure(m, [index]);
  const apiChunks = new Set([...closure(m, [app])].filter((f) => !atStart.has(f)));
  const file = (o: string) => join(root, o);
  // The bundled @azure/functions resolves nothing outside; node_modules is not deployed.
  const env = { ...FUNCTION_ENV, PORTCULLIS_STORE: 'cosmos', COSMOS_ENDPOINT: 'https://cosmos.example.com/' };
  progress('azure: loading the app');
  const start = await loadTimes({ files: [file(index)], cwd: out, env, azureWorker: true });
  progress('azure: loading the app and the admin API chunk');
  const api = await loadTimes({ files: [file(index), file(app)], cwd: out, env, azureWorker: true });
  return [
    {
      cloud: 'azure',
      function: 'app (webhook, jobs)',
      bytes: bytesOf(m, atStart),
      loadMs: start.median,
      loadRunsMs: start.runs,
      webhook: true,
      note: 'one app: every instance loads this at start',
    },
    {
      cloud: 'azure',
      function: 'app + api',
      bytes: bytesOf(m, atStart) + bytesOf(m, apiChunks),
      loadMs: api.median,
      loadRunsMs: api.runs,
      webhook: false,
      note: 'the admin API chunk joins on its first request',
    },
  ];
}

async function measureGcp(
  root: string,
  work: string,
  progress: (l: string) => void,
): Promise<FunctionFigures[]> {
  progress('gcp: node scripts/build-functions.mjs gcp (docs/deploy-gcp.md)');
  const source = join(work, 'gcp');
  const meta = join(work, 'gcp-meta.json');
  await buildFunctions('gcp', source, { metafile: meta });
  writeFileSync(
    join(source, 'package.json'),
    readFileSync(join(root, 'iac/gcp/function-source/package.json')),
  );
  symlinkSync(join(root, 'node_modules'), join(source, 'node_modules'), 'dir');
  const m = JSON.parse(readFileSync(meta, 'utf8')) as Metafile;
  const file = (o: string) => join(root, o);
  const index = outputOf(m, 'functions/gcp/index.ts');
  const env = { ...FUNCTION_ENV, GOOGLE_CLOUD_PROJECT: 'bench', METADATA_SERVER_DETECTION: 'none' };
  const figures: FunctionFigures[] = [];
  for (const [fn, chunk] of [
    ['webhook', 'functions/gcp/webhook-app.ts'],
    ['api', 'functions/gcp/api-app.ts'],
    ['jobs', undefined],
  ] as const) {
    const start = chunk === undefined ? [index] : [index, outputOf(m, chunk)];
    progress(`gcp: loading ${fn}`);
    const load = await loadTimes({ files: start.map(file), cwd: source, env });
    figures.push({
      cloud: 'gcp',
      function: fn,
      bytes: bytesOf(m, closure(m, start)),
      loadMs: load.median,
      loadRunsMs: load.runs,
      webhook: fn === 'webhook',
      note:
        fn === 'jobs'
          ? 'one function per job; findings-sync loads the connectors chunk on its first sync'
          : 'plus the Firestore SDK from node_modules (in the load time, not the size)',
    });
  }
  return figures;
}

const kib = (n: number) => `${(n / 1024).toFixed(0)} KiB`;

export function printFunctions(rows: readonly FunctionFigures[]): string[] {
  const lines = [
    `functions  bundle (minified JS loaded before the first request) and cold import, median of ${REPETITIONS} fresh processes`,
    `  ${'cloud'.padEnd(7)}${'function'.padEnd(22)}${'bundle'.padStart(10)}${'import ms'.padStart(11)}  note`,
  ];
  for (const r of rows) {
    lines.push(
      `  ${r.cloud.padEnd(7)}${r.function.padEnd(22)}${kib(r.bytes).padStart(10)}${r.loadMs.toFixed(1).padStart(11)}  ${r.note ?? ''}`,
    );
  }
  for (const r of rows.filter((x) => x.webhook)) {
    const met = r.bytes < WEBHOOK_GOAL_BYTES;
    lines.push(
      `  ${r.cloud} webhook: ${(r.bytes / 1e6).toFixed(2)} MB (${r.bytes.toLocaleString('en-US')} B) ` +
        `${met ? '<' : '>='} 1 MB goal: ${met ? 'met' : 'MISSED'}`,
    );
  }
  return lines;
}

/**
 * Runs the section when `only` is undefined or `functions`; answers whether it ran alone (so the
 * caller stops there).
 */
export async function runFunctionsSection(
  only: string | undefined,
  root: string,
  resultsPath: string,
): Promise<boolean> {
  if (only !== undefined && only !== 'functions') return false;
  const work = mkdtempSync(join(tmpdir(), 'portcullis-bench-functions-'));
  const progress = (l: string) => console.log(`  . ${l}`);
  try {
    const rows = [
      ...(await measureAws(root, work, progress)),
      ...(await measureAzure(root, work, progress)),
      ...(await measureGcp(root, work, progress)),
    ];
    console.log(`${printFunctions(rows).join('\n')}\n`);
    let results: Record<string, unknown> = {};
    try {
      results = JSON.parse(readFileSync(resultsPath, 'utf8')) as Record<string, unknown>;
    } catch {
      // A first run: no file yet.
    }
    results.functions = {
      rows: rows.map((r) => ({
        ...r,
        loadMs: Number(r.loadMs.toFixed(2)),
        loadRunsMs: r.loadRunsMs.map((x) => Number(x.toFixed(2))),
      })),
      webhookGoalBytes: WEBHOOK_GOAL_BYTES,
      repetitions: REPETITIONS,
      measuredAt: new Date().toISOString(),
      node: process.version,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
    };
    mkdirSync(dirname(resultsPath), { recursive: true });
    writeFileSync(resultsPath, `${JSON.stringify(results, null, 2)}\n`);
    if (only === 'functions') console.log(`results merged into ${resultsPath}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return only === 'functions';
}
