/**
 * The findings-sync contract between core and the registry connectors (DESIGN.md §5).
 * A connector pages through what a registry's scanner reports; core's SyncService
 * (services/sync.ts) ingests each batch, keeps the checkpoint and records the run.
 */
import type { ImageScan, ScanSource } from './domain.js';

export const REGISTRY_KINDS = ['ecr', 'acr', 'gar'] as const;
export type RegistryKind = (typeof REGISTRY_KINDS)[number];

/**
 * A registry connector as stored. `settings` depend on `kind` (validated with zod in
 * core/domain.ts as RegistryInputSchema, a discriminated union on kind):
 * - ecr: `{ region: string; registryId?: string` (12-digit account)`; repositories?: string[]`
 *   (name prefixes)`; scanning: 'basic' | 'enhanced' }`
 * - acr: `{ subscriptions: string[]` (>= 1 subscription GUIDs)`; registries?: string[]`
 *   (login servers, e.g. myreg.azurecr.io)` }`
 * - gar: `{ projects: string[]; locations?: string[]` (e.g. us, europe-west1)`; repositories?: string[] }`
 */
export interface RegistryConfig {
  id: string;
  name: string;
  kind: RegistryKind;
  settings: Record<string, unknown>;
  enabled: boolean;
  createdAt: string;
  createdBy: string;
}

export interface SyncContext {
  /** Where the previous run got to (opaque to core); undefined on the first run = full sync. */
  checkpoint?: string;
  signal: AbortSignal;
  now: Date;
}

/** The tags an image of the registry carries now, as the registry's listing gives them. */
export interface ImageTags {
  registry: string;
  repository: string;
  digest: string;
  /** The source whose stored scan of the image these tags belong to. */
  source: ScanSource;
  /** Every tag the image carries now: a tag missing here has moved away or been deleted. */
  tags: string[];
}

export interface SyncBatch {
  /** COMPLETE scans of images — every finding of each image — each replacing that image's scan from this source. Never a partial image. */
  scans: ImageScan[];
  /** When set: everything up to here is delivered; a later failure resumes from it. */
  checkpoint?: string;
  progress?: { images: number; totalImages?: number };
  /**
   * The current tags of images the connector listed but did not need to scan again (a tag can
   * move to another digest, back to an older one, or go, without any new scan). Core records
   * each as an observation (ScanService.retag, ScanStore.setTags): the tags point at that
   * digest, whatever the scan times, and leave the digest they were on.
   */
  tags?: ImageTags[];
}

/**
 * A complete listing of the images a scanner reports now, for a scanner whose silence about an
 * image is ambiguous (Defender's Resource Graph rows vanish when findings are resolved, and also
 * when an image leaves its scan window or is deleted). After the run, core marks each stored scan
 * from `source` of an image in `registries` that is missing here as `Pending` with `reason`,
 * keeping its last findings for the record: never clean, never silently. See ScanService.reconcile.
 */
export interface ScannerInventory {
  source: ScanSource;
  /** Registry hosts (lower case) listed completely; images of other hosts are left alone. */
  registries: string[];
  /** Every digest (lower case) the scanner reports in those registries. */
  digests: string[];
  /** The statusReason given to an image the scanner no longer reports. */
  reason: string;
}

/** What a finished run returns. */
export interface SyncResult {
  /** Where the next run starts. */
  checkpoint: string;
  /** Set by connectors whose scanner can only say what it reports, not what it stopped reporting. */
  inventory?: ScannerInventory;
}

export interface RegistryConnector {
  /** Pages through what changed since context.checkpoint; returns the checkpoint for the next run when it finished. Throws on failure (after its own retries). */
  sync(context: SyncContext): AsyncGenerator<SyncBatch, SyncResult, void>;
}

/** Builds a connector for a stored config (adapters/registry/connectors.ts exports `createConnector: ConnectorFactory`). */
export type ConnectorFactory = (config: RegistryConfig) => RegistryConnector;
