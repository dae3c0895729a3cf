import type { SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace';
import { z } from 'zod';
import { readMeshInfo } from '../lib/mesh';
import { type FilesConfig, loadFilesConfig } from './files/filesConfig';

/**
 * An edge node's configuration, from the environment. In the local mesh the launcher sets
 * MEETVIEW_MESH_FILE and the Redis nodes come from there; elsewhere MEETVIEW_REDIS_NODES lists them.
 */
const EnvSchema = z.object({
  MEETVIEW_REGION: z.string().regex(/^[a-z][a-z0-9-]{0,30}$/),
  MEETVIEW_NODE_ID: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/)
    .optional(),
  MEETVIEW_HTTP_HOST: z.string().default('127.0.0.1'),
  MEETVIEW_HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  MEETVIEW_PUBLIC_URL: z.url().optional(),
  MEETVIEW_RTC_LISTEN_IP: z.string().default('127.0.0.1'),
  MEETVIEW_ANNOUNCED_ADDRESS: z.string().optional(),
  MEETVIEW_RTC_PORT: z.coerce.number().int().min(1).max(65535).default(40000),
  MEETVIEW_RTC_PORT_MIN: z.coerce.number().int().min(1).max(65535).default(41000),
  MEETVIEW_RTC_PORT_MAX: z.coerce.number().int().min(1).max(65535).default(49999),
  /** The internal gRPC server (Cascade, Control); 0 picks a free port. */
  MEETVIEW_INTERNAL_HOST: z.string().default('127.0.0.1'),
  MEETVIEW_INTERNAL_PORT: z.coerce.number().int().min(0).max(65535).default(0),
  MEETVIEW_WORKERS: z.coerce.number().int().min(1).max(64).optional(),
  MEETVIEW_DEV_TOKENS: z.enum(['0', '1', 'true', 'false']).default('0'),
  MEETVIEW_GRACE_MS: z.coerce.number().int().min(0).default(30_000),
  MEETVIEW_REDIS_NODES: z.string().optional(),
  MEETVIEW_KAFKA_BROKERS: z.string().optional(),
  MEETVIEW_PLACEMENT: z.enum(['home', 'local']).default('home'),
  MEETVIEW_MESH_FILE: z.string().optional(),
  MEETVIEW_WEB_DIR: z.string().optional(),
  /** "perSecond:burst" of the frames one signaling socket may send (benchmarks raise it). */
  MEETVIEW_SIGNALING_RATE: z
    .string()
    .regex(/^\d+(\.\d+)?:\d+$/, 'expected "perSecond:burst", e.g. 50:100')
    .default('50:100'),
  /** "perSecond:burst" of each participant's chat sends (benchmarks raise it). */
  MEETVIEW_CHAT_RATE: z
    .string()
    .regex(/^\d+(\.\d+)?:\d+$/, 'expected "perSecond:burst", e.g. 5:20')
    .default('5:20'),
});

export interface EdgeConfig {
  region: string;
  nodeId: string;
  http: { host: string; port: number };
  publicUrl: string | undefined;
  rtc: {
    listenIp: string;
    announcedAddress: string | undefined;
    basePort: number;
    portRange: { min: number; max: number };
  };
  /** Where the internal gRPC server listens (other edges and the core call it). */
  internal: { host: string; port: number };
  workers: number | undefined;
  devTokens: boolean;
  graceMs: number;
  redisNodes: { host: string; port: number }[];
  kafkaBrokers: string[];
  /**
   * 'home': a room lives on one edge of the region and clients reaching another edge are redirected;
   * 'local': every edge serves whoever reaches it (rooms span edges; chat crosses through Kafka).
   */
  placement: 'home' | 'local';
  webDir: string | undefined;
  /** Each participant's chat send rate (MEETVIEW_CHAT_RATE); unset means the default 5/s, burst 20. */
  chatRate?: { perSecond: number; burst: number };
  /** Frames per second and burst one signaling socket may send (MEETVIEW_SIGNALING_RATE); default 50/s, 100. */
  signalingRate?: { perSecond: number; burst: number };
  /** File sharing (MEETVIEW_FILES_*, MEETVIEW_S3_*, MEETVIEW_REGION_EDGES); unset: filesystem in the temp dir. */
  files?: FilesConfig;
  /**
   * Where this edge's trace spans go (lib/telemetry/Tracing). Unset: OTLP over HTTP when
   * OTEL_EXPORTER_OTLP_ENDPOINT is set, else nowhere. Tests pass an exporter or processor here.
   */
  tracing?: { exporter?: SpanExporter; processor?: SpanProcessor };
}

export function loadEdgeConfig(env: NodeJS.ProcessEnv = process.env): EdgeConfig {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success)
    throw new Error(
      `edge configuration: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  const e = parsed.data;
  return {
    region: e.MEETVIEW_REGION,
    nodeId: e.MEETVIEW_NODE_ID ?? `${e.MEETVIEW_REGION}-edge-1`,
    http: { host: e.MEETVIEW_HTTP_HOST, port: e.MEETVIEW_HTTP_PORT },
    publicUrl: e.MEETVIEW_PUBLIC_URL,
    rtc: {
      listenIp: e.MEETVIEW_RTC_LISTEN_IP,
      announcedAddress: e.MEETVIEW_ANNOUNCED_ADDRESS,
      basePort: e.MEETVIEW_RTC_PORT,
      portRange: { min: e.MEETVIEW_RTC_PORT_MIN, max: e.MEETVIEW_RTC_PORT_MAX },
    },
    internal: { host: e.MEETVIEW_INTERNAL_HOST, port: e.MEETVIEW_INTERNAL_PORT },
    workers: e.MEETVIEW_WORKERS,
    devTokens: e.MEETVIEW_DEV_TOKENS === '1' || e.MEETVIEW_DEV_TOKENS === 'true',
    graceMs: e.MEETVIEW_GRACE_MS,
    redisNodes: redisNodes(e.MEETVIEW_REGION, e.MEETVIEW_REDIS_NODES, e.MEETVIEW_MESH_FILE),
    kafkaBrokers: kafkaBrokers(e.MEETVIEW_REGION, e.MEETVIEW_KAFKA_BROKERS, e.MEETVIEW_MESH_FILE),
    placement: e.MEETVIEW_PLACEMENT,
    webDir: e.MEETVIEW_WEB_DIR,
    chatRate: rate(e.MEETVIEW_CHAT_RATE),
    signalingRate: rate(e.MEETVIEW_SIGNALING_RATE),
    files: loadFilesConfig(env),
  };
}

function rate(spec: string): { perSecond: number; burst: number } {
  const [perSecond, burst] = spec.split(':').map(Number) as [number, number];
  return { perSecond, burst };
}

function redisNodes(region: string, list: string | undefined, meshFile: string | undefined) {
  if (list) {
    return list.split(',').map((hp) => {
      const [host, port] = hp.trim().split(':');
      if (!host || !port || !Number(port))
        throw new Error(`MEETVIEW_REDIS_NODES: bad entry "${hp}" (host:port)`);
      return { host, port: Number(port) };
    });
  }
  const mesh = readMeshInfo(meshFile);
  const nodes = mesh.regions[region]?.redis?.nodes;
  if (!nodes?.length) throw new Error(`the mesh has no Redis Cluster for region "${region}"`);
  return nodes.map((n) => ({ host: n.host, port: n.port }));
}

function kafkaBrokers(region: string, list: string | undefined, meshFile: string | undefined): string[] {
  if (list) return list.split(',').map((b) => b.trim());
  const kafka = readMeshInfo(meshFile).regions[region]?.kafka;
  if (!kafka) throw new Error(`the mesh has no Kafka for region "${region}"`);
  return kafka.bootstrap.split(',');
}
