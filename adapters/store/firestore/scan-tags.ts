/**
 * Registry listings' tag observations (`ScanStore.setTags`) in Firestore. Tag documents carry,
 * beside the digest and the scan time that moved them last, `observedMs` (when a listing last
 * changed them) and `removed` (a listing took the tag off its digest); scan documents carry
 * `tagsObservedMs`. Writes are conditional on the `updateTime` they were decided from (or on not
 * existing): tags through BulkWriter, however many; then the image's scan documents and its
 * image document in one atomic batch, field updates that leave the vulnerabilities alone. A
 * write that lost a race sends the observation round again.
 */
import type { DocumentReference, DocumentSnapshot } from '@google-cloud/firestore';
import type { ScanSource } from '../../../core/domain.js';
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
  sha256,
  translateError,
} from './client.js';
import { ImageDocSchema, ScanDocSchema, type ScanRefs, TagDocSchema } from './scan-docs.js';

/** Rounds of re-reading after a conditional write lost a race. */
const MAX_ROUNDS = 8;
/** Documents per `getAll`, and `getAll`s in flight. */
const READ_BATCH = 300;
const READ_CONCURRENCY = 4;

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((t, i) => t === b[i]);
}

/** A conditional write that failed because someone else wrote first: worth a re-read. */
function isLostRace(e: unknown): boolean {
  const code = grpcCode(e);
  return code === Code.FAILED_PRECONDITION || code === Code.ALREADY_EXISTS || code === Code.NOT_FOUND;
}

async function readAll(
  ctx: FirestoreContext,
  refs: readonly DocumentReference[],
): Promise<DocumentSnapshot[]> {
  const batches = await mapLimit(chunk(refs, READ_BATCH), READ_CONCURRENCY, (batch) =>
    ctx.call('scans.readTags', () => ctx.db.getAll(...batch)),
  );
  return batches.flat();
}

/** Applies one observation; see the file comment and `ScanStore.setTags`. */
export async function observeTags(
  ctx: FirestoreContext,
  refs: ScanRefs,
  observation: { registry: string; repository: string; digest: string; tags: readonly string[] },
  observedAt: string,
): Promise<boolean> {
  const observedMs = toMillis(observedAt, 'observedAt');
  const registryKey = observation.registry.toLowerCase();
  const repositoryKey = observation.repository.toLowerCase();
  const digestKey = observation.digest.toLowerCase();
  const listed = [...new Set(observation.tags)];
  const newer = (ms: number | undefined) => ms === undefined || ms <= observedMs;
  let changed = false;
  const session = new BulkSession(ctx);
  try {
    for (let round = 0; ; round++) {
      if (round >= MAX_ROUNDS) {
        throw new UnavailableError(`the tags of ${observation.digest} kept changing; try again`);
      }
      if (round > 0) await jitteredDelay(25 * 2 ** round);
      const imageRef = refs.image(digestKey);
      const [imageSnap] = await ctx.call('scans.readImage', () => ctx.db.getAll(imageRef));
      const image = imageSnap?.exists ? parseDoc(ImageDocSchema, imageSnap.data(), imageRef.path) : undefined;
      const sources = Object.keys(image?.sources ?? {}) as ScanSource[];
      const scanSnaps = await readAll(
        ctx,
        sources.map((s) => refs.scan(digestKey, s)),
      );
      const scans = scanSnaps
        .filter((s) => s.exists)
        .map((s) => ({ snap: s, doc: parseDoc(ScanDocSchema, s.data(), s.ref.path) }))
        .filter(({ doc }) => doc.registryKey === registryKey && doc.repositoryKey === repositoryKey);
      const unlisted = new Set(scans.flatMap(({ doc }) => doc.summary.tags));
      for (const tag of listed) unlisted.delete(tag);
      const names = [...listed, ...unlisted];
      const tagRefs = names.map((tag) => refs.tag(registryKey, repositoryKey, tag));
      const tagSnaps = await readAll(ctx, tagRefs);
      const stored = scans[0]?.doc.summary.digest ?? observation.digest;
      const scannedMs = Math.max(0, ...scans.map(({ doc }) => doc.scannedMs));
      let writes = 0;
      names.forEach((tag, i) => {
        const ref = tagRefs[i]!;
        const snap = tagSnaps[i]!;
        const now = snap.exists ? parseDoc(TagDocSchema, snap.data(), ref.path) : undefined;
        if (listed.includes(tag)) {
          const here = now !== undefined && now.digest.toLowerCase() === digestKey && now.removed !== true;
          if (here || (now !== undefined && !newer(now.observedMs))) return;
          writes++;
          if (now === undefined) {
            // A new document takes the newest scan's time, so scans keep moving it as before.
            const doc = {
              registryKey,
              repositoryKey,
              tag,
              digest: stored,
              scannedMs,
              observedMs,
              removed: false,
            };
            session.add(ref, (w) => w.create(ref, doc));
          } else {
            const lastUpdateTime = snap.updateTime!;
            const doc = { digest: stored, observedMs, removed: false };
            session.add(ref, (w) => w.update(ref, doc, { lastUpdateTime }));
          }
        } else if (
          now !== undefined &&
          now.removed !== true &&
          now.digest.toLowerCase() === digestKey &&
          newer(now.observedMs)
        ) {
          writes++;
          const lastUpdateTime = snap.updateTime!;
          session.add(ref, (w) => w.update(ref, { removed: true, observedMs }, { lastUpdateTime }));
        }
      });
      // Tags before the scans: their old tags are how a retry finds the tags to take off.
      const failures = await session.flush();
      for (const failure of failures) if (!isLostRace(failure.error)) translateError(failure.error);
      if (writes > failures.length) changed = true;
      if (failures.length > 0) continue;

      const retagged = scans.filter(
        ({ doc }) => newer(doc.tagsObservedMs) && !sameList(doc.summary.tags, listed),
      );
      if (retagged.length === 0 || image === undefined || imageSnap === undefined) return changed;
      const batch = ctx.db.batch();
      const imageUpdate: Record<string, unknown> = {};
      for (const { snap, doc } of retagged) {
        // A changed hash, so that upserting the scan as it was stores it again.
        const hash = sha256(`${doc.hash}\n${JSON.stringify(listed)}`);
        batch.update(
          snap.ref,
          { 'summary.tags': listed, tagsObservedMs: observedMs, hash },
          { lastUpdateTime: snap.updateTime! },
        );
        if (image.sources[doc.source]?.hash === doc.hash) imageUpdate[`sources.${doc.source}.hash`] = hash;
        if (image.newest === doc.source) imageUpdate['summary.tags'] = listed;
      }
      if (Object.keys(imageUpdate).length > 0) {
        batch.update(imageRef, imageUpdate, { lastUpdateTime: imageSnap.updateTime! });
      }
      try {
        await ctx.timed('scans.setTags', () => batch.commit());
        return true;
      } catch (e) {
        if (!isLostRace(e)) translateError(e);
      }
    }
  } finally {
    await session.close();
  }
}
