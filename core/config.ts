import { KeySet } from '../lib/auth/keys';
import { loadCatalogue } from '../lib/catalogue';
import { meshKafkaBrokers, meshRedisNodes, readMeshInfo } from '../lib/mesh';
import type { RedisNodeAddress } from '../lib/redis';
import type { Region } from '../proto/gen/meetview/admin/v1/admin';
import { ApiKeys } from './auth/ApiKeys';

export interface AdminConfig {
  /** Names this process (its Kafka client id and consumer group). */
  nodeId: string;
  host: string;
  /** 0: any free port. */
  port: number;
  keys: ApiKeys;
  /** Signs participant tokens (CreateToken) and internal tokens for the edges. */
  tokenKeys: KeySet;
  /** The core region's Kafka, where MirrorMaker 2 mirrors every region's room events. */
  coreKafka: string[];
  /** Every region with edges, and its Redis Cluster (where the edges heartbeat). */
  regions: { id: string; redis: RedisNodeAddress[] }[];
  /** What ListRegions answers: the regions and the core. */
  catalogue: Region[];
}

/**
 * The Admin API's configuration from the environment: MEETVIEW_ADMIN_KEYS, MEETVIEW_TOKEN_KEYS,
 * MEETVIEW_ADMIN_HOST/PORT, and where the regions are: the local mesh's connection file
 * (MEETVIEW_MESH_FILE), or MEETVIEW_CORE_KAFKA="host:port,…" with
 * MEETVIEW_REGION_REDIS="seoul=host:port,host:port;frankfurt=…".
 */
export function loadAdminConfig(env: NodeJS.ProcessEnv = process.env): AdminConfig {
  const port = Number(env.MEETVIEW_ADMIN_PORT ?? 0);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`MEETVIEW_ADMIN_PORT must be a port number, not "${env.MEETVIEW_ADMIN_PORT}"`);
  const base = {
    nodeId: env.MEETVIEW_NODE_ID ?? 'core-admin-1',
    host: env.MEETVIEW_ADMIN_HOST ?? '127.0.0.1',
    port,
    keys: ApiKeys.fromEnv(env),
    tokenKeys: KeySet.fromEnv(env),
  };
  if (env.MEETVIEW_MESH_FILE) {
    const info = readMeshInfo(env.MEETVIEW_MESH_FILE);
    if (!info.core) throw new Error(`mesh ${info.name} runs no core region: the Admin API needs its Kafka`);
    const all = Object.values(info.regions).sort((a, b) => a.index - b.index);
    return {
      ...base,
      coreKafka: meshKafkaBrokers(info, info.core),
      regions: all
        .filter((r) => r.kind === 'region' && r.redis)
        .map((r) => ({ id: r.id, redis: meshRedisNodes(info, r.id) })),
      catalogue: all.map((r) => ({ id: r.id, displayName: r.name, kind: r.kind })),
    };
  }
  if (!env.MEETVIEW_CORE_KAFKA || !env.MEETVIEW_REGION_REDIS)
    throw new Error(
      'say where the regions are: MEETVIEW_MESH_FILE (local mesh), or MEETVIEW_CORE_KAFKA and MEETVIEW_REGION_REDIS',
    );
  const regions = env.MEETVIEW_REGION_REDIS.split(';')
    .filter(Boolean)
    .map((entry) => {
      const [id, nodes] = entry.split('=');
      if (!id || !nodes)
        throw new Error(`MEETVIEW_REGION_REDIS entry "${entry}" must be "<region>=host:port,…"`);
      return {
        id,
        redis: nodes.split(',').map((hp) => {
          const [host, p] = hp.split(':');
          if (!host || !Number(p)) throw new Error(`MEETVIEW_REGION_REDIS: "${hp}" is not host:port`);
          return { host, port: Number(p) };
        }),
      };
    });
  const catalogue = loadCatalogue();
  return {
    ...base,
    coreKafka: env.MEETVIEW_CORE_KAFKA.split(','),
    regions,
    catalogue: catalogue.all.map((r) => ({ id: r.id, displayName: r.name, kind: r.kind })),
  };
}
