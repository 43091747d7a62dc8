/**
 * Ports: what core needs from the outside world. Each store adapter implements all of
 * them for its backend (`SqliteRuleStore`, `DynamoDbRuleStore`, ...) and translates its
 * backend's errors into core errors (errors.ts).
 */
import type {
  AdmissionEvent,
  ApiKeyRecord,
  ClusterRecord,
  Decision,
  ImageScan,
  Rule,
  ScanStatus,
  SeverityCounts,
  SyncRun,
} from './domain.js';
import type { RegistryConfig } from './sync.js';

/** A page of results; `nextCursor` is opaque and null on the last page. */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface RuleStore {
  /** Every rule, enabled or not, ordered by name. */
  list(): Promise<Rule[]>;
  get(id: string): Promise<Rule | null>;
  getByName(name: string): Promise<Rule | null>;
  /** Stores a new rule; ConflictError when the name (case-insensitive) is taken. */
  create(rule: Rule): Promise<void>;
  /**
   * Replaces the rule whose stored version is `expectedVersion`.
   * VersionConflictError when it is not; NotFoundError when the rule is gone;
   * ConflictError when a rename collides with another rule's name.
   */
  update(rule: Rule, expectedVersion: string): Promise<void>;
  /** Deletes the rule; with `expectedVersion`, only at that version (VersionConflictError). */
  delete(id: string, expectedVersion?: string): Promise<void>;
}

export interface ImageListQuery {
  registry?: string;
  repository?: string;
  /** Only images whose newest scan has this status. */
  status?: ScanStatus;
  limit: number;
  cursor?: string;
}

/** One row of the image listing: a scan without its vulnerability list. */
export type ImageSummary = Omit<ImageScan, 'vulnerabilities'>;

export interface ScanStore {
  /** The newest scan of a digest, whatever its source; null when never seen. */
  getScan(digest: string): Promise<ImageScan | null>;
  /** The digest a tag points to now (from the newest scan carrying that tag), or null. */
  resolveTag(registry: string, repository: string, tag: string): Promise<string | null>;
  /**
   * Upserts scans idempotently: each replaces the stored scan of the same (digest, source),
   * and moves its tags to its digest. Bulk by design: sync passes thousands per call.
   */
  upsertScans(scans: readonly ImageScan[]): Promise<void>;
  /**
   * Records a registry listing's observation, made at `observedAt` (ISO time), that image
   * `digest` of `registry/repository` carries exactly `tags` now. Each listed tag points at the
   * digest whatever the scan times (a rollback to an image scanned earlier is followed); a tag
   * that pointed at the digest and is not listed no longer resolves; and the tags of the
   * digest's scans in that repository become `tags`, their findings untouched. Observations are
   * ordered by `observedAt`: one older than the observation that last changed a tag (or a
   * scan's tags) leaves that alone, so a late observation never undoes a newer move. An
   * observation that changes nothing writes nothing. Returns true when anything changed.
   *
   * @example await scans.setTags('123456789012.dkr.ecr.eu-west-1.amazonaws.com', 'app', digestA, ['prod'], now);
   */
  setTags(
    registry: string,
    repository: string,
    digest: string,
    tags: readonly string[],
    observedAt: string,
  ): Promise<boolean>;
  /** Images by their newest scan, ordered by (registry, repository, digest). */
  listImages(query: ImageListQuery): Promise<Page<ImageSummary>>;
}

export interface ClusterRegistry {
  /** ConflictError when the name is taken. */
  create(cluster: ClusterRecord): Promise<void>;
  list(): Promise<ClusterRecord[]>;
  get(id: string): Promise<ClusterRecord | null>;
  getByName(name: string): Promise<ClusterRecord | null>;
  /** The cluster a webhook token belongs to, by the token's SHA-256 (hex). */
  findByTokenHash(tokenHash: string): Promise<ClusterRecord | null>;
  /** Replaces the token hash (rotation); NotFoundError when the cluster is gone. */
  setTokenHash(id: string, tokenHash: string, rotatedAt: string): Promise<void>;
  /** NotFoundError when the cluster is gone. */
  delete(id: string): Promise<void>;
}

export interface AdmissionQuery {
  uid?: string;
  cluster?: string;
  namespace?: string;
  decision?: Decision;
  /** Substring of a normalized image reference or a digest. */
  image?: string;
  /** Rule name or id that triggered on any image. */
  rule?: string;
  /** Inclusive lower bound, ISO time. */
  from?: string;
  /** Exclusive upper bound, ISO time. */
  to?: string;
  limit: number;
  cursor?: string;
}

export interface SummaryQuery {
  from: string;
  to: string;
  /** Bucket width. */
  bucket: 'hour' | 'day';
  cluster?: string;
  namespace?: string;
}

export interface SummaryBucket {
  /** Start of the bucket, ISO time. */
  start: string;
  Allowed: number;
  Audited: number;
  Denied: number;
}

export interface AdmissionLog {
  record(event: AdmissionEvent): Promise<void>;
  /** Newest first, in a stable order (time, then id) so cursors never skip or repeat. */
  query(query: AdmissionQuery): Promise<Page<AdmissionEvent>>;
  summary(query: SummaryQuery): Promise<SummaryBucket[]>;
  /** Deletes events older than `before` (ISO time); returns how many went. */
  purgeBefore(before: string): Promise<number>;
}

export interface ApiKeyStore {
  create(key: ApiKeyRecord): Promise<void>;
  list(): Promise<ApiKeyRecord[]>;
  findByHash(keyHash: string): Promise<ApiKeyRecord | null>;
  /** NotFoundError when the key is gone. */
  delete(id: string): Promise<void>;
  touch(id: string, usedAt: string): Promise<void>;
}

/** The state a store keeps for Portcullis itself (seeding, job runs). */
export interface MetaStore {
  get(key: string): Promise<string | null>;
  /** Sets the key only when absent; true when this call set it (first-start seeding). */
  setIfAbsent(key: string, value: string): Promise<boolean>;
  set(key: string, value: string): Promise<void>;
}

/**
 * Registry connectors (core/sync.ts) with what their findings sync keeps: the checkpoint a
 * run resumes from, a lease so that two syncs of one registry never run at once, and the
 * record of each run.
 */
export interface RegistryStore {
  /** Stores a new registry; ConflictError when the name (case-insensitive) is taken. */
  create(registry: RegistryConfig): Promise<void>;
  get(id: string): Promise<RegistryConfig | null>;
  getByName(name: string): Promise<RegistryConfig | null>;
  /** Every registry, enabled or not, ordered by name. */
  list(): Promise<RegistryConfig[]>;
  /** Deletes the registry with its checkpoint, lease and runs; NotFoundError when it is gone. */
  delete(id: string): Promise<void>;
  /** NotFoundError when the registry is gone. */
  setEnabled(id: string, enabled: boolean): Promise<void>;
  /** Where the last sync got to (opaque); null before the first. */
  getCheckpoint(id: string): Promise<string | null>;
  /** NotFoundError when the registry is gone. */
  setCheckpoint(id: string, checkpoint: string): Promise<void>;
  /**
   * Takes the registry's sync lease for `owner` until `until` (ISO time), or extends it when
   * `owner` holds it already. False, changing nothing, when another owner's lease has not
   * expired at `now`; NotFoundError when the registry is gone. A lease that expires frees the
   * registry even when its holder died without `unlock`.
   */
  tryLock(id: string, owner: string, until: string, now: string): Promise<boolean>;
  /** Releases the lease if `owner` holds it; otherwise (or when the registry is gone) nothing. */
  unlock(id: string, owner: string): Promise<void>;
  /** Inserts a run, or replaces the run with the same id (progress updates). */
  recordRun(run: SyncRun): Promise<void>;
  getRun(id: string): Promise<SyncRun | null>;
  /** At most `limit` runs of one registry (or of all), newest first by (startedAt, id). */
  listRuns(registryId: string | undefined, limit: number): Promise<SyncRun[]>;
  /** Deletes the registry's runs started before `before` (ISO time); returns how many went. */
  purgeRuns(registryId: string, before: string): Promise<number>;
}

export interface Clock {
  now(): Date;
}

/** Everything a store backend provides. */
export interface Store {
  rules: RuleStore;
  scans: ScanStore;
  clusters: ClusterRegistry;
  admissions: AdmissionLog;
  apiKeys: ApiKeyStore;
  meta: MetaStore;
  registries: RegistryStore;
  close(): Promise<void>;
}

export const systemClock: Clock = { now: () => new Date() };

/** Structured logging; each runtime supplies its own (console JSON, Powertools, Azure context). */
export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** Discards everything; for tests and tools that print their own output. */
export const silentLogger: Logger = { info() {}, warn() {}, error() {} };

export type { SeverityCounts };
