/** The cloud scenario through the shared Hono application itself: the reference every runtime matches. */
import { afterAll, it } from 'vitest';
import { openSqliteStore } from '../../adapters/store/sqlite/index.js';
import { createServices } from '../../core/services/index.js';
import { createApp } from '../../functions/app.js';
import { runAdmissionScenario } from './cloud-scenario.js';

const store = openSqliteStore({ path: ':memory:' });
afterAll(() => store.close());

it('passes the admission scenario through app.fetch', async () => {
  const services = createServices(store);
  await services.rules.seedDefaultRule();
  const key = `pck_${'a'.repeat(43)}`;
  await services.apiKeys.ensure(key, 'admin', 'SecurityAdmin');
  const app = createApp({ services });
  await runAdmissionScenario(async (_target, method, path, options = {}) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
    const res = await app.request(`https://portcullis.test${path}`, { method, headers, body: options.body });
    const text = await res.text();
    return {
      status: res.status,
      json: text ? JSON.parse(text) : undefined,
      headers: Object.fromEntries([...res.headers]),
    };
  }, key);
});
