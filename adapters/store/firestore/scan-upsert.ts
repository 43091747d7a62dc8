/**
 * Bulk, idempotent scan upserts (`ScanStore.upsertScans`) in Firestore.
 *
 * A call reads the image and tag documents it touches (batched `getAll`s), skips every scan
 * whose content hash is already stored, and writes the rest through one BulkWriter in phases:
 * chunks of large lists, then scan documents, then image and tag documents. The image and tag
 * writes are conditional on the `updateTime` they were computed from (or on not existing), so
 * two syncs touching the same image never lose each other's source or move a tag backwards:
 * a write that lost a race is re-read, recomputed and written again, with jittered backoff.
 * Throttling and transient errors are BulkWriter's to retry (bulk.ts).
 */
import type { DocumentReference, DocumentSnapshot } from '@google-cloud/firestore';
import type { ImageScan, ScanSource } from '../../../core/domain.js';
import { UnavailableError } from '../../../core/errors.js';
import { chunk, mapLimit } from '../common/concurrency.js';
import { toMillis } from '../common/records.js';
import { BulkSession } from './bulk.js';
import {
  Code,
  type FirestoreContext,
  grpcCode,
  jitteredDelay,
  parseDoc,
  plain,
  translateError,
} from './client.js';
import { type ChunkRef, chunkGen, type EncodedScan, encodeScan } from './scan-codec.js';
import {
  type ImageDoc,
  ImageDocSchema,
  ScanDocSchema,
  type ScanRefs,
  type SourceEntry,
  TagDocSchema,
} from './scan-docs.js';

/** Rounds of re-reading documents whose conditional write lost a race. */
const MAX_ROUNDS = 8;
/** Documents per `getAll`, and `getAll`s in flight. */
const READ_BATCH = 300;
const READ_CONCURRENCY = 4;

interface Incoming {
  scan: ImageScan;
  ms: number;
  digestKey: string;
  encoded: EncodedScan;
}

interface TagTarget {
  registryKey: string;
  repositoryKey: string;
  tag: string;
  digest: string;
  ms: number;
}

/** Upserts scans; see the file comment. ValidationError (before any write) on a bad time. */
export async function upsertScans(ctx: FirestoreContext, refs: ScanRefs, scans: readonly ImageScan[]) {
  if (scans.length === 0) return;
  const millis = scans.map((s, i) => toMillis(s.scannedAt, `scans[${i}].scannedAt`));

  // Within one call the last scan of a (digest, source) wins, and a tag goes to the newest scan
  // carrying it (the later one on a tie) — what applying the scans one by one would do.
  const slots = new Map<string, { scan: ImageScan; ms: number }>();
  const tags = new Map<string, { ref: DocumentReference; target: TagTarget }>();
  scans.forEach((scan, i) => {
    const ms = millis[i]!;
    slots.set(`${scan.digest.toLowerCase()}\u0000${scan.source}`, { scan, ms });
    const registryKey = scan.registry.toLowerCase();
    const repositoryKey = scan.repository.toLowerCase();
    for (const tag of scan.tags) {
      const ref = refs.tag(registryKey, repositoryKey, tag);
      const current = tags.get(ref.id);
      if (current === undefined || ms >= current.target.ms) {
        tags.set(ref.id, { ref, target: { registryKey, repositoryKey, tag, digest: scan.digest, ms } });
      }
    }
  });
  const incoming = await mapLimit([...slots.values()], 8, async ({ scan, ms }) => ({
    scan,
    ms,
    digestKey: scan.digest.toLowerCase(),
    encoded: await encodeScan(scan),
  }));
  const byDigest = new Map<string, Incoming[]>();
  for (const item of incoming) byDigest.set(item.digestKey, [...(byDigest.get(item.digestKey) ?? []), item]);

  const session = new BulkSession(ctx);
  const staleChunks: DocumentReference[] = [];
  try {
    let digests = [...byDigest.keys()];
    let tagIds = [...tags.keys()];
    for (let round = 0; digests.length > 0 || tagIds.length > 0; round++) {
      if (round >= MAX_ROUNDS) throw new UnavailableError('scans kept changing during the upsert; try again');
      if (round > 0) await jitteredDelay(25 * 2 ** round);
      const [images, tagSnaps] = await Promise.all([
        readAll(
          ctx,
          digests.map((d) => refs.image(d)),
        ),
        readAll(
          ctx,
          tagIds.map((id) => tags.get(id)!.ref),
        ),
      ]);
      const plans = await planImages(ctx, refs, digests, images, byDigest);
      const digestOfPath = new Map(plans.map((p) => [refs.image(p.digestKey).path, p.digestKey]));

      for (const plan of plans) {
        for (const item of plan.changed) writeChunks(session, refs, item);
      }
      throwFailures(await session.flush());
      for (const plan of plans) for (const item of plan.changed) writeScan(session, refs, item);
      throwFailures(await session.flush());

      const retryDigests = new Set<string>();
      const retryTags = new Set<string>();
      for (const plan of plans) {
        const ref = refs.image(plan.digestKey);
        if (plan.snap.exists) {
          const lastUpdateTime = plan.snap.updateTime!;
          session.add(ref, (w) => w.update(ref, plain(plan.next), { lastUpdateTime }));
        } else {
          session.add(ref, (w) => w.create(ref, plain(plan.next)));
        }
      }
      tagSnaps.forEach((snap, i) => {
        const id = tagIds[i]!;
        const { ref, target } = tags.get(id)!;
        const stored = snap.exists ? parseDoc(TagDocSchema, snap.data(), snap.ref.path) : undefined;
        // A tag moves only to a scan at least as new as the one it points to now.
        if (stored !== undefined && (target.ms < stored.scannedMs || sameTag(stored, target))) return;
        const { ms, ...rest } = target;
        // An update keeps what a registry listing recorded (`observedMs`); `removed` goes.
        const doc = { ...rest, scannedMs: ms, removed: false };
        if (snap.exists) {
          const lastUpdateTime = snap.updateTime!;
          session.add(ref, (w) => w.update(ref, doc, { lastUpdateTime }));
        } else {
          session.add(ref, (w) => w.create(ref, doc));
        }
      });
      for (const failure of await session.flush()) {
        if (!isLostRace(failure.error)) translateError(failure.error);
        const digestKey = digestOfPath.get(failure.ref.path);
        if (digestKey !== undefined) retryDigests.add(digestKey);
        else retryTags.add(failure.ref.id);
      }
      for (const plan of plans) {
        if (!retryDigests.has(plan.digestKey)) staleChunks.push(...plan.staleChunks);
      }
      digests = [...retryDigests];
      tagIds = [...retryTags];
    }
    for (const ref of staleChunks) session.add(ref, (w) => w.delete(ref));
    throwFailures(await session.flush());
  } finally {
    await session.close();
  }
}

/** What one image needs written this round. */
interface ImagePlan {
  digestKey: string;
  snap: DocumentSnapshot;
  changed: Incoming[];
  next: ImageDoc;
  staleChunks: DocumentReference[];
}

/**
 * Merges each image's incoming scans into its stored document. Images whose incoming scans
 * are all stored already (same hash) need nothing. When the newest source is one not in this
 * call and not the stored newest (an older re-import replaced the newest), that source's
 * summary is read from its scan document.
 */
async function planImages(
  ctx: FirestoreContext,
  refs: ScanRefs,
  digests: readonly string[],
  snaps: readonly DocumentSnapshot[],
  byDigest: ReadonlyMap<string, Incoming[]>,
): Promise<ImagePlan[]> {
  const drafts = digests.flatMap((digestKey, i) => {
    const snap = snaps[i]!;
    const stored = snap.exists ? parseDoc(ImageDocSchema, snap.data(), snap.ref.path) : undefined;
    const changed = byDigest
      .get(digestKey)!
      .filter((it) => stored?.sources[it.scan.source]?.hash !== it.encoded.hash);
    if (changed.length === 0) return [];
    const sources: Partial<Record<ScanSource, SourceEntry>> = { ...stored?.sources };
    const staleChunks: DocumentReference[] = [];
    for (const item of changed) {
      const entry: SourceEntry = { scannedMs: item.ms, hash: item.encoded.hash };
      const chunks = chunkRefOf(item.encoded);
      if (chunks !== undefined) entry.chunks = chunks;
      const old = stored?.sources[item.scan.source]?.chunks;
      if (old !== undefined && old.gen !== chunks?.gen) {
        const scanRef = refs.scan(digestKey, item.scan.source);
        for (let c = 0; c < old.count; c++) staleChunks.push(refs.chunk(scanRef, old.gen, c));
      }
      sources[item.scan.source] = entry;
    }
    const newest = newestSource(sources);
    const fresh = changed.find((it) => it.scan.source === newest);
    const summary = fresh?.encoded.summary ?? (stored?.newest === newest ? stored.summary : undefined);
    return [{ digestKey, snap, changed, sources, newest, summary, staleChunks }];
  });
  const missing = drafts.filter((d) => d.summary === undefined);
  const found = await readAll(
    ctx,
    missing.map((d) => refs.scan(d.digestKey, d.newest)),
  );
  missing.forEach((d, i) => {
    const snap = found[i]!;
    if (!snap.exists) throw new Error(`the newest scan ${snap.ref.path} of an image is missing`);
    d.summary = parseDoc(ScanDocSchema, snap.data(), snap.ref.path).summary;
  });
  return drafts.map(({ digestKey, snap, changed, sources, newest, summary, staleChunks }) => ({
    digestKey,
    snap,
    changed,
    staleChunks,
    next: {
      registryKey: summary!.registry.toLowerCase(),
      repositoryKey: summary!.repository.toLowerCase(),
      digestKey,
      status: summary!.status,
      newest,
      summary: summary!,
      sources,
    },
  }));
}

/** The newest source of an image: latest scan time, ties to the first source by name. */
function newestSource(sources: Partial<Record<ScanSource, SourceEntry>>): ScanSource {
  let best: [ScanSource, SourceEntry] | undefined;
  for (const [source, entry] of Object.entries(sources) as [ScanSource, SourceEntry][]) {
    if (
      best === undefined ||
      entry.scannedMs > best[1].scannedMs ||
      (entry.scannedMs === best[1].scannedMs && source < best[0])
    ) {
      best = [source, entry];
    }
  }
  if (best === undefined) throw new Error('an image without sources');
  return best[0];
}

function chunkRefOf(encoded: EncodedScan): ChunkRef | undefined {
  return encoded.chunked ? { gen: chunkGen(encoded.hash), count: encoded.pieces.length } : undefined;
}

function writeChunks(session: BulkSession, refs: ScanRefs, item: Incoming): void {
  const chunks = chunkRefOf(item.encoded);
  if (chunks === undefined) return;
  const scanRef = refs.scan(item.digestKey, item.scan.source);
  item.encoded.pieces.forEach((data, i) => {
    const ref = refs.chunk(scanRef, chunks.gen, i);
    session.add(ref, (w) => w.set(ref, { data }));
  });
}

function writeScan(session: BulkSession, refs: ScanRefs, item: Incoming): void {
  const ref = refs.scan(item.digestKey, item.scan.source);
  const { summary, pieces, hash } = item.encoded;
  const chunks = chunkRefOf(item.encoded);
  const doc = {
    digestKey: item.digestKey,
    source: item.scan.source,
    registryKey: summary.registry.toLowerCase(),
    repositoryKey: summary.repository.toLowerCase(),
    scannedMs: item.ms,
    hash,
    summary,
    ...(chunks === undefined ? { vulns: pieces[0]! } : { chunks }),
  };
  session.add(ref, (w) => w.set(ref, doc));
}

function sameTag(
  stored: { digest: string; scannedMs: number; removed?: boolean },
  target: TagTarget,
): boolean {
  return stored.digest === target.digest && stored.scannedMs === target.ms && stored.removed !== true;
}

/** A conditional write that failed because someone else wrote first: worth a re-read. */
function isLostRace(e: unknown): boolean {
  const code = grpcCode(e);
  return code === Code.FAILED_PRECONDITION || code === Code.ALREADY_EXISTS || code === Code.NOT_FOUND;
}

function throwFailures(failures: readonly { error: unknown }[]): void {
  const first = failures[0];
  if (first !== undefined) translateError(first.error);
}

/** Reads documents in batched `getAll`s (missing ones come back with `exists` false). */
async function readAll(
  ctx: FirestoreContext,
  refs: readonly DocumentReference[],
): Promise<DocumentSnapshot[]> {
  const batches = await mapLimit(chunk(refs, READ_BATCH), READ_CONCURRENCY, (batch) =>
    ctx.call('scans.read', () => ctx.db.getAll(...batch)),
  );
  return batches.flat();
}
