/**
 * How a scan's vulnerability list fits Firestore's 1 MiB document limit: gzipped JSON in a
 * Bytes field (repetitive finding lists shrink ten-fold or more), and when even that is too
 * big, split over `chunks` documents under the scan. Plus the content hash that lets a
 * re-sync of unchanged scans skip their writes.
 */
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import { z } from 'zod';
import { type ImageScan, type Vulnerability, VulnerabilitySchema } from '../../../core/domain.js';
import type { ImageSummary } from '../../../core/ports.js';
import { plain, sha256 } from './client.js';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/** Gzipped lists up to this size stay in the scan document (which also holds up to ~130 KB of tags). */
export const INLINE_MAX_BYTES = 640_000;
/** Size of each chunk document's payload when the list is split. */
export const CHUNK_BYTES = 900_000;

/** Where a stored list's chunks are: `chunks/{gen}-{i}` for i < count under the scan document. */
export const ChunkRefSchema = z.object({ gen: z.string(), count: z.number().int().positive() });
/** Where a stored list's chunks are, parsed. */
export type ChunkRef = z.infer<typeof ChunkRefSchema>;

/** A scan ready to store: its summary, its list encoded, and the hash of both. */
export interface EncodedScan {
  summary: ImageSummary;
  /** The gzipped list: one piece when it fits inline, else the chunk payloads in order. */
  pieces: Buffer[];
  chunked: boolean;
  /** SHA-256 of the summary and the list; equal hashes mean an identical scan. */
  hash: string;
}

/** The summary of a scan (everything but the list), as Firestore will store it. */
export function summaryOf(scan: ImageScan): ImageSummary {
  const { vulnerabilities: _, ...summary } = scan;
  return plain(summary);
}

/** Encodes a scan's list (gzip, split when large) and hashes the scan. */
export async function encodeScan(scan: ImageScan): Promise<EncodedScan> {
  const summary = summaryOf(scan);
  const json = JSON.stringify(scan.vulnerabilities);
  const canonical = JSON.stringify([
    summary.registry,
    summary.repository,
    summary.digest,
    summary.tags,
    summary.source,
    summary.scannedAt,
    summary.status,
    summary.statusReason ?? null,
    [summary.counts.Critical, summary.counts.High, summary.counts.Medium, summary.counts.Low],
    summary.counts.Negligible,
  ]);
  const hash = sha256(`${canonical}\n${json}`);
  const gz = await gzipAsync(json);
  if (gz.length <= INLINE_MAX_BYTES) return { summary, pieces: [gz], chunked: false, hash };
  const pieces: Buffer[] = [];
  for (let i = 0; i < gz.length; i += CHUNK_BYTES) pieces.push(gz.subarray(i, i + CHUNK_BYTES));
  return { summary, pieces, chunked: true, hash };
}

/** The chunk generation of an encoded list: part of the hash, so unchanged content keeps its chunks. */
export function chunkGen(hash: string): string {
  return hash.slice(0, 16);
}

const Vulnerabilities = z.array(VulnerabilitySchema);

/** Decodes a stored list from its gzipped pieces, validated; throws when it is not one. */
export async function decodeVulnerabilities(
  pieces: readonly Uint8Array[],
  path: string,
): Promise<Vulnerability[]> {
  const json = (await gunzipAsync(Buffer.concat(pieces))).toString('utf8');
  const parsed = Vulnerabilities.safeParse(JSON.parse(json));
  if (!parsed.success) {
    throw new Error(`invalid vulnerability list in ${path}: ${z.prettifyError(parsed.error)}`, {
      cause: parsed.error,
    });
  }
  return parsed.data;
}
