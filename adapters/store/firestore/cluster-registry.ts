/**
 * Registered clusters in Firestore: `clusters/{id}`, a name lock `clusterNames/{name}` and a
 * token lookup `clusterTokens/{token SHA-256}` that carries a copy of the cluster, so the
 * webhook authenticates every call with one point read. The three change together in atomic
 * commits guarded by the cluster's `updateTime`.
 */
import type { DocumentSnapshot, WriteBatch } from '@google-cloud/firestore';
import { z } from 'zod';
import { type Cluster, type ClusterRecord, ClusterSchema } from '../../../core/domain.js';
import { NotFoundError, UnavailableError } from '../../../core/errors.js';
import type { ClusterRegistry } from '../../../core/ports.js';
import { Code, docId, type FirestoreContext, grpcCode, parseDoc, plain, translateError } from './client.js';
import { buildQuery, CLUSTER_BY_NAME_SHAPE } from './query-shapes.js';

const ClusterDoc = z.object({ nameKey: z.string(), tokenHash: z.string(), doc: ClusterSchema });
const TokenDoc = z.object({ clusterId: z.string(), doc: ClusterSchema });

/** Attempts of a rotation or deletion when the cluster keeps changing underneath it. */
const WRITE_ATTEMPTS = 5;

/** The `ClusterRegistry` port over `clusters`, `clusterNames` and `clusterTokens`. */
export class FirestoreClusterRegistry implements ClusterRegistry {
  constructor(private readonly ctx: FirestoreContext) {}

  /** Registers a cluster; ConflictError when its id, name or token hash is taken. */
  async create(cluster: ClusterRecord): Promise<void> {
    const { tokenHash, ...rest } = cluster;
    const doc = plain<Cluster>(rest);
    const nameKey = cluster.name.toLowerCase();
    const batch = this.ctx.db.batch();
    batch.create(this.ref(cluster.id), { nameKey, tokenHash, doc });
    batch.create(this.col('clusterNames').doc(docId(nameKey)), { clusterId: cluster.id });
    batch.create(this.tokenRef(tokenHash), { clusterId: cluster.id, doc });
    await this.ctx.call('clusters.create', () => batch.commit(), {
      conflict: `a cluster named "${cluster.name}"`,
    });
  }

  /** Every cluster, ordered by name. */
  async list(): Promise<ClusterRecord[]> {
    const snap = await this.ctx.call('clusters.list', () => this.col('clusters').get());
    return snap.docs
      .map((d) => parseDoc(ClusterDoc, d.data(), d.ref.path))
      .sort((a, b) => (a.nameKey < b.nameKey ? -1 : a.nameKey > b.nameKey ? 1 : 0))
      .map(toRecord);
  }

  /** The cluster with this id, or null. */
  async get(id: string): Promise<ClusterRecord | null> {
    const snap = await this.read(id);
    return snap.exists ? toRecord(this.parse(snap)) : null;
  }

  /** The cluster with this name (case-insensitive), or null. */
  async getByName(name: string): Promise<ClusterRecord | null> {
    const query = buildQuery(this.col('clusters'), CLUSTER_BY_NAME_SHAPE, { nameKey: name.toLowerCase() });
    const snap = await this.ctx.call('clusters.getByName', () => query.limit(1).get());
    const doc = snap.docs[0];
    return doc === undefined ? null : toRecord(parseDoc(ClusterDoc, doc.data(), doc.ref.path));
  }

  /** The cluster whose webhook token hashes to `tokenHash`, or null: one point read. */
  async findByTokenHash(tokenHash: string): Promise<ClusterRecord | null> {
    const snap = await this.ctx.call('clusters.findByTokenHash', () => this.tokenRef(tokenHash).get());
    if (!snap.exists) return null;
    return { ...parseDoc(TokenDoc, snap.data(), snap.ref.path).doc, tokenHash };
  }

  /** Rotates the token hash; the old token stops working at once. NotFoundError when gone. */
  async setTokenHash(id: string, tokenHash: string, rotatedAt: string): Promise<void> {
    await this.guarded(id, (snap, stored, batch) => {
      const doc = { ...stored.doc, tokenRotatedAt: rotatedAt };
      batch.update(this.ref(id), { tokenHash, doc }, { lastUpdateTime: snap.updateTime! });
      if (stored.tokenHash !== tokenHash) batch.delete(this.tokenRef(stored.tokenHash));
      batch.set(this.tokenRef(tokenHash), { clusterId: id, doc });
    });
  }

  /** Deregisters a cluster with its name lock and token lookup; NotFoundError when gone. */
  async delete(id: string): Promise<void> {
    await this.guarded(id, (snap, stored, batch) => {
      batch.delete(this.ref(id), { lastUpdateTime: snap.updateTime! });
      batch.delete(this.col('clusterNames').doc(docId(stored.nameKey)));
      batch.delete(this.tokenRef(stored.tokenHash));
    });
  }

  /**
   * Reads the cluster, lets `write` fill a batch conditioned on what was read, and commits;
   * re-reads and tries again when the cluster changed in between (a concurrent rotation).
   */
  private async guarded(
    id: string,
    write: (snap: DocumentSnapshot, stored: z.infer<typeof ClusterDoc>, batch: WriteBatch) => void,
  ): Promise<void> {
    for (let attempt = 1; attempt <= WRITE_ATTEMPTS; attempt++) {
      const snap = await this.read(id);
      if (!snap.exists) throw new NotFoundError(`cluster ${id} not found`);
      const batch = this.ctx.db.batch();
      write(snap, this.parse(snap), batch);
      try {
        await this.ctx.timed('clusters.write', () => batch.commit());
        return;
      } catch (e) {
        const code = grpcCode(e);
        if (code !== Code.FAILED_PRECONDITION && code !== Code.NOT_FOUND) translateError(e);
      }
    }
    throw new UnavailableError(`cluster ${id} kept changing during the write; try again`);
  }

  private read(id: string): Promise<DocumentSnapshot> {
    return this.ctx.call('clusters.get', () => this.ref(id).get());
  }

  private parse(snap: DocumentSnapshot): z.infer<typeof ClusterDoc> {
    return parseDoc(ClusterDoc, snap.data(), snap.ref.path);
  }

  private col(id: 'clusters' | 'clusterNames' | 'clusterTokens') {
    return this.ctx.col(id);
  }

  private ref(id: string) {
    return this.col('clusters').doc(docId(id));
  }

  private tokenRef(tokenHash: string) {
    return this.col('clusterTokens').doc(docId(tokenHash));
  }
}

function toRecord(stored: z.infer<typeof ClusterDoc>): ClusterRecord {
  return { ...stored.doc, tokenHash: stored.tokenHash };
}
