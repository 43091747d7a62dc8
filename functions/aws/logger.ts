/**
 * The core `Logger` port over Powertools for AWS Lambda's Logger: one JSON object per line in
 * CloudWatch, with the invocation's request id, function name and cold-start flag on each line.
 */
import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import type { LambdaContext } from 'hono/aws-lambda';
import type { Logger } from '../../core/ports.js';

/** A core Logger that can also take the Lambda context of the invocation it is logging for. */
export interface LambdaLogger extends Logger {
  /** Puts the invocation's request id (and function name, version, cold start) on every later line. */
  setContext(context: LambdaContext): void;
}

/**
 * Adapts a Powertools Logger to the core port. Fields become top-level JSON keys; a field named
 * `error` that holds an Error is formatted by Powertools (name, message, stack).
 *
 * @example
 * const logger = powertoolsLogger(new Logger({ serviceName: 'portcullis' }));
 * logger.info('job finished', { job: 'expire-exemptions', expired: 2 });
 */
export function powertoolsLogger(logger: PowertoolsLogger): LambdaLogger {
  return {
    info: (message, fields) => (fields === undefined ? logger.info(message) : logger.info(message, fields)),
    warn: (message, fields) => (fields === undefined ? logger.warn(message) : logger.warn(message, fields)),
    error: (message, fields) =>
      fields === undefined ? logger.error(message) : logger.error(message, fields),
    // Powertools' Context type comes from @types/aws-lambda; hono's LambdaContext has the same fields.
    setContext: (context) => logger.addContext(context as Parameters<PowertoolsLogger['addContext']>[0]),
  };
}

/**
 * The logger of a Portcullis function. The level comes from `POWERTOOLS_LOG_LEVEL` (or Lambda's
 * own `AWS_LAMBDA_LOG_LEVEL`), INFO by default.
 */
export function createLambdaLogger(serviceName = 'portcullis'): LambdaLogger {
  return powertoolsLogger(new PowertoolsLogger({ serviceName }));
}
