/**
 * The admission monitoring log in SQLite: one row per event (the event as JSON plus the
 * filtered columns) and two side tables that make the image and rule filters index seeks.
 */
import { z } from 'zod';
import { type AdmissionEvent, AdmissionEventSchema, DecisionSchema } from '../../../core/domain.js';
import { ValidationError } from '../../../core/errors.js';
import type {
  AdmissionLog,
  AdmissionQuery,
  Clock,
  Page,
  SummaryBucket,
  SummaryQuery,
} from '../../../core/ports.js';
import {
  type Db,
  decodeCursor,
  encodeCursor,
  escapeLike,
  guard,
  jsonColumn,
  pageSize,
  parseRow,
  toMillis,
  translateError,
  writeTx,
} from './database.js';

const EventRow = z.object({ id: z.string(), time_ms: z.number(), doc: jsonColumn(AdmissionEventSchema) });
const BucketRow = z.object({ start_ms: z.number(), decision: DecisionSchema, n: z.number() });

/** The position after the last event of a page: its (time in ms, id). */
const EventCursor = z.tuple([z.number().int(), z.string()]);

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** Options of the admission log. */
export interface SqliteAdmissionLogOptions {
  clock: Clock;
  /** Events older than this many days are deleted, as a cloud store's TTL would. */
  retentionDays: number;
}

/** The `AdmissionLog` port over `admission_events` and its side tables. */
export class SqliteAdmissionLog implements AdmissionLog {
  private readonly stmts;
  private lastRetentionRun = Number.NEGATIVE_INFINITY;
  private pending: {
    event: AdmissionEvent;
    timeMs: number;
    resolve: () => void;
    reject: (error: unknown) => void;
  }[] = [];

  constructor(
    private readonly db: Db,
    private readonly options: SqliteAdmissionLogOptions,
  ) {
    this.stmts = {
      insert: db.prepare(
        `INSERT INTO admission_events (id, time_ms, uid, cluster, namespace, decision, doc)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      insertImage: db.prepare(
        'INSERT OR IGNORE INTO admission_event_images (event_id, reference, digest) VALUES (?, ?, ?)',
      ),
      insertRule: db.prepare(
        'INSERT OR IGNORE INTO admission_event_rules (event_id, rule_key, time_ms) VALUES (?, ?, ?)',
      ),
      // Side rows go with their event through ON DELETE CASCADE.
      purge: db.prepare('DELETE FROM admission_events WHERE time_ms < ?'),
    };
  }

  /**
   * Stores an event as given (the caller decides whether dry runs are recorded). Events
   * recorded in the same tick share one transaction (group commit): under load that is one
   * fsync and one index walk for many admissions. Each caller's promise settles with its own
   * event's outcome.
   */
  record(event: AdmissionEvent): Promise<void> {
    const timeMs = toMillis(event.time, 'time');
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ event, timeMs, resolve, reject });
      if (this.pending.length === 1) setImmediate(() => this.flush());
    });
  }

  /** Writes every pending event now (also called on close). */
  flush(): void {
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    this.applyRetention();
    try {
      writeTx(this.db, () => {
        for (const p of batch) this.insert(p.event, p.timeMs);
      });
      for (const p of batch) p.resolve();
    } catch {
      // One bad event (a duplicate id) must not cost the others: write them one by one.
      for (const p of batch) {
        try {
          writeTx(this.db, () => this.insert(p.event, p.timeMs));
          p.resolve();
        } catch (e) {
          try {
            translateError(e, `admission event ${p.event.id}`);
          } catch (translated) {
            p.reject(translated);
          }
        }
      }
    }
  }

  private insert(event: AdmissionEvent, timeMs: number): void {
    const { insert, insertImage, insertRule } = this.stmts;
    insert.run(
      event.id,
      timeMs,
      event.uid,
      event.cluster,
      event.namespace,
      event.decision,
      JSON.stringify(event),
    );
    const ruleKeys = new Set<string>();
    for (const image of event.images) {
      // Lower-cased here so the filters compare case-insensitively and still use the indexes.
      insertImage.run(event.id, image.reference.toLowerCase(), image.digest?.toLowerCase() ?? '');
      for (const rule of image.triggeredRules) {
        ruleKeys.add(rule.ruleId.toLowerCase());
        ruleKeys.add(rule.ruleName.toLowerCase());
      }
    }
    for (const key of ruleKeys) insertRule.run(event.id, key, timeMs);
  }

  /**
   * Newest first by (time, id); every filter combines with AND. A rule filter drives the
   * query from the rule side table's (key, time, id) index; otherwise the events' own
   * indexes serve each filter with the time order, and SQLite picks among them.
   */
  async query(query: AdmissionQuery): Promise<Page<AdmissionEvent>> {
    const limit = pageSize(query.limit);
    const byRule = query.rule !== undefined && query.rule !== '';
    // The columns that order and bound the walk: the side table's copies when it drives.
    const [time, id] = byRule ? ['k.time_ms', 'k.event_id'] : ['e.time_ms', 'e.id'];
    const where: string[] = [];
    const params: (string | number)[] = [];
    const add = (clause: string, ...values: (string | number)[]) => {
      where.push(clause);
      params.push(...values);
    };
    if (byRule) add('k.rule_key = ?', (query.rule as string).toLowerCase());
    if (query.uid !== undefined) add('e.uid = ?', query.uid);
    if (query.cluster !== undefined) add('e.cluster = ?', query.cluster);
    if (query.namespace !== undefined) add('e.namespace = ?', query.namespace);
    if (query.decision !== undefined) add('e.decision = ?', query.decision);
    if (query.from !== undefined) add(`${time} >= ?`, toMillis(query.from, 'from'));
    if (query.to !== undefined) add(`${time} < ?`, toMillis(query.to, 'to'));
    if (query.image !== undefined && query.image !== '') {
      // A substring cannot use an index; the probe per event is a primary-key seek.
      const image = query.image.toLowerCase();
      add(
        `EXISTS (SELECT 1 FROM admission_event_images i WHERE i.event_id = e.id
           AND (i.digest = ? OR i.reference LIKE ? ESCAPE '\\'))`,
        image,
        `%${escapeLike(image)}%`,
      );
    }
    if (query.cursor !== undefined) {
      add(`(${time}, ${id}) < (?, ?)`, ...decodeCursor(query.cursor, EventCursor));
    }
    const from = byRule
      ? 'admission_event_rules k JOIN admission_events e ON e.id = k.event_id'
      : 'admission_events e';
    const sql = `SELECT e.id, e.time_ms, e.doc FROM ${from}
      ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY ${time} DESC, ${id} DESC LIMIT ?`;
    const rows = this.db
      .prepare(sql)
      .all(...params, limit + 1)
      .map((row) => parseRow(EventRow, row, 'admission_events'));
    const more = rows.length > limit;
    const page = more ? rows.slice(0, limit) : rows;
    const last = page.at(-1);
    return {
      items: page.map((r) => r.doc),
      nextCursor: more && last ? encodeCursor([last.time_ms, last.id]) : null,
    };
  }

  /** Decision counts per UTC hour or day over [from, to); only buckets with events, ascending. */
  async summary(query: SummaryQuery): Promise<SummaryBucket[]> {
    const from = toMillis(query.from, 'from');
    const to = toMillis(query.to, 'to');
    if (from > to) {
      throw new ValidationError('from must not be after to', {
        details: [{ path: 'from', message: 'after to' }],
      });
    }
    const width = query.bucket === 'day' ? DAY_MS : HOUR_MS;
    const where = ['time_ms >= ?', 'time_ms < ?'];
    const params: (string | number)[] = [from, to];
    if (query.cluster !== undefined) {
      where.push('cluster = ?');
      params.push(query.cluster);
    }
    if (query.namespace !== undefined) {
      where.push('namespace = ?');
      params.push(query.namespace);
    }
    // Epoch milliseconds are UTC, and UTC days and hours are whole multiples of them.
    const rows = this.db
      .prepare(
        `SELECT (time_ms - (time_ms % ${width})) AS start_ms, decision, count(*) AS n
         FROM admission_events WHERE ${where.join(' AND ')}
         GROUP BY start_ms, decision ORDER BY start_ms`,
      )
      .all(...params)
      .map((row) => parseRow(BucketRow, row, 'admission_events'));
    const buckets = new Map<number, SummaryBucket>();
    for (const row of rows) {
      let bucket = buckets.get(row.start_ms);
      if (bucket === undefined) {
        bucket = { start: new Date(row.start_ms).toISOString(), Allowed: 0, Audited: 0, Denied: 0 };
        buckets.set(row.start_ms, bucket);
      }
      bucket[row.decision] += row.n;
    }
    return [...buckets.values()];
  }

  /** Deletes events (and their side rows) older than `before`; returns how many events went. */
  async purgeBefore(before: string): Promise<number> {
    return this.purge(toMillis(before, 'before'));
  }

  /**
   * Deletes events past the retention period. SQLite has no TTL, so the log runs this itself
   * at open and then at most hourly from `record`, keeping each run small.
   */
  applyRetention(): number {
    const now = this.options.clock.now().getTime();
    if (now - this.lastRetentionRun < HOUR_MS) return 0;
    this.lastRetentionRun = now;
    return this.purge(now - this.options.retentionDays * DAY_MS);
  }

  private purge(beforeMs: number): number {
    return guard(() => writeTx(this.db, () => this.stmts.purge.run(beforeMs).changes));
  }
}
