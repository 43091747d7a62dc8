/**
 * Cluster registration: a webhook token issued once (stored as a hash), the webhook URL and a
 * ready ValidatingWebhookConfiguration; token rotation and revocation.
 */
import { TtlCache } from '../cache.js';
import { type Cluster, ClusterInputSchema, type ClusterRecord } from '../domain.js';
import { NotFoundError } from '../errors.js';
import type { Clock, ClusterRegistry, Logger } from '../ports.js';
import { hashSecret, newId, newSecret } from '../secrets.js';
import { parseInput } from '../validation.js';

/** Where the webhook is served, as the cluster's API server must reach it. */
export interface WebhookEndpoint {
  /** Base URL, e.g. `https://portcullis.example.com` — the token path is appended. */
  baseUrl: string;
  caBundlePem?: string;
}

export interface ClusterRegistration extends Cluster {
  token: string;
  webhookUrl: string;
  webhookConfiguration: string;
}

export class ClusterService {
  private readonly byToken: TtlCache<string, ClusterRecord | null>;

  constructor(
    private readonly registry: ClusterRegistry,
    private readonly clock: Clock,
    private readonly logger: Logger,
    cacheTtlMs: number,
  ) {
    this.byToken = new TtlCache(cacheTtlMs, 10_000, clock);
  }

  async register(body: unknown, actor: string, endpoint: WebhookEndpoint): Promise<ClusterRegistration> {
    const input = parseInput(ClusterInputSchema, body, 'cluster');
    const token = newSecret('pct_');
    const now = this.clock.now().toISOString();
    const record: ClusterRecord = {
      id: newId(),
      name: input.name,
      provider: input.provider,
      account: input.account,
      failurePolicy: input.failurePolicy,
      timeoutSeconds: input.timeoutSeconds,
      createdAt: now,
      createdBy: actor,
      tokenRotatedAt: now,
      tokenHash: await hashSecret(token),
    };
    await this.registry.create(record);
    this.logger.info('cluster registered', { cluster: record.name, id: record.id, actor });
    return this.registration(record, token, endpoint);
  }

  async list(): Promise<Cluster[]> {
    return (await this.registry.list()).map(publicCluster);
  }

  async get(id: string): Promise<Cluster> {
    return publicCluster(await this.record(id));
  }

  async getByName(name: string): Promise<Cluster | null> {
    const record = await this.registry.getByName(name);
    return record === null ? null : publicCluster(record);
  }

  /** Revokes a cluster: its token stops working at once on this instance. */
  async revoke(id: string, actor: string): Promise<void> {
    await this.registry.delete(id);
    this.byToken.clear();
    this.logger.info('cluster revoked', { id, actor });
  }

  /** Issues a new token; the old one stops working. */
  async rotateToken(id: string, actor: string, endpoint: WebhookEndpoint): Promise<ClusterRegistration> {
    const record = await this.record(id);
    const token = newSecret('pct_');
    const now = this.clock.now().toISOString();
    const tokenHash = await hashSecret(token);
    await this.registry.setTokenHash(id, tokenHash, now);
    this.byToken.clear();
    this.logger.info('cluster token rotated', { cluster: record.name, id, actor });
    return this.registration({ ...record, tokenHash, tokenRotatedAt: now }, token, endpoint);
  }

  /** The cluster a webhook token belongs to, or null. */
  async authenticate(token: string): Promise<Cluster | null> {
    if (!/^pct_[A-Za-z0-9_-]{43}$/.test(token)) return null;
    // Keyed by the token itself: hashing it is the costly part of a cache hit.
    const record = await this.byToken.getOrLoad(token, async () =>
      this.registry.findByTokenHash(await hashSecret(token)),
    );
    return record === null ? null : publicCluster(record);
  }

  private async record(id: string): Promise<ClusterRecord> {
    const record = await this.registry.get(id);
    if (record === null) throw new NotFoundError(`cluster ${id} not found`);
    return record;
  }

  private async registration(
    record: ClusterRecord,
    token: string,
    endpoint: WebhookEndpoint,
  ): Promise<ClusterRegistration> {
    const webhookUrl = `${endpoint.baseUrl.replace(/\/+$/, '')}/admission/${token}`;
    // Loaded on registration and rotation only: the webhook authenticates through this service,
    // and its bundle (Azure's, Google's) need not carry the YAML writer.
    const { webhookConfigurationYaml } = await import('../webhook-config.js');
    return {
      ...publicCluster(record),
      token,
      webhookUrl,
      webhookConfiguration: webhookConfigurationYaml({
        cluster: record,
        url: webhookUrl,
        caBundlePem: endpoint.caBundlePem,
      }),
    };
  }
}

function publicCluster(record: ClusterRecord): Cluster {
  const { tokenHash: _hash, ...cluster } = record;
  return cluster;
}
