/**
 * The Google Cloud Firestore (native mode) store: every port of `Store` over one Firestore
 * database, for Portcullis on Google Cloud. docs/storage/firestore.md describes the data model;
 * iac/gcp/firestore.indexes.json declares the indexes and the TTL policy it relies on.
 */
import { Firestore } from '@google-cloud/firestore';
import { type Clock, type Store, systemClock } from '../../../core/ports.js';
import { FirestoreAdmissionLog } from './admission-log.js';
import { FirestoreApiKeyStore } from './api-key-store.js';
import { FirestoreContext } from './client.js';
import { FirestoreClusterRegistry } from './cluster-registry.js';
import { FirestoreMetaStore } from './meta-store.js';
import { FirestoreRegistryStore } from './registry-store.js';
import { FirestoreRuleStore } from './rule-store.js';
import { FirestoreScanStore } from './scan-store.js';

export { FirestoreAdmissionLog, type FirestoreAdmissionLogOptions } from './admission-log.js';
export { FirestoreApiKeyStore } from './api-key-store.js';
export { COLLECTIONS, FirestoreContext, translateError } from './client.js';
export { FirestoreClusterRegistry } from './cluster-registry.js';
export { FirestoreMetaStore } from './meta-store.js';
export {
  planEventQuery,
  QUERY_SHAPES,
  type QueryShape,
  shapeKey,
} from './query-shapes.js';
export { FirestoreRegistryStore } from './registry-store.js';
export { FirestoreRuleStore } from './rule-store.js';
export { FirestoreScanStore } from './scan-store.js';

/** The default retention of admission events, in days. */
export const DEFAULT_RETENTION_DAYS = 90;
/** The default deadline of each request to Firestore, in ms. */
export const DEFAULT_TIMEOUT_MS = 5000;

/** How to open the store. */
export interface FirestoreStoreOptions {
  /** The Firestore client; `close()` terminates it. */
  client: Firestore;
  /**
   * A document path (`envs/prod`, an even number of segments) under which the collections
   * live, so that several installations or test runs share a database; '' (the default) for
   * the database root. Collection ids stay the same, so the declared indexes and TTL policy
   * (which are per collection id) cover every prefix.
   */
  prefix?: string;
  /** Days admission events are kept (DESIGN.md §2); 90 by default. */
  retentionDays?: number;
  /** Time source; the system clock by default. */
  clock?: Clock;
  /**
   * Check at open that the database answers. Firestore creates collections on first write,
   * and its composite indexes and TTL policy come from iac/gcp (the emulator needs none), so
   * there is nothing else to create.
   */
  ensureSchema?: boolean;
  /** Deadline of each request, in ms (an unreachable endpoint fails after this); 5000 by default. */
  timeoutMs?: number;
  /**
   * Whether bulk writes ramp up by Firestore's 500/50/5 rule (true, the default, for a real
   * database, whose new key ranges need time to split; false for the emulator).
   */
  bulkThrottling?: boolean;
}

/**
 * Opens a Firestore store over an injected client.
 *
 * @example
 * const client = new Firestore({ projectId: 'my-project' });
 * const store = await openFirestoreStore({ client, prefix: 'envs/prod' });
 * await store.rules.list();
 * await store.close();
 */
export async function openFirestoreStore(options: FirestoreStoreOptions): Promise<Store> {
  const retentionDays = options.retentionDays ?? DEFAULT_RETENTION_DAYS;
  if (!(retentionDays > 0)) throw new RangeError(`retentionDays must be positive, got ${retentionDays}`);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!(timeoutMs > 0)) throw new RangeError(`timeoutMs must be positive, got ${timeoutMs}`);
  const prefix = normalizePrefix(options.prefix ?? '');
  const ctx = new FirestoreContext(options.client, {
    prefix,
    timeoutMs,
    bulkThrottling: options.bulkThrottling ?? true,
  });
  const meta = new FirestoreMetaStore(ctx);
  const release = async () => {
    // Requests abandoned at their deadline may still be retrying inside the SDK (a dead
    // endpoint, for up to a minute); the client is terminated once they settle, in the
    // background, so close() itself never waits on a dead backend.
    const terminate = () => options.client.terminate().catch(() => undefined);
    if (ctx.busy) {
      void ctx.whenIdle().then(terminate);
      return;
    }
    await Promise.race([terminate(), new Promise((resolve) => setTimeout(resolve, timeoutMs).unref())]);
  };
  if (options.ensureSchema === true) {
    try {
      await meta.get('schema-probe');
    } catch (e) {
      await release();
      throw e;
    }
  }
  let closed = false;
  return {
    rules: new FirestoreRuleStore(ctx),
    scans: new FirestoreScanStore(ctx),
    clusters: new FirestoreClusterRegistry(ctx),
    admissions: new FirestoreAdmissionLog(ctx, { clock: options.clock ?? systemClock, retentionDays }),
    apiKeys: new FirestoreApiKeyStore(ctx),
    meta,
    registries: new FirestoreRegistryStore(ctx),
    async close() {
      if (closed) return;
      closed = true;
      await release();
    },
  };
}

/** Checks a prefix is a document path: segments without `/`, an even number of them. */
function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+|\/+$/g, '');
  if (trimmed === '') return '';
  const segments = trimmed.split('/');
  if (segments.length % 2 !== 0 || segments.some((s) => s === '' || s === '.' || s === '..')) {
    throw new RangeError(
      `the Firestore prefix must be a document path such as "envs/prod" (an even number of segments), got "${prefix}"`,
    );
  }
  return trimmed;
}

/**
 * Opens the store from the environment (the usual Google Cloud variables):
 * - `FIRESTORE_EMULATOR_HOST` (`host:port`): talk to the emulator, without TLS or credentials;
 * - `GOOGLE_CLOUD_PROJECT` or `GCLOUD_PROJECT`: the project (required with the emulator;
 *   otherwise detected from the credentials or the metadata server when unset);
 * - `GOOGLE_APPLICATION_CREDENTIALS`: a service account key file, read by the SDK itself;
 *   without it Application Default Credentials apply (the function's service account);
 * - `PORTCULLIS_FIRESTORE_DATABASE`: the database id, `(default)` by default;
 * - `PORTCULLIS_FIRESTORE_PREFIX`: the document path the collections live under, none by default.
 * Off Google Cloud with Application Default Credentials, `METADATA_SERVER_DETECTION=none` stops
 * the SDK probing for a metadata server (the emulator client needs no such setting).
 *
 * @example
 * const store = await openFirestoreStoreFromEnv(process.env, { retentionDays: 30 });
 */
export async function openFirestoreStoreFromEnv(
  env: NodeJS.ProcessEnv,
  options: { retentionDays?: number; clock?: Clock } = {},
): Promise<Store> {
  const projectId = nonEmpty(env.GOOGLE_CLOUD_PROJECT) ?? nonEmpty(env.GCLOUD_PROJECT);
  const databaseId = nonEmpty(env.PORTCULLIS_FIRESTORE_DATABASE) ?? '(default)';
  const emulator = nonEmpty(env.FIRESTORE_EMULATOR_HOST);
  let prefix: string;
  try {
    prefix = normalizePrefix(env.PORTCULLIS_FIRESTORE_PREFIX ?? '');
  } catch (e) {
    throw new RangeError(`PORTCULLIS_FIRESTORE_PREFIX: ${(e as Error).message}`);
  }
  if (emulator !== undefined) {
    if (!/^(\[[0-9a-fA-F:.]+\]|[^:/\s]+):\d+$/.test(emulator)) {
      throw new RangeError(`FIRESTORE_EMULATOR_HOST must be host:port, got "${emulator}"`);
    }
    if (projectId === undefined) {
      throw new RangeError(
        'GOOGLE_CLOUD_PROJECT (or GCLOUD_PROJECT) must be set to use FIRESTORE_EMULATOR_HOST',
      );
    }
  }
  const client =
    emulator !== undefined && projectId !== undefined
      ? createEmulatorClient(emulator, projectId, databaseId)
      : new Firestore({ ...(projectId !== undefined ? { projectId } : {}), databaseId });
  return openFirestoreStore({
    client,
    prefix,
    retentionDays: options.retentionDays,
    clock: options.clock,
    ensureSchema: emulator !== undefined,
    bulkThrottling: emulator === undefined,
  });
}

/**
 * A client for the Firestore emulator at `endpoint` (`host:port`): plain HTTP/2 and the
 * emulator's owner token. The emulator takes no credentials; placeholder ones keep the SDK's
 * auth library from probing for a GCE metadata server, which off Google Cloud only costs
 * time and prints a warning.
 */
export function createEmulatorClient(
  endpoint: string,
  projectId: string,
  databaseId = '(default)',
): Firestore {
  return new Firestore({
    projectId,
    databaseId,
    host: endpoint,
    ssl: false,
    customHeaders: { Authorization: 'Bearer owner' },
    credentials: { client_email: `emulator@${projectId}.iam.gserviceaccount.com`, private_key: 'unused' },
  });
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}
