/**
 * The admin API under /api/v1 (DESIGN.md §4): bearer API keys with roles, rules with versions,
 * clusters, images, findings import, registries and their sync, admissions, what-if evaluation
 * and API keys.
 */
import { type Context, Hono, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { z } from 'zod';
import { IMPORT_FORMATS, parseReport } from '../adapters/registry/import.js';
import type { Rule } from '../core/domain.js';
import { ScanStatusSchema } from '../core/domain.js';
import {
  NotFoundError,
  PermissionDeniedError,
  UnauthenticatedError,
  ValidationError,
} from '../core/errors.js';
import type { Principal } from '../core/services/apikeys.js';
import type { WebhookEndpoint } from '../core/services/clusters.js';
import type { Services } from '../core/services/index.js';
import { parseInput } from '../core/validation.js';
import { etag, ifMatch, readJson, tooLarge } from './http.js';
import { mountMonitoringApi } from './monitoring.js';
import { openApiDocument } from './openapi.js';
import { mountRegistryApi, type RegistryApiOptions } from './registries.js';

const JSON_LIMIT = 1024 * 1024;
/** Scanner reports of large images run to tens of MiB. */
export const IMPORT_LIMIT = 64 * 1024 * 1024;

type Env = { Variables: { principal: Principal } };

export interface AdminOptions extends RegistryApiOptions {
  services: Services;
  /** Where clusters reach the webhook; derived from the request when the deployment does not say. */
  webhookEndpoint: (requestUrl: string) => WebhookEndpoint;
}

const ImagesQuerySchema = z.strictObject({
  registry: z.string().max(255).optional(),
  repository: z.string().max(512).optional(),
  status: ScanStatusSchema.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z.string().max(2048).optional(),
});

const ImportQuerySchema = z.strictObject({
  format: z.string({ error: 'format is required' }),
  region: z.string().max(64).optional(),
  image: z.string().max(1024).optional(),
});

const EvaluateBodySchema = z.strictObject({
  cluster: z.string().max(128).optional(),
  review: z.unknown().optional(),
  object: z.unknown().optional(),
});

function authenticate(services: Services): MiddlewareHandler<Env> {
  return async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw new UnauthenticatedError('missing API key: send "Authorization: Bearer <key>"');
    const principal = await services.apiKeys.authenticate(match[1]!);
    if (principal === null) throw new UnauthenticatedError('unknown API key');
    c.set('principal', principal);
    await next();
  };
}

/** Writes need SecurityAdmin; SecurityReader may read everything and run what-if evaluations. */
const requireAdmin: MiddlewareHandler<Env> = async (c, next) => {
  if (c.var.principal.role !== 'SecurityAdmin') {
    throw new PermissionDeniedError(
      `${c.var.principal.name} is a ${c.var.principal.role}; this needs SecurityAdmin`,
    );
  }
  await next();
};

function actor(c: Context<Env>): string {
  return `apikey:${c.var.principal.name}`;
}

function query(c: Context): Record<string, string> {
  return c.req.query();
}

function withEtag(c: Context<Env>, rule: Rule, status: 200 | 201 = 200) {
  c.header('ETag', etag(rule.version));
  return c.json(rule, status);
}

/** `abc:enable` → ['abc', 'enable']; Google-style custom methods on a resource. */
function splitMethod(target: string): [string, string | undefined] {
  const i = target.lastIndexOf(':');
  return i < 0 ? [target, undefined] : [target.slice(0, i), target.slice(i + 1)];
}

/** Mounts /api/v1 on `app`. */
export function mountAdminApi(app: Hono, options: AdminOptions): Hono {
  const { services } = options;
  const { rules, clusters, scans, monitoring, apiKeys, admission } = services;
  const api = new Hono<Env>();

  api.get('/openapi.json', (c) => c.json(openApiDocument()));
  api.use('*', authenticate(services));
  api.use('*', async (c, next) => {
    // Write methods need SecurityAdmin, except the read-only what-if evaluation.
    if (c.req.method === 'GET' || c.req.method === 'HEAD' || c.req.path.endsWith('/evaluate')) return next();
    return requireAdmin(c, next);
  });
  api.use('/findings:import', bodyLimit({ maxSize: IMPORT_LIMIT, onError: tooLarge(IMPORT_LIMIT) }));
  api.use('*', async (c, next) => {
    if (c.req.path.endsWith('/findings:import')) return next();
    return bodyLimit({ maxSize: JSON_LIMIT, onError: tooLarge(JSON_LIMIT) })(c, next);
  });

  const findRule = async (ref: string): Promise<Rule> => {
    const byName = await rules.getByName(ref);
    return byName ?? rules.get(ref);
  };

  api.get('/rules', async (c) => c.json({ items: await rules.list() }));
  api.post('/rules', async (c) => {
    const rule = await rules.create(await readJson(c), actor(c));
    c.header('Location', `/api/v1/rules/${rule.id}`);
    return withEtag(c, rule, 201);
  });
  api.get('/rules/:ref', async (c) => withEtag(c, await findRule(c.req.param('ref'))));
  api.put('/rules/:ref', async (c) => {
    const rule = await findRule(c.req.param('ref'));
    return withEtag(c, await rules.replace(rule.id, await readJson(c), ifMatch(c), actor(c)));
  });
  api.patch('/rules/:ref', async (c) => {
    const rule = await findRule(c.req.param('ref'));
    return withEtag(c, await rules.patch(rule.id, await readJson(c), ifMatch(c), actor(c)));
  });
  api.delete('/rules/:ref', async (c) => {
    const rule = await findRule(c.req.param('ref'));
    await rules.delete(rule.id, ifMatch(c), actor(c));
    return c.body(null, 204);
  });
  api.post('/rules/:target', async (c) => {
    const [ref, method] = splitMethod(c.req.param('target'));
    if (method !== 'enable' && method !== 'disable') {
      throw new NotFoundError(`no method "${method ?? ''}" on rules; use :enable or :disable`);
    }
    const rule = await findRule(ref);
    return withEtag(c, await rules.setEnabled(rule.id, method === 'enable', ifMatch(c), actor(c)));
  });
  api.post('/rules/:ref/exemptions', async (c) => {
    const rule = await findRule(c.req.param('ref'));
    return withEtag(c, await rules.addExemption(rule.id, await readJson(c), ifMatch(c), actor(c)), 201);
  });
  api.delete('/rules/:ref/exemptions/:exemptionId', async (c) => {
    const rule = await findRule(c.req.param('ref'));
    return withEtag(
      c,
      await rules.removeExemption(rule.id, c.req.param('exemptionId'), ifMatch(c), actor(c)),
    );
  });

  api.get('/clusters', async (c) => c.json({ items: await clusters.list() }));
  api.post('/clusters', async (c) => {
    const registration = await clusters.register(
      await readJson(c),
      actor(c),
      options.webhookEndpoint(c.req.url),
    );
    c.header('Location', `/api/v1/clusters/${registration.id}`);
    return c.json(registration, 201);
  });
  api.get('/clusters/:id', async (c) => c.json(await clusters.get(c.req.param('id'))));
  api.delete('/clusters/:id', async (c) => {
    await clusters.revoke(c.req.param('id'), actor(c));
    return c.body(null, 204);
  });
  api.post('/clusters/:target', async (c) => {
    const [id, method] = splitMethod(c.req.param('target'));
    if (method !== 'rotate-token')
      throw new NotFoundError(`no method "${method ?? ''}" on clusters; use :rotate-token`);
    return c.json(await clusters.rotateToken(id, actor(c), options.webhookEndpoint(c.req.url)));
  });

  api.get('/images', async (c) =>
    c.json(await scans.list(parseInput(ImagesQuerySchema, query(c), 'images query'))),
  );
  api.get('/images/:digest', async (c) => c.json(await scans.get(c.req.param('digest'))));

  api.post('/findings:import', async (c) => {
    const q = parseInput(ImportQuerySchema, query(c), 'import query');
    q.format = q.format.trim().toLowerCase();
    if (!(IMPORT_FORMATS as readonly string[]).includes(q.format)) {
      throw new ValidationError(`unknown format "${q.format}"; use one of ${IMPORT_FORMATS.join(', ')}`);
    }
    const body = await readJson(c);
    const parsed = parseReport(q.format, body, {
      image: q.image,
      region: q.region,
      now: services.clock.now(),
    });
    return c.json(await scans.ingest(parsed));
  });

  api.get('/admissions', async (c) => c.json(await monitoring.query(query(c))));
  api.get('/admissions/summary', async (c) => c.json(await monitoring.summary(query(c))));

  api.post('/evaluate', async (c) => {
    const body = parseInput(EvaluateBodySchema, await readJson(c), 'evaluate request');
    const input = body.review ?? body.object;
    if (input === undefined)
      throw new ValidationError('send "object" (a Kubernetes object) or "review" (an AdmissionReview)');
    let cluster = body.cluster === undefined ? null : await clusters.getByName(body.cluster);
    if (body.cluster !== undefined && cluster === null)
      throw new NotFoundError(`cluster ${body.cluster} not found`);
    cluster ??= {
      id: '',
      name: '',
      provider: 'other',
      account: '',
      failurePolicy: 'Fail',
      timeoutSeconds: 5,
      createdAt: '',
      createdBy: '',
      tokenRotatedAt: '',
    };
    return c.json(await admission.whatIf(cluster, input));
  });

  api.get('/apikeys', async (c) => c.json({ items: await apiKeys.list() }));
  api.post('/apikeys', async (c) => c.json(await apiKeys.create(await readJson(c), actor(c)), 201));
  api.delete('/apikeys/:id', async (c) => {
    await apiKeys.delete(c.req.param('id'), actor(c));
    return c.body(null, 204);
  });

  mountMonitoringApi(api, services);
  mountRegistryApi(api, services, actor, { syncInBackground: options.syncInBackground === true });
  app.route('/api/v1', api);
  return app;
}
