/** Registers the admin function: every other path (/api/v1/..., /healthz), anonymous (bearer keys). */
import azure from '@azure/functions';
import { createApiHandler } from './handlers.js';
import { services } from './instance.js';

azure.app.http('api', {
  route: '{*path}',
  methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'],
  authLevel: 'anonymous',
  handler: createApiHandler({ services }),
});
