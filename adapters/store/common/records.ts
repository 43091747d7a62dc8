/**
 * What every store does the same way at its boundary: validating what it reads back through
 * zod, opaque page cursors and pages, ISO times as epoch milliseconds, and capped page sizes.
 * Stores import these from here (sqlite/database.ts also re-exports them for its older
 * importers) and wrap `parseStored` with their own wording for a corrupt record.
 */
import { z } from 'zod';
import { ValidationError } from '../../../core/errors.js';
import type { Page } from '../../../core/ports.js';

/**
 * Validates a record read back from a store. One that fails is corruption — an Error saying
 * `invalid <what>: <issues>`, the ZodError as `cause` — never passed on half-typed.
 *
 * @example parseStored(RuleRow, row, 'row in rules') // throws "invalid row in rules: ..."
 */
export function parseStored<T extends z.ZodType>(schema: T, value: unknown, what: string): z.output<T> {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new Error(`invalid ${what}: ${z.prettifyError(result.error)}`, { cause: result.error });
  }
  return result.data;
}

/**
 * A string holding JSON, parsed and then validated by `schema` (a SQLite TEXT column, a
 * decompressed list); text that is not JSON is an issue of the parse, not a SyntaxError.
 */
export function jsonString<T extends z.ZodType>(schema: T) {
  return z
    .string()
    .transform((s, ctx) => {
      try {
        return JSON.parse(s) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'not JSON' });
        return z.NEVER;
      }
    })
    .pipe(schema);
}

/** Encodes a page position as an opaque base64url string. */
export function encodeCursor(key: unknown): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

/** Decodes a cursor made by `encodeCursor`; ValidationError when it is not one. */
export function decodeCursor<T extends z.ZodType>(cursor: string, schema: T): z.output<T> {
  try {
    const parsed = schema.safeParse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    if (parsed.success) return parsed.data;
  } catch {
    // falls through to the error below
  }
  throw new ValidationError('invalid cursor', { details: [{ path: 'cursor', message: 'not a cursor' }] });
}

/** Epoch milliseconds of an ISO time; ValidationError naming `field` when it is not one. */
export function toMillis(iso: string, field: string): number {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) {
    throw new ValidationError(`${field} is not an ISO time`, {
      details: [{ path: field, message: `not an ISO time: ${iso}` }],
    });
  }
  return ms;
}

/** Page sizes are capped so one call cannot pull a whole table, container or collection into memory. */
export const MAX_PAGE_SIZE = 1000;

/** The requested page size, clamped to [1, MAX_PAGE_SIZE]. */
export function pageSize(limit: number): number {
  if (!Number.isFinite(limit)) return MAX_PAGE_SIZE;
  return Math.min(Math.max(Math.trunc(limit), 1), MAX_PAGE_SIZE);
}

/**
 * The page of a read that asked for `limit + 1` rows: the first `limit` rows as items, and a
 * cursor at the position of the last of them when the extra row says there is more.
 *
 * @example pageOf(rows, limit, (r) => r.summary, (r) => [r.registryKey, r.repositoryKey, r.digestKey])
 */
export function pageOf<R, T>(
  rows: readonly R[],
  limit: number,
  item: (row: R) => T,
  position: (row: R) => unknown,
): Page<T> {
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    items: page.map(item),
    nextCursor: rows.length > limit && last !== undefined ? encodeCursor(position(last)) : null,
  };
}
