/** The webhook function's handler: `POST /admission/{token}` and `/healthz`, nothing of the admin API. */
import { handle } from 'hono/aws-lambda';
import { errorHandler } from '../http.js';
import { createWebhookApp } from '../webhook.js';
import {
  type FunctionUrlHandler,
  functionUrlHandler,
  type HandlerDeps,
  withLambdaRequestId,
} from './shared.js';

/**
 * The webhook behind a function URL.
 *
 * @example
 * export const handler = createWebhookHandler({ services: lazyServices(openStore, logger), logger });
 */
export function createWebhookHandler(deps: HandlerDeps): FunctionUrlHandler {
  const onError = withLambdaRequestId(errorHandler(deps.logger));
  return functionUrlHandler(deps.logger, async () =>
    handle(createWebhookApp(await deps.services(), onError)),
  );
}
