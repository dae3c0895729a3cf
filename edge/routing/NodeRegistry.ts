import type { Cluster } from 'ioredis';

/** What an edge publishes about itself every heartbeat. */
export interface NodeRecord {
  id: string;
  region: string;
  /** Base HTTP URL of the edge, e.g. http://127.0.0.1:21100. */
  url: string;
  /** host:port of the edge's internal gRPC server (Cascade, Control). */
  internal: string;
  draining: boolean;
  rooms: number;
  participants: number;
  tracks: number;
  lastSeen: number;
}

/** A node whose heartbeat is older than this is considered gone. */
export const NODE_TTL_MS = 5_000;

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
    return `{nodes:${this.#region}}:live`;
  }

  #nodeKey(id: string): string {
    return `{nodes:${this.#region}}:node:${id}`;
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
    const raws = await this.#redis.mget(...members.map((id) => this.#nodeKey(id)));
    return raws
      .filter((r): r is string => r !== null)
      .map((r) => JSON.parse(r) as NodeRecord)
      .filter((r) => r.lastSeen >= since);
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
