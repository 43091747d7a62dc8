/**
 * The admission monitoring log in SQLite: one row per event (the event as JSON plus the
 * filtered columns) and two side tables that make the image and rule filters index seeks.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { gunzipSync } from 'node:zlib';
import { z } from 'zod';
import { type AdmissionEvent, AdmissionEventSchema, DecisionSchema } from '../../../core/domain.js';
import { UnavailableError } from '../../../core/errors.js';
import type {
  AdmissionLog,
  AdmissionQuery,
  Clock,
  Page,
  SummaryBucket,
  SummaryQuery,
} from '../../../core/ports.js';
import { BucketCounts, DAY_MS, HOUR_MS, summaryWindow } from '../common/summary.js';
import {
  CONNECTION_PRAGMAS,
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

/**
 * Events are stored gzipped (`doc_gz`, with '' in `doc`): an event carries every triggered
 * rule's CVEs, so it is tens of kilobytes of repetitive JSON that compresses about tenfold, and
 * writing it was the webhook's largest cost. Rows written before that keep their JSON in `doc`.
 * libsql hands BLOBs back as a Buffer from `get` and as an ArrayBuffer from `all`.
 */
const EventRow = z
  .object({
    id: z.string(),
    time_ms: z.number(),
    doc: z.string(),
    doc_gz: z.union([z.instanceof(Uint8Array), z.instanceof(ArrayBuffer), z.null()]),
  })
  .transform(({ doc, doc_gz, ...row }, ctx) => {
    if (doc_gz === null) return { ...row, doc };
    try {
      const bytes = doc_gz instanceof ArrayBuffer ? new Uint8Array(doc_gz) : doc_gz;
      return { ...row, doc: gunzipSync(bytes).toString('utf8') };
    } catch {
      ctx.addIssue({ code: 'custom', path: ['doc_gz'], message: 'not gzip' });
      return z.NEVER;
    }
  })
  .pipe(z.object({ id: z.string(), time_ms: z.number(), doc: jsonColumn(AdmissionEventSchema) }));

const BucketRow = z.object({ start_ms: z.number(), decision: DecisionSchema, n: z.number() });

/** The position after the last event of a page: its (time in ms, id). */
const EventCursor = z.tuple([z.number().int(), z.string()]);

/** Options of the admission log. */
export interface SqliteAdmissionLogOptions {
  clock: Clock;
  /** Events older than this many days are deleted, as a cloud store's TTL would. */
  retentionDays: number;
  /**
   * The database file: when given, events are written by a thread of their own over its own
   * connection (see event-writer.cjs). Without it (`:memory:`), they are written on `db`.
   */
  writerPath?: string;
}

const SQL = {
  insert: `INSERT INTO admission_events (id, time_ms, uid, cluster, namespace, decision, doc, doc_gz)
           VALUES (?, ?, ?, ?, ?, ?, '', ?)`,
  insertImage: 'INSERT OR IGNORE INTO admission_event_images (event_id, reference, digest) VALUES (?, ?, ?)',
  insertRule: 'INSERT OR IGNORE INTO admission_event_rules (event_id, rule_key, time_ms) VALUES (?, ?, ?)',
  // Side rows go with their event through ON DELETE CASCADE.
  purge: 'DELETE FROM admission_events WHERE time_ms < ?',
};

type Job =
  | {
      seq: number;
      kind: 'event';
      event: (string | number)[];
      json: string;
      images: string[][];
      rules: (string | number)[][];
    }
  | { seq: number; kind: 'purge'; beforeMs: number };
interface Reply {
  seq: number;
  result?: number | null;
  error?: { message: string; code?: string };
}
interface EventWriter {
  write(jobs: Job[]): Reply[];
}

const localRequire = createRequire(import.meta.url);
const WRITER_MODULE = './event-writer.cjs';
const { createEventWriter } = localRequire(WRITER_MODULE) as {
  createEventWriter(db: Db, sql: typeof SQL): EventWriter;
};

/** The SQLite error a writer reported, rebuilt so `translateError` can read its code. */
function writerError(error: NonNullable<Reply['error']>): Error {
  return Object.assign(new Error(error.message), error.code === undefined ? {} : { code: error.code });
}

/** The `AdmissionLog` port over `admission_events` and its side tables. */
export class SqliteAdmissionLog implements AdmissionLog {
  private readonly writer: EventWriter;
  private thread: Worker | undefined;
  private closing = false;
  private lastRetentionRun = Number.NEGATIVE_INFINITY;
  private seq = 0;
  /** Jobs for the in-thread writer, written together at the next turn of the event loop. */
  private queued: Job[] = [];
  private readonly waiting = new Map<number, { resolve: (r: Reply) => void; reject: (e: unknown) => void }>();

  constructor(
    private readonly db: Db,
    private readonly options: SqliteAdmissionLogOptions,
  ) {
    this.writer = createEventWriter(db, SQL);
    if (options.writerPath !== undefined) this.thread = this.startThread(options.writerPath);
  }

  private startThread(path: string): Worker {
    const thread = new Worker(localRequire.resolve(WRITER_MODULE), {
      workerData: {
        role: 'portcullis-event-writer',
        libsql: localRequire.resolve('libsql'),
        path,
        pragmas: CONNECTION_PRAGMAS,
        sql: SQL,
      },
    });
    // Only pending writes keep the process alive (see submit).
    thread.unref();
    thread.on('message', (replies: Reply[]) => {
      for (const reply of replies) this.settle(reply);
      if (this.waiting.size === 0) thread.unref();
    });
    const stopped = (cause: unknown) => {
      if (this.thread !== thread) return;
      // Later events are written on the store's own connection; those in flight are reported.
      this.thread = undefined;
      const error = new UnavailableError('the admission event writer stopped', { cause });
      for (const { reject } of this.waiting.values()) reject(error);
      this.waiting.clear();
    };
    thread.on('error', stopped);
    thread.on('exit', (code) => {
      if (!this.closing) stopped(new Error(`the writer thread exited with code ${code}`));
    });
    return thread;
  }

  private settle(reply: Reply): void {
    const waiter = this.waiting.get(reply.seq);
    if (waiter === undefined) return;
    this.waiting.delete(reply.seq);
    waiter.resolve(reply);
  }

  /** Hands a job to the writer; resolves with its reply once it is committed (or failed). */
  private submit(job: Job): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      this.waiting.set(job.seq, { resolve, reject });
      if (this.thread !== undefined) {
        if (this.waiting.size === 1) this.thread.ref();
        this.thread.postMessage(job);
        return;
      }
      this.queued.push(job);
      if (this.queued.length === 1) setImmediate(() => this.flush());
    });
  }

  /** Writes the jobs queued for the in-thread writer now. */
  private flush(): void {
    const jobs = this.queued;
    this.queued = [];
    if (jobs.length > 0) for (const reply of this.writer.write(jobs)) this.settle(reply);
  }

  /**
   * Stores an event as given (the caller decides whether dry runs are recorded), and resolves
   * once it is committed. Events that arrive while a batch is being written share the next
   * transaction (group commit): under load that is one commit and one index walk for many
   * admissions. Each caller's promise settles with its own event's outcome.
   */
  async record(event: AdmissionEvent): Promise<void> {
    const timeMs = toMillis(event.time, 'time');
    this.retainLater();
    const images: string[][] = [];
    const ruleKeys = new Set<string>();
    for (const image of event.images) {
      // Lower-cased here so the filters compare case-insensitively and still use the indexes.
      images.push([event.id, image.reference.toLowerCase(), image.digest?.toLowerCase() ?? '']);
      for (const rule of image.triggeredRules) {
        ruleKeys.add(rule.ruleId.toLowerCase());
        ruleKeys.add(rule.ruleName.toLowerCase());
      }
    }
    const reply = await this.submit({
      seq: ++this.seq,
      kind: 'event',
      event: [event.id, timeMs, event.uid, event.cluster, event.namespace, event.decision],
      json: JSON.stringify(event),
      images,
      rules: [...ruleKeys].map((key) => [event.id, key, timeMs]),
    });
    if (reply.error !== undefined) translateError(writerError(reply.error), `admission event ${event.id}`);
  }

  /** Writes what is pending, stops the writer thread, and waits for it (called on close). */
  async close(): Promise<void> {
    this.closing = true;
    this.flush();
    const thread = this.thread;
    if (thread === undefined) return;
    const exited = new Promise<void>((resolve) => thread.once('exit', () => resolve()));
    thread.ref();
    thread.postMessage('close');
    await exited;
    this.thread = undefined;
    const error = new UnavailableError('the admission log is closed');
    for (const { reject } of this.waiting.values()) reject(error);
    this.waiting.clear();
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
    const sql = `SELECT e.id, e.time_ms, e.doc, e.doc_gz FROM ${from}
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
    const { from, to, width } = summaryWindow(query);
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
    const counts = new BucketCounts(width);
    for (const row of rows) counts.add(row.start_ms, row.decision, row.n);
    return counts.list();
  }

  /** Deletes events (and their side rows) older than `before`; returns how many events went. */
  async purgeBefore(before: string): Promise<number> {
    const reply = await this.submit({ seq: ++this.seq, kind: 'purge', beforeMs: toMillis(before, 'before') });
    if (reply.error !== undefined) translateError(writerError(reply.error), 'the purge');
    return reply.result ?? 0;
  }

  /**
   * Deletes events past the retention period now, on the store's connection (at open, before
   * the first event). Returns how many went. SQLite has no TTL; see `retainLater`.
   */
  applyRetention(): number {
    this.lastRetentionRun = this.options.clock.now().getTime();
    const beforeMs = this.lastRetentionRun - this.options.retentionDays * DAY_MS;
    return guard(() => writeTx(this.db, () => this.db.prepare(SQL.purge).run(beforeMs).changes));
  }

  /** At most hourly, as events arrive: deletes those past retention, through the writer. */
  private retainLater(): void {
    const now = this.options.clock.now().getTime();
    if (now - this.lastRetentionRun < HOUR_MS) return;
    this.lastRetentionRun = now;
    const beforeMs = now - this.options.retentionDays * DAY_MS;
    // Best effort: a purge that fails (the file busy) is tried again within the hour.
    this.submit({ seq: ++this.seq, kind: 'purge', beforeMs }).catch(() => undefined);
  }
}
