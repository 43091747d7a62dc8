/**
 * Every query the Firestore store issues, as a shape: which fields it compares, which array it
 * searches, how it orders. Real Firestore refuses a query whose composite index is missing
 * (the emulator does not), so each shape here must be covered by
 * `iac/gcp/firestore.indexes.json`; a test checks it, and `buildQuery` refuses a shape that is
 * not listed, so a new query cannot ship without its index.
 */
import type { CollectionReference, Query, WhereFilterOp } from '@google-cloud/firestore';
import type { AdmissionQuery, ImageListQuery } from '../../../core/ports.js';
import type { CollectionId } from './client.js';

/** One ordering of a query. */
export interface OrderField {
  field: string;
  direction: 'asc' | 'desc';
}

/** The shape of a query, which decides the index it needs. */
export interface QueryShape {
  /** Collection group id (the last segment of the collection path). */
  collection: CollectionId;
  /** Fields compared with `==` or `in`. */
  equality: readonly string[];
  /** A field searched with `array-contains` or `array-contains-any`. */
  arrayContains?: string;
  /** The order; a range filter is allowed on the first of these fields only. */
  orderBy: readonly OrderField[];
}

const NEWEST_FIRST: readonly OrderField[] = [
  { field: 'timeMs', direction: 'desc' },
  { field: 'id', direction: 'desc' },
];
const IMAGE_ORDER = ['registryKey', 'repositoryKey', 'digestKey'] as const;

function eventShape(equality: string[], arrayContains?: string): QueryShape {
  return arrayContains === undefined
    ? { collection: 'events', equality, orderBy: NEWEST_FIRST }
    : { collection: 'events', equality, arrayContains, orderBy: NEWEST_FIRST };
}

/** The listing of images: equality on the given keys, ordered by the remaining image keys. */
export function imageListShape(
  filters: Pick<ImageListQuery, 'registry' | 'repository' | 'status'>,
): QueryShape {
  const equality: string[] = [];
  if (filters.registry !== undefined) equality.push('registryKey');
  if (filters.repository !== undefined) equality.push('repositoryKey');
  if (filters.status !== undefined) equality.push('status');
  return {
    collection: 'images',
    equality,
    orderBy: IMAGE_ORDER.filter((f) => !equality.includes(f)).map((field) => ({ field, direction: 'asc' })),
  };
}

/** `RuleStore.getByName`; lookups by name use single-field indexes, which Firestore keeps by default. */
export const RULE_BY_NAME_SHAPE: QueryShape = { collection: 'rules', equality: ['nameKey'], orderBy: [] };
/** `ClusterRegistry.getByName`. */
export const CLUSTER_BY_NAME_SHAPE: QueryShape = {
  collection: 'clusters',
  equality: ['nameKey'],
  orderBy: [],
};

const RUNS_NEWEST_FIRST: readonly OrderField[] = [
  { field: 'startedMs', direction: 'desc' },
  { field: 'runId', direction: 'desc' },
];

/** `RegistryStore.listRuns` of one registry, and its purge (a range on `startedMs`). */
export const REGISTRY_RUNS_SHAPE: QueryShape = {
  collection: 'syncRuns',
  equality: ['registryId'],
  orderBy: RUNS_NEWEST_FIRST,
};
/** `RegistryStore.listRuns` across registries. */
export const ALL_RUNS_SHAPE: QueryShape = {
  collection: 'syncRuns',
  equality: [],
  orderBy: RUNS_NEWEST_FIRST,
};

/** How an admission query runs: the server-side shape and whether results need a second look. */
export interface EventPlan {
  shape: QueryShape;
  /** Values of the shape's equality fields (`shard` takes every shard with `in`). */
  equals: Record<string, unknown>;
  /** The array search, when the shape has one: one value (contains) or several (contains-any). */
  array?: string | string[];
  /** True when some filter is checked only in memory, so a page may need several reads. */
  filteredInMemory: boolean;
}

/** Inputs of `planEventQuery` that depend on how events are indexed (event-index.ts). */
export interface EventPlanInputs {
  shards: readonly number[];
  /** The `imageGrams` values that narrow an image search, or null when none can. */
  imageSearch: (image: string) => string[] | null;
}

/**
 * Plans an admission query. `uid` is near-unique, so it alone goes to the server. Otherwise
 * every shard is asked (`shard in [...]`, merged in order by Firestore), with the cluster, and
 * then either one array search (rule ids/names, else image n-grams) or the namespace and
 * decision; whatever is left is checked in memory. That keeps 13 event indexes instead of 96.
 */
export function planEventQuery(
  q: Omit<AdmissionQuery, 'limit' | 'cursor'>,
  inputs: EventPlanInputs,
): EventPlan {
  const rule = q.rule !== undefined && q.rule !== '' ? q.rule.toLowerCase() : undefined;
  const image = q.image !== undefined && q.image !== '' ? q.image : undefined;
  if (q.uid !== undefined) {
    const others = [q.cluster, q.namespace, q.decision, rule, image].some((v) => v !== undefined);
    return { shape: eventShape(['uid']), equals: { uid: q.uid }, filteredInMemory: others };
  }
  const equality = ['shard'];
  const equals: Record<string, unknown> = { shard: [...inputs.shards] };
  if (q.cluster !== undefined) {
    equality.push('cluster');
    equals.cluster = q.cluster;
  }
  const grams = image === undefined ? null : inputs.imageSearch(image);
  if (rule !== undefined) {
    const filteredInMemory = q.namespace !== undefined || q.decision !== undefined || image !== undefined;
    return { shape: eventShape(equality, 'ruleKeys'), equals, array: rule, filteredInMemory };
  }
  if (grams !== null) {
    const filteredInMemory = true; // n-grams find candidates; the substring is checked on each
    return { shape: eventShape(equality, 'imageGrams'), equals, array: grams, filteredInMemory };
  }
  if (q.namespace !== undefined) {
    equality.push('namespace');
    equals.namespace = q.namespace;
  }
  if (q.decision !== undefined) {
    equality.push('decision');
    equals.decision = q.decision;
  }
  return { shape: eventShape(equality), equals, filteredInMemory: image !== undefined };
}

/** The count queries of `summary` (with `decision` per bucket, without it to skip empty spans). */
export function summaryShape(q: { cluster?: string; namespace?: string }, withDecision: boolean): QueryShape {
  const equality = ['shard'];
  if (q.cluster !== undefined) equality.push('cluster');
  if (q.namespace !== undefined) equality.push('namespace');
  if (withDecision) equality.push('decision');
  return eventShape(equality);
}

/** `purgeBefore`: events older than a time, across every shard. */
export const PURGE_SHAPE: QueryShape = eventShape(['shard']);

function subsets<T>(items: readonly T[]): T[][] {
  return items.reduce<T[][]>((acc, item) => acc.concat(acc.map((s) => [...s, item])), [[]]);
}

/** Every shape the store issues. `iac/gcp/firestore.indexes.json` must cover each one. */
export const QUERY_SHAPES: readonly QueryShape[] = [
  RULE_BY_NAME_SHAPE,
  CLUSTER_BY_NAME_SHAPE,
  ...subsets(['registry', 'repository', 'status'] as const).map((keys) =>
    imageListShape(Object.fromEntries(keys.map((k) => [k, 'x']))),
  ),
  ...subsets(['cluster', 'namespace', 'decision']).map((fields) => eventShape(['shard', ...fields])),
  eventShape(['shard'], 'imageGrams'),
  eventShape(['shard', 'cluster'], 'imageGrams'),
  eventShape(['shard'], 'ruleKeys'),
  eventShape(['shard', 'cluster'], 'ruleKeys'),
  eventShape(['uid']),
  REGISTRY_RUNS_SHAPE,
  ALL_RUNS_SHAPE,
];

/** A stable identity of a shape: equality fields are a set, the order is a sequence. */
export function shapeKey(shape: QueryShape): string {
  const order = shape.orderBy.map((o) => `${o.field}:${o.direction}`).join(',');
  return `${shape.collection}|${[...shape.equality].sort().join(',')}|${shape.arrayContains ?? ''}|${order}`;
}

const DECLARED = new Set(QUERY_SHAPES.map(shapeKey));

/** A range on the first order field of a shape. */
export interface RangeFilter {
  gte?: number;
  lt?: number;
}

/**
 * Builds a query of a declared shape. Throws on an undeclared shape or values that do not fit
 * it — a programming error that must fail in tests, not in production for want of an index.
 */
export function buildQuery(
  col: CollectionReference,
  shape: QueryShape,
  equals: Record<string, unknown>,
  options: { array?: string | string[]; range?: RangeFilter } = {},
): Query {
  if (!DECLARED.has(shapeKey(shape))) throw new Error(`undeclared Firestore query shape ${shapeKey(shape)}`);
  const given = Object.keys(equals).sort().join(',');
  if (given !== [...shape.equality].sort().join(',')) {
    throw new Error(`query values (${given}) do not fit shape ${shapeKey(shape)}`);
  }
  if ((options.array !== undefined) !== (shape.arrayContains !== undefined)) {
    throw new Error(`array search does not fit shape ${shapeKey(shape)}`);
  }
  let query: Query = col;
  for (const field of shape.equality) {
    const value = equals[field];
    query = query.where(field, Array.isArray(value) ? 'in' : '==', value);
  }
  if (shape.arrayContains !== undefined && options.array !== undefined) {
    const op: WhereFilterOp = Array.isArray(options.array) ? 'array-contains-any' : 'array-contains';
    query = query.where(shape.arrayContains, op, options.array);
  }
  const rangeField = shape.orderBy[0]?.field;
  if (options.range !== undefined) {
    if (rangeField === undefined) throw new Error(`shape ${shapeKey(shape)} has no field to range over`);
    if (options.range.gte !== undefined) query = query.where(rangeField, '>=', options.range.gte);
    if (options.range.lt !== undefined) query = query.where(rangeField, '<', options.range.lt);
  }
  for (const o of shape.orderBy) query = query.orderBy(o.field, o.direction);
  return query;
}
