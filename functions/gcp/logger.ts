/**
 * The core `Logger` port as Cloud Logging structured logs: one JSON object per line on stdout,
 * with `severity` and `message`, which the Cloud Functions (Cloud Run) log agent turns into
 * log entries with that severity and the other members as `jsonPayload`.
 */
import type { Logger } from '../../core/ports.js';

/** Cloud Logging's `LogSeverity` names for the port's three levels. */
const SEVERITY = { info: 'INFO', warn: 'WARNING', error: 'ERROR' } as const;

/** A JavaScript stack in an `error` field; Error Reporting picks errors up from `stack_trace`. */
const STACK = /\n\s+at /;

/**
 * A Logger writing Cloud Logging's structured JSON lines.
 *
 * @example
 * const logger = cloudLogger();
 * logger.warn('job slow', { job: 'monitoring-upkeep', durationMs: 9000 });
 * // {"severity":"WARNING","message":"job slow","time":"…","job":"monitoring-upkeep","durationMs":9000}
 */
export function cloudLogger(
  write: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
): Logger {
  const log =
    (level: keyof typeof SEVERITY) =>
    (message: string, fields: Record<string, unknown> = {}): void => {
      const entry: Record<string, unknown> = {
        ...fields,
        severity: SEVERITY[level],
        message,
        time: new Date().toISOString(),
      };
      if (level === 'error' && typeof fields.error === 'string' && STACK.test(fields.error)) {
        entry.stack_trace = fields.error;
      }
      write(safeStringify(entry));
    };
  return { info: log('info'), warn: log('warn'), error: log('error') };
}

/** JSON.stringify that never throws: a field that cannot be serialized is logged as a string. */
function safeStringify(entry: Record<string, unknown>): string {
  try {
    return JSON.stringify(entry, (_key, value: unknown) => {
      if (typeof value === 'bigint') return value.toString();
      if (value instanceof Error) return value.stack ?? value.message;
      return value;
    });
  } catch {
    return JSON.stringify({
      severity: entry.severity,
      message: entry.message,
      time: entry.time,
      fields: String(Object.keys(entry)),
    });
  }
}
