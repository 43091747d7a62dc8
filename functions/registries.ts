/**
 * Registry connector routes of the admin API (DESIGN.md §4-5), mounted on the authenticated
 * /api/v1 app: registries, on-demand sync and the record of sync runs.
 */
import type { Context, Env, Hono } from 'hono';
import { z } from 'zod';
import { NotFoundError } from '../core/errors.js';
import type { Services } from '../core/services/index.js';
import { parseInput } from '../core/validation.js';
import { readJson } from './http.js';

export interface RegistryApiOptions {
  /**
   * Whether `:sync` without `wait` may answer 202 and let the run carry on after the response
   * (true where the process outlives the request: the local emulator). Where a platform freezes
   * the instance once it has answered (Lambda, Cloud Functions), leave it false: the run is then
   * finished before the answer, as with `wait=true`.
   */
  syncInBackground?: boolean;
}

const SyncQuerySchema = z.strictObject({
  wait: z
    .enum(['true', 'false', '1', '0'], { error: 'wait is true or false' })
    .transform((w) => w === 'true' || w === '1')
    .optional(),
});
const RunsQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(20),
});

/** `abc:sync` → ['abc', 'sync']; Google-style custom methods on a resource. */
function splitMethod(target: string): [string, string | undefined] {
  const i = target.lastIndexOf(':');
  return i < 0 ? [target, undefined] : [target.slice(0, i), target.slice(i + 1)];
}

/**
 * Adds `/registries` (list, add, get, remove, `:enable`, `:disable`, `:sync`, `/runs`) and
 * `/syncruns` to the admin API app. `actor` names the caller for the log.
 *
 * @example mountRegistryApi(api, services, (c) => `apikey:${c.var.principal.name}`, { syncInBackground: true })
 */
export function mountRegistryApi<E extends Env>(
  api: Hono<E>,
  services: Services,
  actor: (c: Context<E>) => string,
  options: RegistryApiOptions = {},
): void {
  const { sync } = services;

  api.get('/registries', async (c) => c.json({ items: await sync.list() }));
  api.post('/registries', async (c) => {
    const registry = await sync.create(await readJson(c), actor(c));
    c.header('Location', `/api/v1/registries/${registry.id}`);
    return c.json(registry, 201);
  });
  api.get('/registries/:ref', async (c) => c.json(await sync.get(c.req.param('ref'))));
  api.delete('/registries/:ref', async (c) => {
    await sync.delete(c.req.param('ref'), actor(c));
    return c.body(null, 204);
  });
  api.get('/registries/:ref/runs', async (c) => {
    const { limit } = parseInput(RunsQuerySchema, c.req.query(), 'runs query');
    return c.json({ items: await sync.runs(c.req.param('ref'), limit) });
  });
  api.post('/registries/:target', async (c) => {
    const [ref, method] = splitMethod(c.req.param('target'));
    if (method === 'enable' || method === 'disable') {
      return c.json(await sync.setEnabled(ref, method === 'enable', actor(c)));
    }
    if (method !== 'sync') {
      throw new NotFoundError(`no method "${method ?? ''}" on registries; use :enable, :disable or :sync`);
    }
    const { wait } = parseInput(SyncQuerySchema, c.req.query(), 'sync query');
    const started = await sync.start(ref, 'manual');
    if (wait === true || options.syncInBackground !== true) return c.json(await started.finished, 200);
    // The run goes on after this answer; its record says how it ends.
    void started.finished;
    c.header('Location', `/api/v1/syncruns/${started.run.id}`);
    return c.json(started.run, 202);
  });

  api.get('/syncruns', async (c) => {
    const { limit } = parseInput(RunsQuerySchema, c.req.query(), 'runs query');
    return c.json({ items: await sync.runs(undefined, limit) });
  });
  api.get('/syncruns/:id', async (c) => c.json(await sync.run(c.req.param('id'))));
}
