/**
 * The documents of the scan store and their references:
 * - `scans/{digest}__{source}`: one scan per (digest, source), with its list inline or in
 *   `scans/{...}/chunks/{gen}-{i}`;
 * - `images/{digest}`: the image as its newest scan shows it (what the listing pages through),
 *   plus per source the time, content hash and chunks of its scan;
 * - `tags/{sha256(registry \n repository \n tag)}`: the digest a tag points to now (or that a
 *   registry listing took it off: `removed`).
 */
import type { DocumentReference } from '@google-cloud/firestore';
import { z } from 'zod';
import { ImageScanSchema, ScanSourceSchema, ScanStatusSchema } from '../../../core/domain.js';
import { docId, type FirestoreContext, sha256 } from './client.js';
import { ChunkRefSchema } from './scan-codec.js';

/** A scan without its list, as stored in scan and image documents. */
export const ImageSummarySchema = ImageScanSchema.omit({ vulnerabilities: true });

/** A stored scan; `vulns` (gzipped JSON) or `chunks` holds its list. */
export const ScanDocSchema = z.object({
  digestKey: z.string(),
  source: ScanSourceSchema,
  registryKey: z.string(),
  repositoryKey: z.string(),
  scannedMs: z.number(),
  hash: z.string(),
  summary: ImageSummarySchema,
  vulns: z.instanceof(Uint8Array).optional(),
  chunks: ChunkRefSchema.optional(),
  /** When a registry listing last set `summary.tags` (ScanStore.setTags); an upsert drops it. */
  tagsObservedMs: z.number().optional(),
});
/** A stored scan document, parsed. */
export type ScanDoc = z.infer<typeof ScanDocSchema>;

/** What an image document keeps of each source's scan. */
export const SourceEntrySchema = z.object({
  scannedMs: z.number(),
  hash: z.string(),
  chunks: ChunkRefSchema.optional(),
});
/** One source's entry in an image document, parsed. */
export type SourceEntry = z.infer<typeof SourceEntrySchema>;

/** An image: the keys the listing filters and orders by, and its newest scan's summary. */
export const ImageDocSchema = z.object({
  registryKey: z.string(),
  repositoryKey: z.string(),
  digestKey: z.string(),
  status: ScanStatusSchema,
  newest: ScanSourceSchema,
  summary: ImageSummarySchema,
  sources: z.partialRecord(ScanSourceSchema, SourceEntrySchema),
});
/** A stored image document, parsed. */
export type ImageDoc = z.infer<typeof ImageDocSchema>;

/** Where a tag points. */
export const TagDocSchema = z.object({
  registryKey: z.string(),
  repositoryKey: z.string(),
  tag: z.string(),
  digest: z.string(),
  scannedMs: z.number(),
  /** When a registry listing last changed the tag (ScanStore.setTags). */
  observedMs: z.number().optional(),
  /** A registry listing took the tag off `digest`: it resolves to nothing. */
  removed: z.boolean().optional(),
});
/** A stored tag document, parsed. */
export type TagDoc = z.infer<typeof TagDocSchema>;

/** References to the scan store's documents under one store's prefix. */
export class ScanRefs {
  constructor(private readonly ctx: FirestoreContext) {}

  scan(digestKey: string, source: string): DocumentReference {
    return this.ctx.col('scans').doc(docId(`${digestKey}__${source}`));
  }

  chunk(scan: DocumentReference, gen: string, index: number): DocumentReference {
    return scan.collection('chunks').doc(`${gen}-${index}`);
  }

  image(digestKey: string): DocumentReference {
    return this.ctx.col('images').doc(docId(digestKey));
  }

  /** Tags are case-sensitive; registry and repository are compared lower-cased. */
  tag(registryKey: string, repositoryKey: string, tag: string): DocumentReference {
    return this.ctx.col('tags').doc(sha256(`${registryKey}\n${repositoryKey}\n${tag}`));
  }
}
