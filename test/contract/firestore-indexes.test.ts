/**
 * The Firestore emulator runs any query without an index; real Firestore refuses one whose
 * composite index is missing. This test keeps iac/gcp/firestore.indexes.json honest: every
 * query shape the store can issue is declared, every declared shape has its index, no index
 * is unused, and the TTL policy and index exemptions are there.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ALL_SHARDS, imageSearch } from '../../adapters/store/firestore/event-index.js';
import {
  ALL_RUNS_SHAPE,
  imageListShape,
  PURGE_SHAPE,
  planEventQuery,
  QUERY_SHAPES,
  type QueryShape,
  REGISTRY_RUNS_SHAPE,
  shapeKey,
  summaryShape,
} from '../../adapters/store/firestore/query-shapes.js';
import type { AdmissionQuery } from '../../core/ports.js';

const IndexField = z.union([
  z.strictObject({ fieldPath: z.string(), order: z.enum(['ASCENDING', 'DESCENDING']) }),
  z.strictObject({ fieldPath: z.string(), arrayConfig: z.literal('CONTAINS') }),
]);
const IndexFile = z.strictObject({
  indexes: z.array(
    z.strictObject({
      collectionGroup: z.string(),
      queryScope: z.enum(['COLLECTION', 'COLLECTION_GROUP']),
      fields: z.array(IndexField).min(2),
    }),
  ),
  fieldOverrides: z.array(
    z.strictObject({
      collectionGroup: z.string(),
      fieldPath: z.string(),
      ttl: z.boolean().optional(),
      indexes: z.array(z.record(z.string(), z.string())),
    }),
  ),
});
type Index = z.infer<typeof IndexFile>['indexes'][number];

const file = IndexFile.parse(
  JSON.parse(readFileSync(resolve(import.meta.dirname, '../../iac/gcp/firestore.indexes.json'), 'utf8')),
);

/** Equality-only queries merge single-field indexes; one field alone needs nothing more. */
function needsComposite(shape: QueryShape): boolean {
  const fields = new Set([...shape.equality, ...(shape.arrayContains ? [shape.arrayContains] : [])]);
  for (const o of shape.orderBy) fields.add(o.field);
  return fields.size > 1 && (shape.orderBy.length > 0 || shape.arrayContains !== undefined);
}

/**
 * An index serves a shape when it starts with the equality fields (in any order; `in` counts
 * as equality), then the array field, then exactly the shape's order fields and directions.
 */
function covers(index: Index, shape: QueryShape): boolean {
  if (index.collectionGroup !== shape.collection || index.queryScope !== 'COLLECTION') return false;
  const fields = index.fields.filter((f) => f.fieldPath !== '__name__');
  const eq = fields.slice(0, shape.equality.length);
  if (eq.some((f) => !('order' in f) || !shape.equality.includes(f.fieldPath))) return false;
  if (new Set(eq.map((f) => f.fieldPath)).size !== shape.equality.length) return false;
  let rest = fields.slice(shape.equality.length);
  if (shape.arrayContains !== undefined) {
    const array = rest[0];
    if (array === undefined || !('arrayConfig' in array) || array.fieldPath !== shape.arrayContains)
      return false;
    rest = rest.slice(1);
  }
  if (rest.length !== shape.orderBy.length) return false;
  return rest.every((f, i) => {
    const o = shape.orderBy[i]!;
    return (
      'order' in f &&
      f.fieldPath === o.field &&
      f.order === (o.direction === 'asc' ? 'ASCENDING' : 'DESCENDING')
    );
  });
}

function subsets<T>(items: readonly T[]): T[][] {
  return items.reduce<T[][]>((acc, item) => acc.concat(acc.map((s) => [...s, item])), [[]]);
}

/** Every combination of admission filters, with long, short and digest image searches. */
function everyAdmissionQuery(): Omit<AdmissionQuery, 'limit' | 'cursor'>[] {
  const values = {
    uid: ['u-1'],
    cluster: ['prod'],
    namespace: ['default'],
    decision: ['Denied' as const],
    image: ['nginx', 'ng', `sha256:${'a'.repeat(64)}`],
    rule: ['deny-critical'],
    from: ['2026-01-01T00:00:00Z'],
    to: ['2026-01-02T00:00:00Z'],
  };
  return subsets(Object.keys(values) as (keyof typeof values)[]).flatMap((keys) =>
    keys.reduce<Record<string, unknown>[]>(
      (queries, key) => queries.flatMap((q) => values[key].map((v) => ({ ...q, [key]: v }))),
      [{}],
    ),
  ) as Omit<AdmissionQuery, 'limit' | 'cursor'>[];
}

describe('iac/gcp/firestore.indexes.json', () => {
  const declared = new Set(QUERY_SHAPES.map(shapeKey));

  it('declares every query shape the store issues', () => {
    // getScan and resolveTag issue no query (point reads only).
    const issued: QueryShape[] = [PURGE_SHAPE, REGISTRY_RUNS_SHAPE, ALL_RUNS_SHAPE];
    for (const q of everyAdmissionQuery()) {
      const plan = planEventQuery(q, { shards: ALL_SHARDS, imageSearch });
      issued.push(plan.shape);
      // Firestore allows at most 30 disjunctions: shards (in) times image keys (contains-any).
      const arrays = Array.isArray(plan.array) ? plan.array.length : 1;
      expect(ALL_SHARDS.length * arrays).toBeLessThanOrEqual(30);
    }
    for (const filters of subsets(['cluster', 'namespace'] as const)) {
      const q = Object.fromEntries(filters.map((f) => [f, 'x']));
      issued.push(summaryShape(q, true), summaryShape(q, false));
    }
    for (const filters of subsets(['registry', 'repository', 'status'] as const)) {
      issued.push(imageListShape(Object.fromEntries(filters.map((f) => [f, 'Scanned']))));
    }
    expect(issued.length).toBeGreaterThan(300);
    for (const shape of issued) expect(declared.has(shapeKey(shape)), shapeKey(shape)).toBe(true);
  });

  it.each(QUERY_SHAPES.map((s) => [shapeKey(s), s] as const))('covers %s', (_key, shape) => {
    if (needsComposite(shape)) {
      expect(file.indexes.some((index) => covers(index, shape))).toBe(true);
    } else {
      // Served by automatic single-field indexes, which must not be switched off for its fields.
      for (const field of shape.equality) {
        const off = file.fieldOverrides.find(
          (o) => o.collectionGroup === shape.collection && o.fieldPath === field,
        );
        expect(off?.indexes.length ?? 1, `${shape.collection}.${field}`).toBeGreaterThan(0);
      }
    }
  });

  it('has no index that no query uses', () => {
    for (const index of file.indexes) {
      expect(
        QUERY_SHAPES.some((shape) => covers(index, shape)),
        JSON.stringify(index),
      ).toBe(true);
    }
  });

  it('sets the TTL policy on events.expiresAt, unindexed, and exempts the large fields', () => {
    const override = (group: string, field: string) =>
      file.fieldOverrides.find((o) => o.collectionGroup === group && o.fieldPath === field);
    expect(override('events', 'expiresAt')).toEqual({
      collectionGroup: 'events',
      fieldPath: 'expiresAt',
      ttl: true,
      indexes: [],
    });
    // A time field indexed on its own is a write hot spot; documents and blobs need no index.
    for (const [group, field] of [
      ['events', 'timeMs'],
      ['events', 'doc'],
      ['scans', 'vulns'],
      ['chunks', 'data'],
      ['images', 'sources'],
    ]) {
      expect(override(group!, field!)?.indexes, `${group}.${field}`).toEqual([]);
    }
  });
});
