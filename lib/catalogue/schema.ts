import { z } from 'zod';

/** A region id: lower-case letters, digits and hyphens; no dot, since `<region>.<topic>` names mirrored topics. */
export const RegionId = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,30}$/, 'region id: lower-case letters, digits, hyphens; starts with a letter');

export const RegionSpecSchema = z
  .object({
    id: RegionId,
    name: z.string().min(1),
    kind: z.enum(['region', 'core']),
    /** Position in the port plan: the region's ports start at portBase + index * PORTS_PER_REGION. */
    index: z.number().int().min(0).max(9),
    location: z.object({ lat: z.number().min(-90).max(90), lon: z.number().min(-180).max(180) }).optional(),
    /** Edge nodes the local mesh runs in this region. */
    edges: z.number().int().min(0).max(8).default(1),
    /** A regional Redis Cluster; absent for the core. */
    redis: z
      .object({
        masters: z.number().int().min(3).max(8).default(3),
        replicasPerMaster: z.number().int().min(0).max(2).default(1),
      })
      .optional(),
    kafka: z.object({
      /** 1 = a single KRaft broker+controller; 3 = a cluster with replication factor 3, min ISR 2. */
      brokers: z.union([z.literal(1), z.literal(3)]).default(1),
    }),
  })
  .strict();

export type RegionSpec = z.infer<typeof RegionSpecSchema>;

export const FlowSchema = z.object({ source: RegionId, target: RegionId }).strict();
export type Flow = z.infer<typeof FlowSchema>;

export const TopologySchema = z
  .object({
    $comment: z.string().optional(),
    flows: z.array(FlowSchema),
  })
  .strict();
export type Topology = z.infer<typeof TopologySchema>;
