/**
 * Registry listings' tag observations (`ScanStore.setTags`) in Cosmos DB. Tag documents carry,
 * beside the digest and the scan time that moved them last, `observedMs` (when a listing last
 * changed them) and `removed` (a listing took the tag off its digest). A scan's tags live in
 * its entry of the image document (with `tagsObservedMs`), which `getScan` reads them from, so
 * retagging a scan is one conditional replace of that small document: the versioned scan
 * documents and their vulnerabilities are not rewritten.
 */
import { createHash } from 'node:crypto';
import type { JSONObject, OperationInput } from '@azure/cosmos';
import { z } from 'zod';
import { UnavailableError } from '../../../core/errors.js';
import { toMillis } from '../common/records.js';
import { casBackoff, runBulk } from './bulk.js';
import { IMAGE_ID, ImageDocSchema, newestOf, type SourceEntry, tagPk } from './scan-codec.js';
import type { ScanContainers } from './scan-store.js';
import { docId, parseDoc, readDoc } from './support.js';

/** A tag document. */
export const TagDocSchema = z.object({
  digest: z.string(),
  scannedMs: z.number(),
  tag: z.string().optional(),
  observedMs: z.number().optional(),
  removed: z.boolean().optional(),
});
export type TagDoc = z.infer<typeof TagDocSchema>;

/** Rounds of compare-and-set before contention is reported as UnavailableError. */
const MAX_ROUNDS = 12;
/** Statuses a conditional write answers when another writer got there first. */
const RACED = [404, 409, 412];

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((t, i) => t === b[i]);
}

/**
 * Applies one observation: reads the image document and the tag documents concerned, writes
 * the tags that differ (create, or replace under the ETag read), then the image document under
 * its ETag; any write that lost a race sends the whole observation round again.
 */
export async function observeTags(
  c: ScanContainers,
  observation: { registry: string; repository: string; digest: string; tags: readonly string[] },
  observedAt: string,
): Promise<boolean> {
  const observedMs = toMillis(observedAt, 'observedAt');
  const { registry, repository, digest } = observation;
  const pk = digest.toLowerCase();
  const listed = [...new Set(observation.tags)];
  const tagsPk = tagPk(registry, repository);
  const newer = (ms: number | undefined) => ms === undefined || ms <= observedMs;
  let changed = false;
  for (let round = 0; ; round++) {
    if (round >= MAX_ROUNDS) throw new UnavailableError(`the tags of ${digest} kept changing; try again`);
    if (round > 0) await casBackoff(round);
    const image = await readDoc(c.images, IMAGE_ID, pk);
    const doc = image === null ? null : parseDoc(ImageDocSchema, image.doc, c.images.id);
    const matched = Object.entries(doc?.sources ?? {}).filter(
      ([, e]) =>
        e.summary.registry.toLowerCase() === registry.toLowerCase() &&
        e.summary.repository.toLowerCase() === repository.toLowerCase(),
    );
    const unlisted = new Set(matched.flatMap(([, e]) => e.summary.tags));
    for (const tag of listed) unlisted.delete(tag);
    const names = [...listed, ...unlisted];
    const reads = await runBulk(
      c.tags,
      names.map((tag) => ({ operationType: 'Read', id: docId(tag), partitionKey: tagsPk })),
      [404],
    );
    const stored = matched[0]?.[1].summary.digest ?? digest;
    const scannedMs = Math.max(0, ...matched.map(([, e]) => e.scannedMs));
    const ops: OperationInput[] = [];
    names.forEach((tag, i) => {
      const read = reads[i]!;
      const now =
        read.statusCode === 404 || read.resource === undefined
          ? null
          : parseDoc(TagDocSchema, read.resource, c.tags.id);
      let body: TagDoc | undefined;
      if (listed.includes(tag)) {
        const here = now !== null && now.digest.toLowerCase() === pk && now.removed !== true;
        if (!here && (now === null || newer(now.observedMs))) {
          // A new document takes the newest scan's time, so scans keep moving it as before.
          body = { tag, digest: stored, scannedMs: now?.scannedMs ?? scannedMs, observedMs };
        }
      } else if (now !== null && now.removed !== true && now.digest.toLowerCase() === pk) {
        if (newer(now.observedMs)) body = { ...now, tag, removed: true, observedMs };
      }
      if (body === undefined) return;
      const resourceBody = { id: docId(tag), pk: tagsPk, ...body } as JSONObject;
      ops.push(
        now === null || read.etag === undefined
          ? { operationType: 'Create', partitionKey: tagsPk, resourceBody }
          : {
              operationType: 'Replace',
              id: docId(tag),
              partitionKey: tagsPk,
              ifMatch: read.etag,
              resourceBody,
            },
      );
    });
    // Tags before the image: its entries' old tags are how a retry finds the tags to take off.
    const tagOutcomes = await runBulk(c.tags, ops, RACED);
    if (tagOutcomes.some((o) => !RACED.includes(o.statusCode))) changed = true;
    if (tagOutcomes.some((o) => RACED.includes(o.statusCode))) continue;

    const retagged = matched.filter(([, e]) => newer(e.tagsObservedMs) && !sameList(e.summary.tags, listed));
    if (doc === null || image === null || retagged.length === 0) return changed;
    const sources: Record<string, SourceEntry> = { ...doc.sources };
    for (const [source, entry] of retagged) {
      sources[source] = {
        ...entry,
        summary: { ...entry.summary, tags: listed },
        tagsObservedMs: observedMs,
        // A changed hash, so that upserting the scan as it was stores it again.
        hash: createHash('sha256')
          .update(`${entry.hash}\n${JSON.stringify(listed)}`)
          .digest('base64url'),
      };
    }
    const newest = newestOf(sources)!;
    const next = {
      id: IMAGE_ID,
      pk,
      registryKey: doc.registryKey,
      repositoryKey: doc.repositoryKey,
      digestKey: doc.digestKey,
      status: doc.status,
      summary: newest.summary,
      sources,
    } as unknown as JSONObject;
    const [outcome] = await runBulk(
      c.images,
      [{ operationType: 'Replace', id: IMAGE_ID, partitionKey: pk, ifMatch: image.etag, resourceBody: next }],
      RACED,
    );
    if (!RACED.includes(outcome!.statusCode)) return true;
  }
}
