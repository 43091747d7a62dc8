/**
 * The connectors' checkpoint, opaque to core: `since` (changes at or after this time are still
 * to be seen), and mid-run, where the run got to. A run walks its work in a fixed order of
 * units (repositories, projects, digests), so a cursor `{ unit, token }` says that every unit
 * before `unit` is delivered and, within `unit`, every page before `token` (no token: the whole
 * unit). A resumed run keeps the interrupted run's start, so that what changed while it was
 * interrupted is seen by the next run.
 */

/** Where a run is: the lower bound of what it looks at, its start, and how far it got. */
export interface SyncPosition {
  /** Changes at or after this ISO time are looked at; undefined = everything (a full sync). */
  since?: string;
  /** The start of the run (of the interrupted run when resuming), ISO time. */
  startedAt: string;
  cursor?: SyncCursor;
}

export interface SyncCursor {
  unit: string;
  /** The page token to continue `unit` from; absent when `unit` is done. */
  token?: string;
}

/**
 * How far before a run's start the next run looks: registry clocks are not ours, and scanners
 * publish results a little after they date them. Seeing a change twice costs an idempotent write.
 */
export const OVERLAP_MS = 10 * 60_000;

const VERSION = 1;

function isoOrUndefined(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

/**
 * Reads a checkpoint into the position to start from. Anything unreadable means a full sync:
 * looking at too much is safe, skipping is not. A bare ISO time is taken as `since`.
 */
export function startPosition(checkpoint: string | undefined, now: Date): SyncPosition {
  const fresh: SyncPosition = { startedAt: now.toISOString() };
  if (checkpoint === undefined || checkpoint.trim() === '') return fresh;
  const bare = isoOrUndefined(checkpoint.trim());
  if (bare !== undefined && !checkpoint.trim().startsWith('{')) return { ...fresh, since: bare };
  let parsed: unknown;
  try {
    parsed = JSON.parse(checkpoint);
  } catch {
    return fresh;
  }
  if (typeof parsed !== 'object' || parsed === null) return fresh;
  const p = parsed as { v?: unknown; since?: unknown; startedAt?: unknown; cursor?: unknown };
  if (p.v !== VERSION) return fresh;
  const since = isoOrUndefined(p.since);
  const base: SyncPosition = since === undefined ? { ...fresh } : { ...fresh, since };
  const cursor = p.cursor as { unit?: unknown; token?: unknown } | undefined;
  const startedAt = isoOrUndefined(p.startedAt);
  if (typeof cursor?.unit !== 'string' || startedAt === undefined) return base;
  return {
    ...base,
    startedAt,
    cursor:
      typeof cursor.token === 'string' ? { unit: cursor.unit, token: cursor.token } : { unit: cursor.unit },
  };
}

/** The checkpoint to save after a batch: the same `since`, and the cursor reached. */
export function progressCheckpoint(position: SyncPosition, cursor: SyncCursor): string {
  return JSON.stringify({
    v: VERSION,
    ...(position.since === undefined ? {} : { since: position.since }),
    startedAt: position.startedAt,
    cursor,
  });
}

/** The checkpoint a finished run returns: the next run looks from this run's start (less the overlap). */
export function finalCheckpoint(position: SyncPosition): string {
  const since = new Date(Date.parse(position.startedAt) - OVERLAP_MS).toISOString();
  return JSON.stringify({ v: VERSION, since });
}

/** What to do with a unit given the cursor: skip it (done), resume it at a token, or run it whole. */
export function unitStart(
  position: SyncPosition,
  unit: string,
): { skip: true } | { skip: false; token?: string } {
  const cursor = position.cursor;
  if (cursor === undefined || unit > cursor.unit) return { skip: false };
  if (unit < cursor.unit || cursor.token === undefined) return { skip: true };
  return { skip: false, token: cursor.token };
}

/** True when `time` (ISO) is at or after `since`, or there is no `since` (a full sync). */
export function changedSince(time: string | undefined, since: string | undefined): boolean {
  if (since === undefined) return true;
  return time !== undefined && time >= since;
}
