/**
 * What the Lambda handlers share: the event and result shapes, their dependencies, and serving
 * a function URL event through a Hono app built once per instance. Kept apart from the admin
 * API so that the webhook's bundle carries none of it.
 */
import type { ErrorHandler } from 'hono';
import type { APIGatewayProxyResult, handle, LambdaContext, LambdaEvent } from 'hono/aws-lambda';
import type { Services } from '../../core/services/index.js';
import { errorBody } from '../http.js';
import { perInstance } from '../runtime.js';
import type { LambdaLogger } from './logger.js';

/** A Lambda function URL request (API Gateway HTTP API payload format 2.0). */
export type FunctionUrlEvent = Extract<LambdaEvent, { rawPath: string }>;
/** What a function URL turns into the HTTP response. */
export type FunctionUrlResult = APIGatewayProxyResult;
export type FunctionUrlHandler = (
  event: FunctionUrlEvent,
  context?: LambdaContext,
) => Promise<FunctionUrlResult>;
export type { LambdaContext };

/** What every handler needs: the instance's services (built once, see `lazyServices`) and a logger. */
export interface HandlerDeps {
  services: () => Promise<Services>;
  logger: LambdaLogger;
}

type Serve = ReturnType<typeof handle>;

/**
 * Serves function URL events through the app `build` makes, once per instance. When the app
 * cannot be built (its store or configuration is broken) the caller gets a 503 JSON error, which
 * the Kubernetes API server applies the webhook's `failurePolicy` to, and the next request tries
 * again.
 */
export function functionUrlHandler(logger: LambdaLogger, build: () => Promise<Serve>): FunctionUrlHandler {
  const app = perInstance(build);
  return async (event, context) => {
    if (context !== undefined) logger.setContext(context);
    let serve: Serve;
    try {
      serve = await app();
    } catch (error) {
      const requestId = context?.awsRequestId ?? event.requestContext?.requestId;
      logger.error('function start failed', {
        requestId,
        error: error instanceof Error ? error.stack : String(error),
      });
      return {
        statusCode: 503,
        headers: { 'content-type': 'application/json' },
        isBase64Encoded: false,
        body: JSON.stringify(
          errorBody('unavailable', `the service is not available; request id ${requestId ?? 'unknown'}`),
        ),
      };
    }
    return serve(event, context);
  };
}

/**
 * Gives 5xx answers the Lambda request id (which CloudWatch logs carry too) when the app has no
 * request-id middleware of its own.
 */
export function withLambdaRequestId(onError: ErrorHandler): ErrorHandler {
  return (error, c) => {
    const env = c.env as
      | { lambdaContext?: LambdaContext; requestContext?: { requestId?: string } }
      | undefined;
    const requestId = env?.lambdaContext?.awsRequestId ?? env?.requestContext?.requestId;
    if (requestId !== undefined && c.get('requestId' as never) === undefined)
      c.set('requestId' as never, requestId as never);
    return onError(error, c);
  };
}
