// Builds the deployable bundle of Portcullis for Azure Functions or Google Cloud Functions:
//
//   node scripts/build-functions.mjs azure [OUTDIR]      (default dist/azure; docs/deploy-azure.md)
//   node scripts/build-functions.mjs gcp [OUTDIR]        (default iac/gcp/function-source; docs/deploy-gcp.md)
//   ... [--metafile=FILE]                                 (esbuild's metafile, for tests and the bench)
//
// One minified ES-module bundle with code splitting: what a function does not need at start (the
// admin API, the report parsers, the registry connectors and their SDKs) is in chunks loaded on
// first use, so the webhook's cold start does not load them. The dashboard (dist/web, built here
// if missing) is copied beside the bundle as web/, where the api function serves it from. AWS
// bundles come from `serverless package` (serverless.yml), with the same esbuild plugins.
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { buildWeb } from './build-web.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
// Drops zod's translated error messages (scripts/esbuild-plugins.cjs).
const sharedPlugins = require('./esbuild-plugins.cjs');

/**
 * With code splitting, a CommonJS package loaded by `await import()` (google-auth-library, which
 * the gar connector loads on its first sync) reaches the importer without its named exports:
 * `GoogleAuth` is undefined. These packages are served through a small ES module that names
 * each export, read from the package itself at build time.
 */
const CJS_WITH_NAMED_IMPORTS = ['google-auth-library', '@aws-sdk/client-ecr', '@aws-sdk/client-inspector2'];
const NAMED = 'portcullis-named-exports';
const namedCjsExports = {
  name: 'portcullis-named-cjs-exports',
  setup(build) {
    const filter = new RegExp(`^(${CJS_WITH_NAMED_IMPORTS.join('|')})$`);
    build.onResolve({ filter }, (args) =>
      args.namespace === NAMED ? undefined : { path: args.path, namespace: NAMED },
    );
    build.onLoad({ filter: /.*/, namespace: NAMED }, (args) => {
      const names = Object.keys(require(args.path)).filter(
        (n) => /^[A-Za-z_$][\w$]*$/.test(n) && n !== 'default',
      );
      return {
        contents: `import * as lib from ${JSON.stringify(args.path)};\nexport const { ${names.join(', ')} } = lib;\n`,
        resolveDir: ROOT,
        loader: 'js',
      };
    });
  },
};
const plugins = [...sharedPlugins, namedCjsExports];

const COMMON = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22',
  splitting: true,
  minify: true,
  sourcemap: true,
  // Bundled CommonJS libraries (`@azure/functions` itself, parts of the SDKs) call require().
  banner: { js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" },
  plugins,
  logLevel: 'warning',
};

const TARGETS = {
  azure: {
    outdir: 'dist/azure',
    entry: 'functions/azure/index.ts',
    options: {
      outExtension: { '.js': '.mjs' },
      // Stack traces in Application Insights keep the function names.
      keepNames: true,
      // Provided by the Functions worker at run time.
      external: ['@azure/functions-core'],
    },
    /** The folder is deployed as it is: host.json (route prefix "") and a package.json naming the entry. */
    finish(outdir) {
      cpSync(join(ROOT, 'functions/azure/host.json'), join(outdir, 'host.json'));
      writeFileSync(
        join(outdir, 'package.json'),
        `${JSON.stringify({ name: 'portcullis-azure', private: true, type: 'module', main: 'index.mjs' })}\n`,
      );
    },
  },
  gcp: {
    outdir: 'iac/gcp/function-source',
    entry: 'functions/gcp/index.ts',
    options: {
      // Installed by Cloud Build from the package.json beside the bundle.
      external: ['@google-cloud/functions-framework', '@google-cloud/firestore'],
    },
    finish() {},
  },
};

/**
 * Builds `target` into `outdir` (relative to the working directory). The Azure folder is made
 * anew; from the Google source folder the previous build's files are removed (old chunks would
 * be uploaded with the new ones), its package.json stays.
 *
 * @example await buildFunctions('gcp', 'iac/gcp/function-source', { metafile: '/tmp/meta.json' })
 */
export async function buildFunctions(target, outdir = TARGETS[target]?.outdir, options = {}) {
  const spec = TARGETS[target];
  if (spec === undefined) throw new Error(`unknown target "${target}": use azure or gcp`);
  const out = resolve(outdir);
  if (ROOT.startsWith(out)) throw new Error(`refusing to build into ${out}: it holds the repository`);
  if (target === 'azure') rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  // What an earlier build left: its chunks, source maps and dashboard copy.
  for (const name of readdirSync(out)) {
    if (name === 'web' || /\.(m?js|map)$/.test(name))
      rmSync(join(out, name), { recursive: true, force: true });
  }
  const result = await build({
    ...COMMON,
    ...spec.options,
    absWorkingDir: ROOT,
    entryPoints: [spec.entry],
    outdir: out,
    metafile: options.metafile !== undefined,
  });
  if (options.metafile !== undefined) writeFileSync(options.metafile, JSON.stringify(result.metafile));
  spec.finish(out);
  if (!existsSync(join(ROOT, 'dist/web/index.html'))) await buildWeb();
  cpSync(join(ROOT, 'dist/web'), join(out, 'web'), { recursive: true });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2);
  const metafile = args.find((a) => a.startsWith('--metafile='))?.slice('--metafile='.length);
  const [target, outdir] = args.filter((a) => !a.startsWith('--'));
  await buildFunctions(target, outdir, metafile === undefined ? {} : { metafile: resolve(metafile) });
}
