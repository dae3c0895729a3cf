export { createRedisCluster, FAILOVER_SAFE_OPTIONS, type RedisNodeAddress } from './cluster';
export { assertRoomId, roomKey, roomTag } from './keys';
export { liveNodesKey, liveRecords, NODE_TTL_MS, type NodeRecord, nodeKey } from './nodes';
