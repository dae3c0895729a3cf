import type { Cluster } from 'ioredis';
import { liveNodesKey, liveRecords, NODE_TTL_MS, type NodeRecord, nodeKey } from '../../lib/redis';

export type { NodeRecord };

/**
 * The edges of one region and their load, in the region's Redis Cluster. Each edge writes its record
 * every heartbeat; placement reads the live ones. All keys share the `{nodes:<region>}` hash tag so the
 * set and the records live in one slot.
 */
export class NodeRegistry {
  readonly #redis: Cluster;
  readonly #region: string;

  constructor(redis: Cluster, region: string) {
    this.#redis = redis;
    this.#region = region;
  }

  #liveKey(): string {
    return liveNodesKey(this.#region);
  }

  #nodeKey(id: string): string {
    return nodeKey(this.#region, id);
  }

  async heartbeat(record: Omit<NodeRecord, 'lastSeen' | 'region'>): Promise<void> {
    const now = Date.now();
    const full: NodeRecord = { ...record, region: this.#region, lastSeen: now };
    await this.#redis
      .multi()
      .zadd(this.#liveKey(), now, record.id)
      .set(this.#nodeKey(record.id), JSON.stringify(full), 'PX', NODE_TTL_MS * 4)
      .exec();
  }

  /** Removes this node at once (orderly shutdown), so nothing is placed on it while it stops. */
  async remove(id: string): Promise<void> {
    await this.#redis.multi().zrem(this.#liveKey(), id).del(this.#nodeKey(id)).exec();
  }

  async get(id: string): Promise<NodeRecord | undefined> {
    const raw = await this.#redis.get(this.#nodeKey(id));
    if (!raw) return undefined;
    const rec = JSON.parse(raw) as NodeRecord;
    return Date.now() - rec.lastSeen <= NODE_TTL_MS ? rec : undefined;
  }

  /** The nodes that heartbeated within NODE_TTL_MS. */
  async live(): Promise<NodeRecord[]> {
    const since = Date.now() - NODE_TTL_MS;
    // Old members are dropped here too, so the set does not grow with every restart.
    const [, ids] = (await this.#redis
      .multi()
      .zremrangebyscore(this.#liveKey(), 0, since - NODE_TTL_MS * 10)
      .zrangebyscore(this.#liveKey(), since, '+inf')
      .exec()) as [[Error | null, number], [Error | null, string[]]];
    const members = ids[1] ?? [];
    if (members.length === 0) return [];
    return liveRecords(await this.#redis.mget(...members.map((id) => this.#nodeKey(id))), since);
  }

  /** Where a new room should go: the live, non-draining node with the least load. */
  async pickLeastLoaded(): Promise<NodeRecord | undefined> {
    const nodes = (await this.live()).filter((n) => !n.draining);
    nodes.sort((a, b) => loadScore(a) - loadScore(b) || a.id.localeCompare(b.id));
    return nodes[0];
  }
}

/** Participants dominate the cost of a node; rooms and tracks break ties. */
export function loadScore(n: Pick<NodeRecord, 'participants' | 'rooms' | 'tracks'>): number {
  return n.participants * 10 + n.tracks * 2 + n.rooms;
}
