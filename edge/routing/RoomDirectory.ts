import type { Cluster } from 'ioredis';
import { roomKey } from '../../lib/redis';
import type { ParticipantInfo, TrackInfo } from '../../proto/signaling/messages';

/** How long a room's home claim lives without being refreshed by its node's heartbeat. */
export const HOME_TTL_MS = 15_000;

// Set the home to `node` when it is unset or still held by `expected` (a node found dead).
const CLAIM_SCRIPT = `
local cur = redis.call('GET', KEYS[1])
if cur == false or cur == ARGV[2] or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
  return ARGV[1]
end
return cur`;

// Delete the home only if this node still holds it.
const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

export interface StoredTrack extends TrackInfo {
  node: string;
}

/**
 * A region's view of its rooms, in the regional Redis Cluster: which node is a room's home in this
 * region, who is in it and what they publish. Keys are hash-tagged by room (`room:{<room>}:…`), so one
 * room's keys share a slot and a MULTI on them is atomic.
 */
export class RoomDirectory {
  readonly #redis: Cluster;

  constructor(redis: Cluster) {
    this.#redis = redis;
  }

  async home(room: string): Promise<string | undefined> {
    return (await this.#redis.get(roomKey(room, 'home'))) ?? undefined;
  }

  /**
   * Makes `node` the room's home unless another node holds it; `replacing` names a holder known to be
   * gone, whose claim may be taken over. Returns the node that holds the home afterwards.
   */
  async claimHome(room: string, node: string, replacing = ''): Promise<string> {
    return (await this.#redis.eval(
      CLAIM_SCRIPT,
      1,
      roomKey(room, 'home'),
      node,
      replacing,
      HOME_TTL_MS,
    )) as string;
  }

  /** Extends this node's claim on its rooms; called from the node's heartbeat. */
  async refreshHomes(rooms: readonly string[]): Promise<void> {
    await Promise.all(rooms.map((room) => this.#redis.pexpire(roomKey(room, 'home'), HOME_TTL_MS)));
  }

  async releaseHome(room: string, node: string): Promise<void> {
    await this.#redis.eval(RELEASE_SCRIPT, 1, roomKey(room, 'home'), node);
  }

  async putParticipant(room: string, p: ParticipantInfo): Promise<void> {
    await this.#redis.hset(roomKey(room, 'participants'), p.identity, JSON.stringify(p));
  }

  /** Removes a participant and the tracks it published, atomically. */
  async removeParticipant(room: string, identity: string, producerIds: readonly string[]): Promise<void> {
    const tx = this.#redis.multi().hdel(roomKey(room, 'participants'), identity);
    if (producerIds.length > 0) tx.hdel(roomKey(room, 'tracks'), ...producerIds);
    await tx.exec();
  }

  async putTrack(room: string, track: StoredTrack): Promise<void> {
    await this.#redis.hset(roomKey(room, 'tracks'), track.producerId, JSON.stringify(track));
  }

  async removeTrack(room: string, producerId: string): Promise<void> {
    await this.#redis.hdel(roomKey(room, 'tracks'), producerId);
  }
}
