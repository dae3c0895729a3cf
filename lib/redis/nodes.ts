/**
 * The edges' heartbeat records in their region's Redis Cluster: written by each edge
 * (edge/routing/NodeRegistry), read by placement there and by the core (core/regions/RegionNodes).
 * All keys share the `{nodes:<region>}` hash tag, so the set and the records live in one slot.
 */

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

/** The sorted set of a region's node ids, scored by their last heartbeat. */
export function liveNodesKey(region: string): string {
  return `{nodes:${region}}:live`;
}

/** One node's record (JSON). */
export function nodeKey(region: string, id: string): string {
  return `{nodes:${region}}:node:${id}`;
}

/** The records (as MGET answered them) that heartbeated since `since`. */
export function liveRecords(raws: readonly (string | null)[], since: number): NodeRecord[] {
  return raws
    .filter((r): r is string => r !== null)
    .map((r) => JSON.parse(r) as NodeRecord)
    .filter((r) => r.lastSeen >= since);
}
