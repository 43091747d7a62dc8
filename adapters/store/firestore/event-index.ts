/**
 * How admission events are indexed in Firestore: a write shard per event, the search keys of
 * its images (n-grams of references, exact digests) and rules (ids and names), and the
 * in-memory check of a query's filters that confirms each candidate.
 */
import type { AdmissionEvent } from '../../../core/domain.js';
import type { AdmissionQuery } from '../../../core/ports.js';

/**
 * Write shards. Every event index starts with `shard`, so time-ordered index entries spread
 * over this many key ranges instead of one hot tail (Firestore's "monotonically increasing
 * index" limit of ~500 writes/s each). Queries ask every shard at once with `in`, which
 * Firestore merges in order; 8 shards times 2 image search keys stays under its limit of 30
 * disjunctions. Changing the number needs a backfill of the `shard` field.
 */
export const EVENT_SHARDS = 8;
/** Every shard number, what queries pass to `shard in [...]`. */
export const ALL_SHARDS: readonly number[] = Array.from({ length: EVENT_SHARDS }, (_, i) => i);

/** The shard of an event, from its id (FNV-1a), so a rewrite of an event keeps its shard. */
export function shardOf(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % EVENT_SHARDS;
}

/** N-gram length of image references; a search shorter than this is checked in memory only. */
const GRAM = 3;

function grams(s: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + GRAM <= s.length; i++) out.push(s.slice(i, i + GRAM));
  return out;
}

/** The `imageGrams` of an event: every trigram of each normalized reference, and `d:<digest>`. */
export function imageKeys(event: AdmissionEvent): string[] {
  const keys = new Set<string>();
  for (const image of event.images) {
    for (const g of grams(image.reference.toLowerCase())) keys.add(g);
    if (image.digest !== undefined) keys.add(`d:${image.digest.toLowerCase()}`);
  }
  return [...keys];
}

/** The `ruleKeys` of an event: the lower-cased id and name of every rule that triggered. */
export function ruleKeys(event: AdmissionEvent): string[] {
  const keys = new Set<string>();
  for (const image of event.images) {
    for (const rule of image.triggeredRules) {
      keys.add(rule.ruleId.toLowerCase());
      keys.add(rule.ruleName.toLowerCase());
    }
  }
  return [...keys];
}

/**
 * The `imageGrams` values that find every event an image search can match: the exact digest
 * and one trigram of the search (the last one without punctuation, which tends to be the
 * rarest: an image name or tag). Null when the search is shorter than a trigram.
 */
export function imageSearch(image: string): string[] | null {
  const s = image.toLowerCase();
  const all = grams(s);
  if (all.length === 0) return null;
  const gram = [...all].reverse().find((g) => /^[a-z0-9]+$/.test(g)) ?? all[all.length - 1]!;
  return [`d:${s}`, gram];
}

/** Whether an event meets every filter of a query except time and cursor (the server's job). */
export function matchesQuery(event: AdmissionEvent, q: Omit<AdmissionQuery, 'limit' | 'cursor'>): boolean {
  if (q.uid !== undefined && event.uid !== q.uid) return false;
  if (q.cluster !== undefined && event.cluster !== q.cluster) return false;
  if (q.namespace !== undefined && event.namespace !== q.namespace) return false;
  if (q.decision !== undefined && event.decision !== q.decision) return false;
  if (q.image !== undefined && q.image !== '') {
    const image = q.image.toLowerCase();
    const hit = event.images.some(
      (i) => i.digest?.toLowerCase() === image || i.reference.toLowerCase().includes(image),
    );
    if (!hit) return false;
  }
  if (q.rule !== undefined && q.rule !== '') {
    const rule = q.rule.toLowerCase();
    const hit = event.images.some((i) =>
      i.triggeredRules.some((r) => r.ruleId.toLowerCase() === rule || r.ruleName.toLowerCase() === rule),
    );
    if (!hit) return false;
  }
  return true;
}
