import { z } from 'zod';

/**
 * The connection file of a running local mesh (`.mesh/<name>/mesh.json`), written by the launcher
 * in regions/launcher and read by edges, the core, tests and benchmarks.
 */

export const ProcessInfoSchema = z.object({
  /** e.g. `redis seoul/2`, `kafka core/1`, `mirrormaker`. */
  service: z.string(),
  pid: z.number().int(),
  ports: z.array(z.number().int()),
  log: z.string(),
});
export type ProcessInfo = z.infer<typeof ProcessInfoSchema>;

export const RedisNodeInfoSchema = z.object({
  host: z.string(),
  port: z.number().int(),
  busPort: z.number().int(),
  pid: z.number().int(),
});

export const RedisInfoSchema = z.object({
  nodes: z.array(RedisNodeInfoSchema),
});
export type RedisInfo = z.infer<typeof RedisInfoSchema>;

export const KafkaBrokerInfoSchema = z.object({
  nodeId: z.number().int(),
  host: z.string(),
  port: z.number().int(),
  controllerPort: z.number().int(),
  pid: z.number().int(),
});

export const KafkaInfoSchema = z.object({
  clusterId: z.string(),
  /** host:port,host:port — kafkajs `brokers` or Java `bootstrap.servers`. */
  bootstrap: z.string(),
  brokers: z.array(KafkaBrokerInfoSchema),
  replicationFactor: z.number().int(),
  minInsyncReplicas: z.number().int(),
  topics: z.array(z.string()),
});
export type KafkaInfo = z.infer<typeof KafkaInfoSchema>;

export const RegionInfoSchema = z.object({
  id: z.string(),
  name: z.string(),
  kind: z.enum(['region', 'core']),
  index: z.number().int(),
  edges: z.number().int(),
  /** First port of this region's block: edges and core services take theirs from it. */
  portBlock: z.number().int(),
  redis: RedisInfoSchema.nullable(),
  kafka: KafkaInfoSchema.nullable(),
});
export type RegionInfo = z.infer<typeof RegionInfoSchema>;

export const MeshInfoSchema = z.object({
  version: z.literal(1),
  name: z.string(),
  dir: z.string(),
  portBase: z.number().int(),
  launcherPid: z.number().int(),
  startedAt: z.string(),
  /** Regions and the core, by id. */
  regions: z.record(z.string(), RegionInfoSchema),
  core: z.string().nullable(),
  mirrorMaker: z
    .object({
      pid: z.number().int(),
      flows: z.array(z.object({ source: z.string(), target: z.string() })),
      log: z.string(),
    })
    .nullable(),
  processes: z.array(ProcessInfoSchema),
});
export type MeshInfo = z.infer<typeof MeshInfoSchema>;
