// Bundles the runnable entry points (local emulator, CLI) and the dashboard with esbuild.
// Runs on `npm install` (prepare) and before `npm start`, so the `portcullis` bin works from a clone.
import { copyFileSync } from 'node:fs';
import { build } from 'esbuild';
import { buildWeb } from './build-web.mjs';

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

// The SQLite store's event-writer thread runs this file by path (adapters/store/sqlite/admission-log.ts).
copyFileSync('adapters/store/sqlite/event-writer.cjs', 'dist/event-writer.cjs');

await buildWeb();
