/**
 * Registered clusters in Cosmos DB. Cluster documents share the logical partition 'cluster'
 * (unique lower-cased names, a single-partition listing); each webhook token hash has a
 * one-document partition of its own mapping it to its cluster, so the webhook's lookup is
 * two point reads. The cluster document is the authority: a token document whose cluster
 * no longer carries that hash (a rotation or deletion cut short) matches nothing.
 */
import type { Container } from '@azure/cosmos';
import { z } from 'zod';
import { type ClusterRecord, ClusterSchema } from '../../../core/domain.js';
import { NotFoundError } from '../../../core/errors.js';
import type { ClusterRegistry } from '../../../core/ports.js';
import { casBackoff } from './bulk.js';
import {
  docId,
  errorCode,
  guard,
  parseDoc,
  queryDocs,
  readDoc,
  sql,
  translateError,
  type Versioned,
} from './support.js';

const PK = 'cluster';
const tokenPk = (hash: string) => `token|${hash}`;

const ClusterDoc = z.object({ tokenHash: z.string(), cluster: ClusterSchema });
type ClusterDoc = z.infer<typeof ClusterDoc>;
const TokenDoc = z.object({ clusterId: z.string() });

function toRecord(doc: ClusterDoc): ClusterRecord {
  return { ...doc.cluster, tokenHash: doc.tokenHash };
}

function toDoc(record: ClusterRecord) {
  const { tokenHash, ...cluster } = record;
  return { id: docId(record.id), pk: PK, nameKey: record.name.toLowerCase(), tokenHash, cluster };
}

/** The `ClusterRegistry` port over the `clusters` container. */
export class CosmosClusterRegistry implements ClusterRegistry {
  constructor(private readonly container: Container) {}

  /**
   * Registers a cluster: its token document first (harmless if the cluster write then
   * fails), then the cluster document, whose unique name key rejects a duplicate.
   */
  async create(cluster: ClusterRecord): Promise<void> {
    const conflict = `a cluster named "${cluster.name}" already exists`;
    await guard(() => this.container.items.create(this.tokenDoc(cluster.tokenHash, cluster.id)), {
      conflict,
    });
    try {
      await guard(() => this.container.items.create(toDoc(cluster)), { conflict });
    } catch (e) {
      await this.dropToken(cluster.tokenHash);
      throw e;
    }
  }

  /** Every cluster, ordered by name. */
  async list(): Promise<ClusterRecord[]> {
    const docs = await queryDocs(
      this.container,
      sql('SELECT c.tokenHash, c.cluster FROM c WHERE c.pk = @pk ORDER BY c.nameKey', { pk: PK }),
      { partitionKey: PK },
    );
    return docs.map((d) => toRecord(parseDoc(ClusterDoc, d, this.container.id)));
  }

  /** The cluster with this id (a point read), or null. */
  async get(id: string): Promise<ClusterRecord | null> {
    const found = await this.read(id);
    return found === null ? null : toRecord(found.doc);
  }

  /** The cluster with this name (case-insensitive), or null. */
  async getByName(name: string): Promise<ClusterRecord | null> {
    const [doc] = await queryDocs(
      this.container,
      sql('SELECT c.tokenHash, c.cluster FROM c WHERE c.pk = @pk AND c.nameKey = @name', {
        pk: PK,
        name: name.toLowerCase(),
      }),
      { partitionKey: PK, max: 1 },
    );
    return doc === undefined ? null : toRecord(parseDoc(ClusterDoc, doc, this.container.id));
  }

  /** The cluster whose webhook token hashes to `tokenHash` (two point reads), or null. */
  async findByTokenHash(tokenHash: string): Promise<ClusterRecord | null> {
    const token = await readDoc(this.container, docId(tokenHash), tokenPk(tokenHash));
    if (token === null) return null;
    const { clusterId } = parseDoc(TokenDoc, token.doc, this.container.id);
    const cluster = await this.read(clusterId);
    return cluster !== null && cluster.doc.tokenHash === tokenHash ? toRecord(cluster.doc) : null;
  }

  /**
   * Rotates the token: the new token document, then the cluster document under its ETag
   * (the moment the old token stops matching), then the old token document is dropped.
   */
  async setTokenHash(id: string, tokenHash: string, rotatedAt: string): Promise<void> {
    await guard(() => this.container.items.upsert(this.tokenDoc(tokenHash, id)));
    for (let attempt = 0; ; attempt++) {
      const current = await this.read(id);
      if (current === null) {
        await this.dropToken(tokenHash);
        throw new NotFoundError(`cluster ${id} not found`);
      }
      const next = { ...toRecord(current.doc), tokenHash, tokenRotatedAt: rotatedAt };
      try {
        await this.container
          .item(docId(id), PK)
          .replace(toDoc(next), { accessCondition: { type: 'IfMatch', condition: current.etag } });
      } catch (e) {
        // Another rotation got there first: read again and apply ours on top.
        if ((errorCode(e) === 412 || errorCode(e) === 404) && attempt < 8) {
          await casBackoff(attempt);
          continue;
        }
        translateError(e, { notFound: `cluster ${id} not found` });
      }
      if (current.doc.tokenHash !== tokenHash) await this.dropToken(current.doc.tokenHash);
      return;
    }
  }

  /** Deregisters a cluster; its token stops matching at once. NotFoundError when it is gone. */
  async delete(id: string): Promise<void> {
    const current = await this.read(id);
    if (current === null) throw new NotFoundError(`cluster ${id} not found`);
    await guard(() => this.container.item(docId(id), PK).delete(), { notFound: `cluster ${id} not found` });
    await this.dropToken(current.doc.tokenHash);
  }

  private tokenDoc(tokenHash: string, clusterId: string) {
    return { id: docId(tokenHash), pk: tokenPk(tokenHash), clusterId };
  }

  /** Best effort: a token document left behind matches nothing (see findByTokenHash). */
  private async dropToken(tokenHash: string): Promise<void> {
    try {
      await this.container.item(docId(tokenHash), tokenPk(tokenHash)).delete();
    } catch {
      // Left for a later rotation or deletion; never a match on its own.
    }
  }

  private async read(id: string): Promise<Versioned<ClusterDoc> | null> {
    const found = await readDoc(this.container, docId(id), PK);
    return found === null
      ? null
      : { doc: parseDoc(ClusterDoc, found.doc, this.container.id), etag: found.etag };
  }
}
