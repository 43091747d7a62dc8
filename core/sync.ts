/**
 * The findings-sync contract between core and the registry connectors (DESIGN.md §5).
 * A connector pages through what a registry's scanner reports; core's SyncService
 * (services/sync.ts) ingests each batch, keeps the checkpoint and records the run.
 */
import type { ImageScan } from './domain.js';

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

export interface SyncBatch {
  /** COMPLETE scans of images — every finding of each image — each replacing that image's scan from this source. Never a partial image. */
  scans: ImageScan[];
  /** When set: everything up to here is delivered; a later failure resumes from it. */
  checkpoint?: string;
  progress?: { images: number; totalImages?: number };
}

export interface RegistryConnector {
  /** Pages through what changed since context.checkpoint; returns the checkpoint for the next run when it finished. Throws on failure (after its own retries). */
  sync(context: SyncContext): AsyncGenerator<SyncBatch, { checkpoint: string }, void>;
}

/** Builds a connector for a stored config (adapters/registry/connectors.ts exports `createConnector: ConnectorFactory`). */
export type ConnectorFactory = (config: RegistryConfig) => RegistryConnector;
