/**
 * The SQLite plumbing shared by every Sqlite* port: opening a tuned connection, write
 * transactions, translating SQLite errors into core errors, reading rows through zod, and
 * opaque cursors.
 */
import { createRequire } from 'node:module';
import Database from 'libsql';
import type { z } from 'zod';
import { ConflictError, UnavailableError } from '../../../core/errors.js';
import { jsonString, parseStored } from '../common/records.js';

/** A libsql (better-sqlite3-compatible) connection. */
export type Db = Database.Database;

/** How long a writer waits for another connection's lock before SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 5000;

/**
 * The pragmas a small, durable, concurrent-reader store wants on every connection: WAL so
 * readers never block the writer (':memory:' answers 'memory' and stays so; that is fine),
 * `synchronous=NORMAL` (durable at checkpoints, safe against corruption in WAL mode), a busy
 * timeout instead of instant SQLITE_BUSY, and foreign keys (admission side tables cascade on
 * purge). The admission log's writer thread opens its connection with them too.
 */
export const CONNECTION_PRAGMAS: readonly string[] = [
  `PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`,
  'PRAGMA journal_mode = WAL',
  'PRAGMA synchronous = NORMAL',
  'PRAGMA foreign_keys = ON',
];

/** Opens `path` (a file or `:memory:`) with `CONNECTION_PRAGMAS`. */
export function openDatabase(path: string): Db {
  const db = new Database(path);
  try {
    for (const pragma of CONNECTION_PRAGMAS) db.exec(pragma);
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}

/**
 * Runs `fn` in a `BEGIN IMMEDIATE` transaction: taking the write lock up front means two
 * connections never deadlock upgrading a read lock, and busy_timeout does the waiting.
 * Statements inside run synchronously, so no other call on this connection interleaves.
 * (One implementation, in event-writer.cjs, which the event-writer thread runs as well.)
 */
export const writeTx: <T>(db: Db, fn: () => T) => T = (
  createRequire(import.meta.url)('./event-writer.cjs') as { transaction: <T>(db: Db, fn: () => T) => T }
).transaction;

interface SqliteErrorLike {
  code: string;
  message: string;
}

function isSqliteError(e: unknown): e is SqliteErrorLike {
  if (!(e instanceof Error)) return false;
  const code: unknown = (e as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('SQLITE_');
}

/** True for a UNIQUE or PRIMARY KEY violation. */
export function isUniqueViolation(e: unknown): boolean {
  return (
    isSqliteError(e) && (e.code === 'SQLITE_CONSTRAINT_UNIQUE' || e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY')
  );
}

/**
 * Translates what SQLite threw into a core error (the original kept as `cause`) and rethrows
 * anything it does not recognise. `conflict` names the thing whose unique key was taken.
 */
export function translateError(e: unknown, conflict: string): never {
  if (isUniqueViolation(e)) throw new ConflictError(`${conflict} already exists`, { cause: e });
  if (isSqliteError(e) && (e.code.startsWith('SQLITE_BUSY') || e.code.startsWith('SQLITE_LOCKED'))) {
    throw new UnavailableError('the database is busy; try again', { cause: e });
  }
  throw e;
}

/** Runs a single write, translating what SQLite throws (see `translateError`). */
export function guard<T>(fn: () => T, conflict = 'the record'): T {
  try {
    return fn();
  } catch (e) {
    translateError(e, conflict);
  }
}

/** A TEXT column holding JSON, parsed and then validated by `schema`. */
export const jsonColumn = jsonString;

/**
 * Validates a row read back from a table. Unknown columns (libsql adds `_metadata`) are
 * dropped by the object schema; a row that fails is corruption, reported with the table name.
 */
export function parseRow<T extends z.ZodType>(schema: T, row: unknown, table: string): z.output<T> {
  return parseStored(schema, row, `row in ${table}`);
}

export {
  decodeCursor,
  encodeCursor,
  MAX_PAGE_SIZE,
  pageOf,
  pageSize,
  toMillis,
} from '../common/records.js';

/** Escapes `%`, `_` and `\` for a `LIKE ... ESCAPE '\'` pattern. */
export function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}
