import type { EdgeConfig } from '../../edge/config';
import { EdgeNode } from '../../edge/EdgeNode';
import { KeySet } from '../../lib/auth/keys';
import { TokenService } from '../../lib/auth/tokens';
import type { MeshInfo } from '../../lib/mesh';

/** Signing keys shared by the test edges and the tokens the tests mint. */
export const TEST_KEYS = KeySet.parse(`test-k1:${'t'.repeat(48)}`);
export const testTokens = new TokenService(TEST_KEYS);

export interface TestEdgeOptions {
  region: string;
  index: number;
  /** HTTP port of the edge. */
  httpPort: number;
  /** First WebRtcServer port (one per worker). */
  rtcPort: number;
  graceMs?: number;
  workers?: number;
  placement?: 'home' | 'local';
  tracing?: EdgeConfig['tracing'];
}

/** Starts an edge in this process against the mesh's Redis Cluster for its region. */
export async function startTestEdge(mesh: MeshInfo, o: TestEdgeOptions): Promise<EdgeNode> {
  const redis = mesh.regions[o.region]?.redis;
  const kafka = mesh.regions[o.region]?.kafka;
  if (!redis || !kafka) throw new Error(`mesh has no Redis or Kafka for ${o.region}`);
  const config: EdgeConfig = {
    region: o.region,
    nodeId: `${o.region}-edge-${o.index}`,
    http: { host: '127.0.0.1', port: o.httpPort },
    publicUrl: undefined,
    rtc: {
      listenIp: '127.0.0.1',
      announcedAddress: undefined,
      basePort: o.rtcPort,
      // Clear of the fixed ports the media-core tests bind (43110–45499).
      portRange: { min: 46000, max: 49999 },
    },
    internal: { host: '127.0.0.1', port: 0 },
    workers: o.workers ?? 1,
    devTokens: true,
    graceMs: o.graceMs ?? 30_000,
    redisNodes: redis.nodes.map((n) => ({ host: n.host, port: n.port })),
    kafkaBrokers: kafka.bootstrap.split(','),
    placement: o.placement ?? 'home',
    webDir: undefined,
    ...(o.tracing ? { tracing: o.tracing } : {}),
  };
  return EdgeNode.start(config, TEST_KEYS);
}

export function wsUrl(edge: EdgeNode, token: string, extra = ''): string {
  return `${edge.url.replace(/^http/, 'ws')}/rtc?token=${encodeURIComponent(token)}${extra}`;
}
