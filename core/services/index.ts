/**
 * The composition root of core: every service over one store. Each runtime (local emulator,
 * Lambda, Azure Functions, Cloud Functions) builds this once per instance.
 */
import { type Clock, type Logger, type Store, silentLogger, systemClock } from '../ports.js';
import type { ConnectorFactory } from '../sync.js';
import { AdmissionService, type FailMode } from './admission.js';
import { ApiKeyService } from './apikeys.js';
import { ClusterService } from './clusters.js';
import { ExemptionService } from './exemptions.js';
import { ExposureService } from './exposure.js';
import { MonitoringService } from './monitoring.js';
import { RuleService } from './rules.js';
import { ScanService } from './scans.js';
import { type SyncOptions, SyncService } from './sync.js';

export interface ServiceOptions {
  clock?: Clock;
  logger?: Logger;
  /** Bound on how far a cache may lag writes made by another instance (default 10 s). */
  cacheTtlMs?: number;
  /** Budget for the store reads of one admission review (default 2 s). */
  deadlineMs?: number;
  failMode?: FailMode;
  /** Days admission events are kept (default 90). */
  retentionDays?: number;
  /**
   * Builds the findings-sync connector of a registry (adapters/registry/connectors.ts
   * `createConnector`); without it registries can be managed but `sync` answers an error.
   */
  connectors?: ConnectorFactory;
  /** Lease, progress and retention settings of sync runs. */
  sync?: Omit<SyncOptions, 'connectors'>;
}

export interface Services {
  rules: RuleService;
  clusters: ClusterService;
  scans: ScanService;
  admission: AdmissionService;
  monitoring: MonitoringService;
  /** Workloads admitted earlier that today's rules and findings would deny or audit. */
  exposure: ExposureService;
  /** Exemptions across rules, with their expiry. */
  exemptions: ExemptionService;
  apiKeys: ApiKeyService;
  sync: SyncService;
  store: Store;
  clock: Clock;
  logger: Logger;
}

export function createServices(store: Store, options: ServiceOptions = {}): Services {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? silentLogger;
  const ttl = options.cacheTtlMs ?? 10_000;
  const rules = new RuleService(store.rules, store.meta, clock, logger, ttl);
  const scans = new ScanService(store.scans, clock, logger, ttl);
  const clusters = new ClusterService(store.clusters, clock, logger, ttl);
  const retentionDays = options.retentionDays ?? 90;
  return {
    rules,
    scans,
    clusters,
    admission: new AdmissionService(rules, scans, store.admissions, clock, logger, {
      deadlineMs: options.deadlineMs ?? 2000,
      failMode: options.failMode ?? 'error',
    }),
    monitoring: new MonitoringService(store.admissions, clock, logger, retentionDays),
    exposure: new ExposureService(store.admissions, rules, scans, clusters, clock, { retentionDays }),
    exemptions: new ExemptionService(rules, clock),
    apiKeys: new ApiKeyService(store.apiKeys, clock, logger, ttl),
    sync: new SyncService(store.registries, scans, clock, logger, {
      ...options.sync,
      ...(options.connectors === undefined ? {} : { connectors: options.connectors }),
    }),
    store,
    clock,
    logger,
  };
}

export type { FailMode, SyncOptions };
