/**
 * Serves the Admission Monitoring dashboard (the static files `scripts/build.mjs` writes to
 * dist/web/) at `/` and `/assets/*`: compressed once in memory, with ETags, long-lived caching
 * for the content-hashed assets and a strict Content-Security-Policy. The dashboard holds an API
 * key, so it runs no script but its own and talks to no origin but this one.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import type { Context, Hono } from 'hono';
import { errorBody } from './http.js';

export interface DashboardOptions {
  /** The built dashboard (index.html, assets/, manifest.json); found beside the bundle by default. */
  dir?: string;
}

interface Asset {
  type: string;
  /** Content-hashed names never change content: cached for a year. */
  immutable: boolean;
  etag: string;
  identity: Buffer;
  gzip: Buffer;
  br: Buffer;
}

interface Site {
  index: Asset;
  assets: Map<string, Asset>;
  csp: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
};
const HASHED = /-[A-Z0-9]{8}\.[a-z]+$/;

/** Where the built dashboard is: next to a bundle in dist/, or dist/web from the source tree. */
export function findDashboardDir(): string | undefined {
  const candidates: string[] = [];
  try {
    const here = dirname(fileURLToPath(import.meta.url));
    candidates.push(join(here, 'web'), join(here, '..', 'dist', 'web'));
  } catch {
    // Bundled as CommonJS: no import.meta.url; fall back to the working directory.
  }
  candidates.push(join(process.cwd(), 'dist', 'web'));
  return candidates.find((d) => existsSync(join(d, 'index.html')));
}

function asset(name: string, data: Buffer): Asset {
  const ext = name.slice(name.lastIndexOf('.'));
  return {
    type: TYPES[ext] ?? 'application/octet-stream',
    immutable: HASHED.test(name),
    etag: createHash('sha256').update(data).digest('base64url').slice(0, 22),
    identity: data,
    gzip: gzipSync(data, { level: 9 }),
    br: brotliCompressSync(data, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }),
  };
}

function load(dir: string): Site {
  const assets = new Map<string, Asset>();
  const assetDir = join(dir, 'assets');
  if (existsSync(assetDir)) {
    for (const name of readdirSync(assetDir))
      assets.set(name, asset(name, readFileSync(join(assetDir, name))));
  }
  let styleHash = '';
  try {
    styleHash =
      (JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { styleHash?: string }).styleHash ??
      '';
  } catch {
    // Without the manifest the inline styles are refused by the policy: the page still works.
  }
  const csp = [
    "default-src 'none'",
    "script-src 'self'",
    `style-src 'self'${styleHash ? ` '${styleHash}'` : ''}`,
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return { index: asset('index.html', readFileSync(join(dir, 'index.html'))), assets, csp };
}

/** Picks the smallest encoding the client accepts. */
function encodingFor(c: Context): 'br' | 'gzip' | 'identity' {
  const accept = c.req.header('accept-encoding') ?? '';
  if (/\bbr\b/.test(accept)) return 'br';
  if (/\bgzip\b/.test(accept)) return 'gzip';
  return 'identity';
}

function send(c: Context, a: Asset, csp?: string): Response {
  const encoding = encodingFor(c);
  const etag = `"${a.etag}${encoding === 'identity' ? '' : `-${encoding}`}"`;
  const headers: Record<string, string> = {
    'content-type': a.type,
    etag,
    vary: 'Accept-Encoding',
    'cache-control': a.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  };
  if (csp !== undefined) headers['content-security-policy'] = csp;
  const match = c.req.header('if-none-match');
  if (match?.split(',').some((t) => t.trim().replace(/^W\//, '') === etag)) {
    return new Response(null, { status: 304, headers });
  }
  const body = encoding === 'br' ? a.br : encoding === 'gzip' ? a.gzip : a.identity;
  if (encoding !== 'identity') headers['content-encoding'] = encoding;
  headers['content-length'] = String(body.length);
  return new Response(c.req.method === 'HEAD' ? null : new Uint8Array(body), { status: 200, headers });
}

/**
 * Mounts the dashboard on the application: `GET /` (index.html) and `GET /assets/<name>`.
 * Files are read and compressed on the first request and kept in memory.
 *
 * @example mountDashboard(app) // in createApp, next to the webhook and the admin API
 */
export function mountDashboard(app: Hono, options: DashboardOptions = {}): Hono {
  let site: Site | null | undefined;
  const current = (): Site | null => {
    if (site === undefined) {
      const dir = options.dir ?? findDashboardDir();
      site = dir === undefined || !existsSync(join(dir, 'index.html')) ? null : load(dir);
    }
    return site;
  };
  const missing = (c: Context) =>
    c.json(
      errorBody(
        'unavailable',
        'the dashboard is not built into this deployment: run `npm run build` (dist/web)',
      ),
      503,
    );
  app.on(['GET', 'HEAD'], '/', (c) => {
    const s = current();
    return s === null ? missing(c) : send(c, s.index, s.csp);
  });
  app.on(['GET', 'HEAD'], '/assets/:name', (c) => {
    const s = current();
    if (s === null) return missing(c);
    const a = s.assets.get(c.req.param('name'));
    if (a === undefined)
      return c.json(errorBody('not_found', `no dashboard asset ${c.req.param('name')}`), 404);
    return send(c, a);
  });
  return app;
}
