// Bundles the dashboard (web/) into dist/web/: one minified script with a content hash in its
// name (cached for a year), and the stylesheet inlined into index.html, so that the first view
// is one small HTML answer plus one script fetched in parallel. functions/dashboard.ts serves
// dist/web/. Run by scripts/build.mjs, and alone by the dashboard's end-to-end test.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

/** Builds dist/web/ (index.html, assets/main-HASH.js, manifest.json) from web/. */
export async function buildWeb() {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  // Built aside and moved into place, so that a server reading dist/web meanwhile never
  // finds it half written.
  const WEB = join(root, `dist/.web-${process.pid}`);
  rmSync(WEB, { recursive: true, force: true });
  mkdirSync(join(WEB, 'assets'), { recursive: true });
  const script = await build({
    // Paths relative to the repository, so the content hash does not depend on the cwd.
    absWorkingDir: root,
    entryPoints: { main: 'web/main.ts' },
    outdir: `dist/.web-${process.pid}/assets`,
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
    absWorkingDir: root,
    entryPoints: ['web/styles.css'],
    bundle: true,
    minify: true,
    write: false,
    logLevel: 'warning',
  });
  const styles = css.outputFiles[0].text.trim();
  const html = readFileSync(join(root, 'web/index.html'), 'utf8')
    .replace('<!--styles-->', `<style>${styles}</style>`)
    .replace('%MAIN_JS%', `/assets/${basename(scriptFile)}`);
  writeFileSync(join(WEB, 'index.html'), html);
  // The inline stylesheet's hash, for the Content-Security-Policy the dashboard is served with.
  const styleHash = `sha256-${createHash('sha256').update(styles).digest('base64')}`;
  writeFileSync(
    join(WEB, 'manifest.json'),
    `${JSON.stringify({ styleHash, script: basename(scriptFile) }, null, 2)}\n`,
  );
  rmSync(join(root, 'dist/web'), { recursive: true, force: true });
  renameSync(WEB, join(root, 'dist/web'));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await buildWeb();
