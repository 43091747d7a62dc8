/**
 * The core `Logger` port over Azure Functions' invocation logging. Services live for the whole
 * instance but each log line belongs to one invocation (Application Insights ties it to the
 * request by the invocation id), so the logger looks up the invocation it runs in.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { InvocationContext } from '@azure/functions';
import type { Logger } from '../../core/ports.js';

type Level = 'info' | 'warn' | 'error';

/** One JSON object per line: the message and its fields, easy to query in Log Analytics. */
function line(level: Level, message: string, fields?: Record<string, unknown>): string {
  return JSON.stringify({ level, message, ...fields });
}

/** A Logger writing through one invocation's `info`/`warn`/`error`. */
export function contextLogger(context: Pick<InvocationContext, Level>): Logger {
  return {
    info: (message, fields) => context.info(line('info', message, fields)),
    warn: (message, fields) => context.warn(line('warn', message, fields)),
    error: (message, fields) => context.error(line('error', message, fields)),
  };
}

const current = new AsyncLocalStorage<Logger>();

/** Outside any invocation (module load, a straggling promise) the host still captures stdout. */
const consoleLogger: Logger = {
  info: (message, fields) => console.info(line('info', message, fields)),
  warn: (message, fields) => console.warn(line('warn', message, fields)),
  error: (message, fields) => console.error(line('error', message, fields)),
};

/**
 * The instance-wide Logger handed to services: each call goes to the invocation it is made in
 * (see `withInvocation`), or to the console outside one.
 */
export const invocationLogger: Logger = {
  info: (message, fields) => (current.getStore() ?? consoleLogger).info(message, fields),
  warn: (message, fields) => (current.getStore() ?? consoleLogger).warn(message, fields),
  error: (message, fields) => (current.getStore() ?? consoleLogger).error(message, fields),
};

/** Runs `work` so that `invocationLogger` writes to `context` for everything it awaits. */
export function withInvocation<T>(
  context: Pick<InvocationContext, Level>,
  work: () => Promise<T>,
): Promise<T> {
  return current.run(contextLogger(context), work);
}
