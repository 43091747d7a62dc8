/**
 * The Firestore plumbing shared by every Firestore* port: collection references under the
 * store's path prefix, per-request deadlines, translating gRPC errors into core errors, safe
 * document ids, reading documents through zod, and opaque cursors.
 */
import { createHash } from 'node:crypto';
import type { CollectionReference, Firestore } from '@google-cloud/firestore';
import type { z } from 'zod';
import {
  ConflictError,
  NotFoundError,
  PortcullisError,
  UnavailableError,
  VersionConflictError,
} from '../../../core/errors.js';
import { parseStored } from '../common/records.js';

/** Collection ids, fixed so that indexes and the TTL policy (per collection group) always apply. */
export const COLLECTIONS = {
  rules: 'rules',
  ruleNames: 'ruleNames',
  clusters: 'clusters',
  clusterNames: 'clusterNames',
  clusterTokens: 'clusterTokens',
  apiKeys: 'apiKeys',
  apiKeyIds: 'apiKeyIds',
  meta: 'meta',
  scans: 'scans',
  chunks: 'chunks',
  images: 'images',
  tags: 'tags',
  events: 'events',
  registries: 'registries',
  registryNames: 'registryNames',
  syncRuns: 'syncRuns',
} as const;
/** The id of one of the store's collections. */
export type CollectionId = (typeof COLLECTIONS)[keyof typeof COLLECTIONS];

/** gRPC status codes the store reacts to. */
export const Code = {
  CANCELLED: 1,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  UNAVAILABLE: 14,
} as const;

/** Codes worth retrying later: throttling, contention, an unreachable or slow backend. */
export const TRANSIENT_CODES: ReadonlySet<number> = new Set([
  Code.DEADLINE_EXCEEDED,
  Code.RESOURCE_EXHAUSTED,
  Code.ABORTED,
  Code.UNAVAILABLE,
]);

const NETWORK_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);

/** The gRPC status code of an error thrown by the Firestore SDK, if it has one. */
export function grpcCode(e: unknown): number | undefined {
  const code: unknown = (e as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** What a failed call was about, so that a translated error can say so. */
export interface ErrorContext {
  /** The thing whose unique key was taken (ALREADY_EXISTS -> ConflictError). */
  conflict?: string;
  /** Set where the call carried a precondition (FAILED_PRECONDITION -> VersionConflictError). */
  precondition?: string;
  /** The thing that was gone (NOT_FOUND -> NotFoundError). */
  notFound?: string;
}

/**
 * Translates what the Firestore SDK threw into a core error (the original kept as `cause`) and
 * rethrows anything it does not recognise — a FAILED_PRECONDITION without a precondition of
 * ours is most likely a missing index, whose message links to the fix, so it passes through.
 */
export function translateError(e: unknown, ctx: ErrorContext = {}): never {
  if (e instanceof PortcullisError) throw e;
  const code = grpcCode(e);
  if (code === Code.ALREADY_EXISTS) {
    throw new ConflictError(`${ctx.conflict ?? 'the record'} already exists`, { cause: e });
  }
  if (code === Code.FAILED_PRECONDITION && ctx.precondition !== undefined) {
    throw new VersionConflictError(ctx.precondition, { cause: e });
  }
  if (code === Code.NOT_FOUND)
    throw new NotFoundError(`${ctx.notFound ?? 'the record'} not found`, { cause: e });
  if (code !== undefined && TRANSIENT_CODES.has(code)) {
    throw new UnavailableError('Firestore is unavailable or overloaded; try again', { cause: e });
  }
  const sys: unknown = (e as { code?: unknown } | null)?.code;
  if (typeof sys === 'string' && NETWORK_ERRORS.has(sys)) {
    throw new UnavailableError('Firestore cannot be reached; try again', { cause: e });
  }
  throw e;
}

/** Options shared by every port of one store. */
export interface FirestoreContextOptions {
  /** A document path (`envs/prod`) under which the collections live; '' for the database root. */
  prefix: string;
  /** Deadline of each request to Firestore, in ms. */
  timeoutMs: number;
  /** Whether BulkWriter ramps up with Firestore's 500/50/5 rule (off for the emulator). */
  bulkThrottling: boolean;
}

/** One store's handle on Firestore: its collections, deadlines and bulk settings. */
export class FirestoreContext {
  private readonly base: string;
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(
    readonly db: Firestore,
    readonly options: FirestoreContextOptions,
  ) {
    this.base = options.prefix === '' ? '' : `${options.prefix}/`;
  }

  /** The collection `id` under the prefix. */
  col(id: CollectionId): CollectionReference {
    return this.db.collection(`${this.base}${id}`);
  }

  /**
   * Runs one request with the store's deadline and translates its errors. The SDK retries an
   * unreachable endpoint for up to a minute per call; the deadline bounds that, so a dead
   * backend fails fast with UnavailableError instead of holding a webhook request.
   */
  async call<T>(what: string, fn: () => Promise<T>, ctx: ErrorContext = {}): Promise<T> {
    try {
      return await this.timed(what, fn);
    } catch (e) {
      translateError(e, ctx);
    }
  }

  /**
   * Runs one request with the store's deadline only, leaving the SDK's error as it is for a
   * caller that must look at its code; a missed deadline rejects with UnavailableError.
   */
  async timed<T>(what: string, fn: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new UnavailableError(`Firestore did not answer ${what} within ${this.options.timeoutMs} ms`),
          ),
        this.options.timeoutMs,
      );
    });
    try {
      return await Promise.race([this.track(fn()), deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Counts a request until it settles, even after its caller stopped waiting: terminating the
   * client while the SDK still retries one makes the SDK reject promises nobody handles.
   */
  track<T>(request: Promise<T>): Promise<T> {
    this.inFlight++;
    const settled = () => {
      this.inFlight--;
      if (this.inFlight === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    };
    request.then(settled, settled);
    return request;
  }

  /** Whether some request has not settled yet. */
  get busy(): boolean {
    return this.inFlight > 0;
  }

  /** Resolves once no request is in flight. */
  whenIdle(): Promise<void> {
    return this.inFlight === 0 ? Promise.resolve() : new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}

/**
 * A document id for an arbitrary key. Keys that Firestore accepts as they are stay readable;
 * others (a `/`, `.`/`..`, `__x__`, very long) become `~` + base64url, which no readable id
 * starts with, so two keys never share an id.
 */
export function docId(key: string): string {
  const readable =
    key.length > 0 &&
    Buffer.byteLength(key) <= 700 &&
    !key.includes('/') &&
    !key.startsWith('~') &&
    key !== '.' &&
    key !== '..' &&
    !/^__.*__$/.test(key);
  if (readable) return key;
  const encoded = Buffer.from(key, 'utf8').toString('base64url');
  return encoded.length <= 1400 ? `~${encoded}` : `~h${sha256(key)}`;
}

/** SHA-256 hex of `s`. */
export function sha256(s: string | Uint8Array): string {
  return createHash('sha256').update(s).digest('hex');
}

/**
 * Validates a document read back from Firestore; one that fails is corruption, reported with
 * its path rather than passed on half-typed.
 */
export function parseDoc<T extends z.ZodType>(schema: T, data: unknown, path: string): z.output<T> {
  return parseStored(schema, data, `document ${path}`);
}

/**
 * A domain value as Firestore stores it: `undefined` members dropped (Firestore rejects them
 * and JSON drops them), so what is read back equals what a JSON API would have returned.
 */
export function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** Sleeps `ms` plus up to as much again of jitter, so racing retries spread out. */
export function jitteredDelay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms + Math.random() * ms));
}
