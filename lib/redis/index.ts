export { createRedisCluster, FAILOVER_SAFE_OPTIONS, type RedisNodeAddress } from './cluster';
export { assertRoomId, roomKey, roomTag } from './keys';
