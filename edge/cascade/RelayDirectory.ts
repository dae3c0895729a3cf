import type { Cluster } from 'ioredis';
import { roomKey } from '../../lib/redis';

/** Deletes or extends the key only while it still names the caller (no one else's claim is touched). */
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;
const REFRESH = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;

export type RelayClaim = {
  /** The node that relays the track into this region. */
  relay: string;
  /** True when that is the caller (it pipes from the origin; the others pipe from it). */
  mine: boolean;
};

/**
 * Which edge of a region relays a remote track into it: the first edge that needs the track claims it
 * (SET NX with a lease time) and pipes it from the origin; every other edge of the region pipes it from
 * that relay (PipeManager.acquire with `source` = relay, `origin` = owner). The relay refreshes its claim
 * while it holds the copy and releases it when it lets go; a relay that dies stops refreshing and its
 * claim expires, so the next edge that asks becomes the relay. Keys live in the region's Redis Cluster
 * under the room's hash tag: `room:{<room>}:relay:<region>:<producerId>`.
 */
export class RelayDirectory {
  readonly #redis: Cluster;
  readonly #region: string;
  readonly #ttlMs: number;

  constructor(redis: Cluster, region: string, options: { ttlMs?: number } = {}) {
    this.#redis = redis;
    this.#region = region;
    this.#ttlMs = options.ttlMs ?? 15_000;
  }

  /** The relay for this track in this region, claiming it for `node` when no edge does yet. */
  async claim(room: string, producerId: string, node: string): Promise<RelayClaim> {
    const key = this.#key(room, producerId);
    for (let attempt = 0; attempt < 3; attempt++) {
      const set = await this.#redis.set(key, node, 'PX', this.#ttlMs, 'NX');
      if (set === 'OK') return { relay: node, mine: true };
      const holder = await this.#redis.get(key);
      // Expired between the two calls: try to claim it again.
      if (holder) return { relay: holder, mine: holder === node };
    }
    throw new Error(`relay claim for ${producerId} in room ${room} kept expiring`);
  }

  /** Who relays the track now (undefined: nobody; the next claim() makes its caller the relay). */
  async relayOf(room: string, producerId: string): Promise<string | undefined> {
    return (await this.#redis.get(this.#key(room, producerId))) ?? undefined;
  }

  /** Extends `node`'s claim; false when it no longer holds it (expired, or another edge took over). */
  async refresh(room: string, producerId: string, node: string): Promise<boolean> {
    const done = await this.#redis.eval(REFRESH, 1, this.#key(room, producerId), node, String(this.#ttlMs));
    return done === 1;
  }

  /** Gives up `node`'s claim (it stopped piping the track); someone else's claim is left alone. */
  async release(room: string, producerId: string, node: string): Promise<void> {
    await this.#redis.eval(RELEASE, 1, this.#key(room, producerId), node);
  }

  #key(room: string, producerId: string): string {
    return roomKey(room, 'relay', this.#region, producerId);
  }
}
