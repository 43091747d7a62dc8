/**
 * Writes admission events to SQLite in batches: one transaction per batch (group commit), and
 * when a batch fails, each of its events alone, so one bad event (a duplicate id) costs no other.
 *
 * Plain CommonJS, because it runs in two places: inside the store's own thread (a `:memory:`
 * database has one connection), and as the body of the writer thread of a file database
 * (`new Worker(thisFile)`), where it opens its own connection, so that compressing, indexing
 * and committing events happens beside the thread that answers the webhook, not on it. The
 * local emulator's bundle copies this file next to itself (scripts/build.mjs).
 *
 * A job is `{ seq, kind: 'event', event: [...params], json, images: [[...params]], rules: [[...params]] }`
 * (the event's own columns, then its JSON, stored gzipped in the last column) or
 * `{ seq, kind: 'purge', beforeMs }`; a reply is `{ seq, result }` or `{ seq, error: { message, code } }`.
 */
'use strict';

const { isMainThread, parentPort, Worker, workerData } = require('node:worker_threads');
const { constants, gzipSync } = require('node:zlib');

/**
 * An event carries every triggered rule's CVEs: tens of kilobytes of repetitive JSON that
 * gzip's fastest level shrinks about tenfold, which is most of what writing it costs.
 */
const GZIP = { level: constants.Z_BEST_SPEED };

/**
 * Runs `fn` in a `BEGIN IMMEDIATE` transaction: taking the write lock up front means two
 * connections never deadlock upgrading a read lock, and busy_timeout does the waiting.
 * Statements inside run synchronously, so no other call on this connection interleaves.
 * (Every SQLite write goes through here: database.ts exports it as `writeTx`.)
 */
function transaction(db, fn) {
  db.exec('BEGIN IMMEDIATE');
  try {
    const result = fn();
    db.exec('COMMIT');
    return result;
  } catch (e) {
    if (db.inTransaction) db.exec('ROLLBACK');
    throw e;
  }
}

/** The statements a writer runs; the SQL lives in admission-log.ts, which owns the schema. */
function createEventWriter(db, sql) {
  const insert = db.prepare(sql.insert);
  const insertImage = db.prepare(sql.insertImage);
  const insertRule = db.prepare(sql.insertRule);
  const purge = db.prepare(sql.purge);

  function apply(job) {
    if (job.kind === 'purge') return purge.run(job.beforeMs).changes;
    insert.run(...job.event, gzipSync(job.json, GZIP));
    for (const params of job.images) insertImage.run(...params);
    for (const params of job.rules) insertRule.run(...params);
    return null;
  }

  /** Applies jobs, all in one transaction when they all succeed; one reply per job, in order. */
  function write(jobs) {
    try {
      return transaction(db, () => jobs.map((job) => ({ seq: job.seq, result: apply(job) })));
    } catch {
      return jobs.map((job) => {
        try {
          return { seq: job.seq, result: transaction(db, () => apply(job)) };
        } catch (e) {
          return { seq: job.seq, error: { message: String(e?.message ?? e), code: e?.code } };
        }
      });
    }
  }

  return { write };
}

/**
 * WAL pages a commit may leave before it must checkpoint them itself: a backstop, since the
 * checkpointer thread below normally keeps the WAL far shorter.
 */
const AUTOCHECKPOINT_PAGES = 10_000;
/** How often the checkpointer thread copies committed WAL pages into the database file. */
const CHECKPOINT_EVERY_MS = 200;

/**
 * The checkpointer thread: copies committed pages from the WAL into the database file (and
 * syncs it) on a connection of its own, concurrently with the writer's commits, so that no
 * commit, and so no admission waiting for one, pays for a checkpoint.
 */
function checkpointer(port, data) {
  const Database = require(data.libsql);
  const db = new Database(data.path);
  for (const pragma of data.pragmas) db.exec(pragma);
  const timer = setInterval(() => {
    try {
      // PASSIVE: copies what it can without waiting for readers or the writer.
      db.exec('PRAGMA wal_checkpoint(PASSIVE)');
    } catch {
      // Busy: the next tick, or the writer's backstop, does it.
    }
  }, CHECKPOINT_EVERY_MS);
  port.on('message', (message) => {
    if (message !== 'close') return;
    clearInterval(timer);
    db.close();
    port.close();
  });
}

/**
 * The writer thread: jobs that arrive while a batch commits wait and form the next batch, so
 * batches grow with the load and each commit serves many admissions.
 */
function serve(port, data) {
  const Database = require(data.libsql);
  const db = new Database(data.path);
  for (const pragma of data.pragmas) db.exec(pragma);
  db.exec(`PRAGMA wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
  const checkpoints = new Worker(__filename, { workerData: { ...data, role: 'portcullis-checkpointer' } });
  const writer = createEventWriter(db, data.sql);
  let queue = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const jobs = queue;
    queue = [];
    if (jobs.length > 0) port.postMessage(writer.write(jobs));
  };
  port.on('message', (message) => {
    if (message === 'close') {
      flush();
      checkpoints.postMessage('close');
      checkpoints.once('exit', () => {
        db.close();
        port.close();
      });
      return;
    }
    queue.push(message);
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  });
}

if (!isMainThread && workerData?.role === 'portcullis-event-writer') serve(parentPort, workerData);
if (!isMainThread && workerData?.role === 'portcullis-checkpointer') checkpointer(parentPort, workerData);

module.exports = { createEventWriter, transaction };
