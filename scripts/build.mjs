// Bundles the runnable entry points (local emulator, CLI) and the dashboard with esbuild.
// Runs on `npm install` (prepare) and before `npm start`, so the `portcullis` bin works from a clone.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { build } from 'esbuild';

const entries = {
  emulator: 'local-emulator/main.ts',
  cli: 'cli/main.ts',
};

await build({
  entryPoints: entries,
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: 'linked',
  logLevel: 'warning',
});

// The dashboard (web/): one minified script with a content hash in its name (cached for a
// year), and the stylesheet inlined into index.html, so that the first view is one small
// HTML answer plus one script fetched in parallel. functions/dashboard.ts serves dist/web/.
const WEB = 'dist/web';
rmSync(WEB, { recursive: true, force: true });
mkdirSync(join(WEB, 'assets'), { recursive: true });
const script = await build({
  entryPoints: { main: 'web/main.ts' },
  outdir: join(WEB, 'assets'),
  entryNames: '[name]-[hash]',
  bundle: true,
  minify: true,
  platform: 'browser',
  format: 'esm',
  target: ['chrome111', 'firefox115', 'safari16'],
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
});
const scriptFile = Object.keys(script.metafile.outputs).find((f) => f.endsWith('.js'));
const css = await build({
  entryPoints: ['web/styles.css'],
  bundle: true,
  minify: true,
  write: false,
  logLevel: 'warning',
});
const styles = css.outputFiles[0].text.trim();
const html = readFileSync('web/index.html', 'utf8')
  .replace('<!--styles-->', `<style>${styles}</style>`)
  .replace('%MAIN_JS%', `/assets/${basename(scriptFile)}`);
writeFileSync(join(WEB, 'index.html'), html);
// The inline stylesheet's hash, for the Content-Security-Policy the dashboard is served with.
const styleHash = `sha256-${createHash('sha256').update(styles).digest('base64')}`;
writeFileSync(
  join(WEB, 'manifest.json'),
  `${JSON.stringify({ styleHash, script: basename(scriptFile) }, null, 2)}\n`,
);
