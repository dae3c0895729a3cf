import type { Cluster } from 'ioredis';
import {
  createRedisCluster,
  liveNodesKey,
  liveRecords,
  NODE_TTL_MS,
  type NodeRecord,
  nodeKey,
  type RedisNodeAddress,
  roomKey,
} from '../../lib/redis';

export type { NodeRecord };

/**
 * The core's read-only view of every region's edges, from the regions' Redis Clusters (the region
 * catalogue and the mesh file say where they are). Owns one Redis client per region.
 */
export class RegionNodes {
  readonly #clients = new Map<string, Cluster>();

  constructor(regions: { id: string; redis: readonly RedisNodeAddress[] }[]) {
    for (const r of regions) this.#clients.set(r.id, createRedisCluster(r.redis));
  }

  get regions(): string[] {
    return [...this.#clients.keys()];
  }

  hasRegion(id: string): boolean {
    return this.#clients.has(id);
  }

  /** The live nodes of a region (all regions when omitted), ordered by region then id. */
  async live(region?: string): Promise<NodeRecord[]> {
    const ids = region ? [region] : this.regions;
    const lists = await Promise.all(ids.map((id) => this.#live(id)));
    return lists.flat().sort((a, b) => a.region.localeCompare(b.region) || a.id.localeCompare(b.id));
  }

  async find(nodeId: string): Promise<NodeRecord | undefined> {
    return (await this.live()).find((n) => n.id === nodeId);
  }

  /** The node each region has as the room's home (the edge that hosts it there), where there is one. */
  async homes(room: string): Promise<string[]> {
    const homes = await Promise.all(
      [...this.#clients.values()].map((c) => c.get(roomKey(room, 'home')).catch(() => null)),
    );
    return homes.filter((h): h is string => typeof h === 'string' && h.length > 0);
  }

  close(): void {
    for (const c of this.#clients.values()) c.disconnect();
    this.#clients.clear();
  }

  async #live(region: string): Promise<NodeRecord[]> {
    const redis = this.#clients.get(region)!;
    const since = Date.now() - NODE_TTL_MS;
    const ids = await redis.zrangebyscore(liveNodesKey(region), since, '+inf');
    if (ids.length === 0) return [];
    return liveRecords(await redis.mget(...ids.map((id) => nodeKey(region, id))), since);
  }
}
