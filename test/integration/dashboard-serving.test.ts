/**
 * The dashboard's static serving through the shared application: caching (ETag, 304, immutable
 * hashed assets), compression, the Content-Security-Policy, and a clear answer when not built.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Hono } from 'hono';
import { afterAll, describe, expect, it } from 'vitest';
import { mountDashboard } from '../../functions/dashboard.js';

const dir = mkdtempSync(join(tmpdir(), 'portcullis-web-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
mkdirSync(join(dir, 'assets'));
const INDEX = `<!doctype html><title>t</title><script type="module" src="/assets/main-ABCD1234.js"></script>${' '.repeat(2000)}`;
const SCRIPT = `console.log(${JSON.stringify('x'.repeat(4000))});`;
writeFileSync(join(dir, 'index.html'), INDEX);
writeFileSync(join(dir, 'assets', 'main-ABCD1234.js'), SCRIPT);
writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ styleHash: 'sha256-abc=' }));

const app = mountDashboard(new Hono(), { dir });
const get = (path: string, headers: Record<string, string> = {}) =>
  app.request(`https://portcullis.test${path}`, { headers });

describe('the dashboard files', () => {
  it('serves index.html revalidated by ETag, under a strict Content-Security-Policy', async () => {
    const res = await get('/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self' 'sha256-abc='");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(await res.text()).toBe(INDEX);
    const etag = res.headers.get('etag')!;
    const again = await get('/', { 'if-none-match': etag });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
  });

  it('caches content-hashed assets for a year and compresses them', async () => {
    const res = await get('/assets/main-ABCD1234.js', { 'accept-encoding': 'gzip, deflate' });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(res.headers.get('content-encoding')).toBe('gzip');
    expect(res.headers.get('vary')).toBe('Accept-Encoding');
    const body = Buffer.from(await res.arrayBuffer());
    expect(body.length).toBeLessThan(SCRIPT.length / 10);
    expect(gunzipSync(body).toString()).toBe(SCRIPT);
    const br = await get('/assets/main-ABCD1234.js', { 'accept-encoding': 'gzip, br' });
    expect(br.headers.get('content-encoding')).toBe('br');
    expect(br.headers.get('etag')).not.toBe(res.headers.get('etag'));
    expect(
      (await get('/assets/main-ABCD1234.js', { 'if-none-match': res.headers.get('etag')! })).status,
    ).toBe(
      200, // the identity variant has its own ETag
    );
    expect(
      (
        await get('/assets/main-ABCD1234.js', {
          'accept-encoding': 'gzip',
          'if-none-match': res.headers.get('etag')!,
        })
      ).status,
    ).toBe(304);
  });

  it('answers 404 for an unknown asset and 503 when the dashboard is not built', async () => {
    const missing = await get('/assets/main-OLDHASH1.js');
    expect(missing.status).toBe(404);
    expect((await missing.json()).error.code).toBe('not_found');
    const empty = mkdtempSync(join(tmpdir(), 'portcullis-noweb-'));
    try {
      const bare = mountDashboard(new Hono(), { dir: join(empty, 'nothing') });
      const res = await bare.request('https://portcullis.test/');
      expect(res.status).toBe(503);
      expect((await res.json()).error.message).toContain('npm run build');
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
