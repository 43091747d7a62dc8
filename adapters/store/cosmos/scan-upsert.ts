/**
 * Bulk, idempotent scan upserts for Cosmos DB. A call runs in rounds of bulk operations
 * (each round a handful of batch requests, however many scans):
 *
 * 1. read the image document of every digest in the call;
 * 2. write a new version of each scan (chunks first, then its document) whose content hash
 *    the image document does not hold yet: an unchanged re-sync writes nothing;
 * 3. switch each changed image document to the new versions, under the ETag read in 1
 *    (create when there was none); digests whose image document moved meanwhile go round
 *    again from 1, so concurrent writers of a digest never lose each other's sources;
 * 4. drop the versions the image documents no longer name (and any this call wrote that
 *    another writer's equal content made unnecessary);
 * 5. meanwhile, move tags the same way: read, compare times, conditional write, retry the
 *    conflicts.
 */
import type { Container, JSONObject, OperationInput } from '@azure/cosmos';
import type { z } from 'zod';
import type { ImageScan } from '../../../core/domain.js';
import { UnavailableError } from '../../../core/errors.js';
import { mapLimit } from '../common/concurrency.js';
import { toMillis } from '../common/records.js';
import { casBackoff, runBulk } from './bulk.js';
import {
  chunkId,
  type EncodedScan,
  encodeScan,
  IMAGE_ID,
  type ImageDoc,
  ImageDocSchema,
  newestOf,
  type SourceEntry,
  scanId,
  tagPk,
} from './scan-codec.js';
import type { ScanContainers } from './scan-store.js';
import { type TagDoc, TagDocSchema } from './scan-tags.js';
import { docId, parseDoc } from './support.js';

/** Rounds of compare-and-set before contention is reported as UnavailableError. */
const MAX_ROUNDS = 12;

/** Statuses a conditional write answers when another writer got there first. */
const RACED = [404, 409, 412];

interface Current<T> {
  doc: T | null;
  etag?: string;
}

/** Replaces each scan's (digest, source) and moves its tags; see the module comment. */
export async function upsertScans(containers: ScanContainers, scans: readonly ImageScan[]): Promise<void> {
  if (scans.length === 0) return;
  // Validate every time before writing anything, so a bad scan does not half-apply a call.
  const millis = scans.map((s, i) => toMillis(s.scannedAt, `scans[${i}].scannedAt`));
  // Gzip runs on libuv's thread pool; a bound keeps memory flat on a call of thousands.
  const encoded = await mapLimit(
    scans.map((s, i) => [s, millis[i]!] as const),
    16,
    ([scan, ms]) => encodeScan(scan, ms),
  );
  // Later scans of the same (digest, source) in one call replace earlier ones, as in a loop.
  const groups = new Map<string, Map<string, EncodedScan>>();
  for (const e of encoded) {
    const group = groups.get(e.doc.pk) ?? new Map<string, EncodedScan>();
    group.set(e.entry.summary.source, e);
    groups.set(e.doc.pk, group);
  }
  // Tags move independently of the images (each is its own compare-and-set), so both
  // proceed at once; a failure of either fails the call, and a retry of it is idempotent.
  const results = await Promise.allSettled([
    writeImages(containers, groups),
    moveTags(containers.tags, scans, millis),
  ]);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
}

async function readAll<T>(
  container: Container,
  keys: readonly { pk: string; id: string }[],
  schema: z.ZodType<T>,
): Promise<Current<T>[]> {
  const outcomes = await runBulk(
    container,
    keys.map(({ pk, id }) => ({ operationType: 'Read', id, partitionKey: pk })),
    [404],
  );
  return outcomes.map((o) =>
    o.statusCode === 404 || o.resource === undefined
      ? { doc: null }
      : { doc: parseDoc(schema, o.resource, container.id), etag: o.etag },
  );
}

function imageDoc(pk: string, sources: Record<string, SourceEntry>): JSONObject {
  const newest = newestOf(sources)!;
  const doc = {
    id: IMAGE_ID,
    pk,
    registryKey: newest.summary.registry.toLowerCase(),
    repositoryKey: newest.summary.repository.toLowerCase(),
    digestKey: newest.summary.digest.toLowerCase(),
    status: newest.summary.status,
    summary: newest.summary,
    sources,
  } satisfies ImageDoc & Record<string, unknown>;
  return doc as unknown as JSONObject;
}

/** Deletes of one version of a source's scan: its document and its chunks. */
function dropVersion(pk: string, entry: SourceEntry): OperationInput[] {
  const source = entry.summary.source;
  return [
    { operationType: 'Delete', id: scanId(source, entry.blob), partitionKey: pk },
    ...Array.from(
      { length: entry.chunks },
      (_, c): OperationInput => ({
        operationType: 'Delete',
        id: chunkId(source, entry.blob, c),
        partitionKey: pk,
      }),
    ),
  ];
}

const upsert = (pk: string, resourceBody: JSONObject): OperationInput => ({
  operationType: 'Upsert',
  partitionKey: pk,
  resourceBody,
});

/** Steps 1–4 of the module comment, over every digest of the call. */
async function writeImages(
  { images, scans }: ScanContainers,
  groups: Map<string, Map<string, EncodedScan>>,
): Promise<void> {
  // Versions this call wrote; those no image document adopted are dropped at the end.
  const written = new Map<EncodedScan, string>();
  const adopted = new Set<EncodedScan>();
  let pending = [...groups.keys()];
  for (let round = 0; pending.length > 0; round++) {
    if (round >= MAX_ROUNDS) {
      throw new UnavailableError(`${pending.length} images kept changing under this upsert; try again`);
    }
    if (round > 0) await casBackoff(round);
    const current = await readAll(
      images,
      pending.map((pk) => ({ pk, id: IMAGE_ID })),
      ImageDocSchema,
    );
    const chunkOps: OperationInput[] = [];
    const docOps: OperationInput[] = [];
    const imageOps: OperationInput[] = [];
    const changes: { pk: string; replaced: SourceEntry[]; versions: EncodedScan[] }[] = [];
    pending.forEach((pk, i) => {
      const { doc, etag } = current[i]!;
      const sources: Record<string, SourceEntry> = { ...doc?.sources };
      const change = { pk, replaced: [] as SourceEntry[], versions: [] as EncodedScan[] };
      for (const [source, scan] of groups.get(pk)!) {
        const old = sources[source];
        if (old?.hash === scan.entry.hash) continue;
        if (!written.has(scan)) {
          chunkOps.push(...scan.chunks.map((chunk) => upsert(pk, chunk)));
          docOps.push(upsert(pk, scan.doc));
          written.set(scan, pk);
        }
        if (old !== undefined) change.replaced.push(old);
        change.versions.push(scan);
        sources[source] = scan.entry;
      }
      if (change.versions.length === 0) return;
      const body = imageDoc(pk, sources);
      imageOps.push(
        doc === null || etag === undefined
          ? { operationType: 'Create', partitionKey: pk, resourceBody: body }
          : { operationType: 'Replace', id: IMAGE_ID, partitionKey: pk, ifMatch: etag, resourceBody: body },
      );
      changes.push(change);
    });

    // Chunks before the documents that name them, and both before the image switches.
    await runBulk(scans, chunkOps);
    await runBulk(scans, docOps);
    const outcomes = await runBulk(images, imageOps, RACED);
    const raced: string[] = [];
    const replaced: OperationInput[] = [];
    outcomes.forEach((o, k) => {
      const change = changes[k]!;
      if (RACED.includes(o.statusCode)) {
        raced.push(change.pk);
        return;
      }
      for (const v of change.versions) adopted.add(v);
      for (const old of change.replaced) replaced.push(...dropVersion(change.pk, old));
    });
    // A version already gone (another writer's cleanup) is fine.
    await runBulk(scans, replaced, [404]);
    pending = raced;
  }
  const orphans = [...written].filter(([scan]) => !adopted.has(scan));
  await runBulk(
    scans,
    orphans.flatMap(([scan, pk]) => dropVersion(pk, scan.entry)),
    [404],
  );
}

interface TagMove {
  pk: string;
  id: string;
  tag: string;
  digest: string;
  scannedMs: number;
}

/** Step 5: each tag moves to the newest scan carrying it, never back to an older one. */
async function moveTags(
  container: Container,
  scans: readonly ImageScan[],
  millis: readonly number[],
): Promise<void> {
  const moves = new Map<string, TagMove>();
  scans.forEach((scan, i) => {
    const pk = tagPk(scan.registry, scan.repository);
    const ms = millis[i]!;
    for (const tag of scan.tags) {
      const key = `${pk}\n${tag}`;
      const seen = moves.get(key);
      // At least as new wins, so of equal times the later scan in the call wins, as in a loop.
      if (seen === undefined || ms >= seen.scannedMs) {
        moves.set(key, { pk, id: docId(tag), tag, digest: scan.digest, scannedMs: ms });
      }
    }
  });
  let pending = [...moves.values()];
  for (let round = 0; pending.length > 0; round++) {
    if (round >= MAX_ROUNDS) throw new UnavailableError(`${pending.length} tags kept changing; try again`);
    if (round > 0) await casBackoff(round);
    const stored = await readAll<TagDoc>(container, pending, TagDocSchema);
    const ops: OperationInput[] = [];
    const opOf: TagMove[] = [];
    pending.forEach((move, i) => {
      const { doc, etag } = stored[i]!;
      if (
        doc !== null &&
        (doc.scannedMs > move.scannedMs ||
          (doc.scannedMs === move.scannedMs && doc.digest === move.digest && doc.removed !== true))
      ) {
        return;
      }
      // What a registry listing recorded (`observedMs`) stays; `removed` goes.
      const body = {
        id: move.id,
        pk: move.pk,
        tag: move.tag,
        digest: move.digest,
        scannedMs: move.scannedMs,
        ...(doc?.observedMs === undefined ? {} : { observedMs: doc.observedMs }),
      };
      ops.push(
        doc === null || etag === undefined
          ? { operationType: 'Create', partitionKey: move.pk, resourceBody: body }
          : {
              operationType: 'Replace',
              id: move.id,
              partitionKey: move.pk,
              ifMatch: etag,
              resourceBody: body,
            },
      );
      opOf.push(move);
    });
    const outcomes = await runBulk(container, ops, RACED);
    pending = opOf.filter((_, k) => RACED.includes(outcomes[k]!.statusCode));
  }
}
