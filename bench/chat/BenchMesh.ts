import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type EdgeProcess, type ManagedProcess, Mesh, startEdges } from '../../regions/launcher';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const TSX = join(REPO, 'node_modules', '.bin', 'tsx');
const REGION = 'seoul';

/**
 * What the chat benchmarks run against, on loopback: region seoul's Redis Cluster and Kafka, two
 * edges serving every room (placement 'local', so one room's chat crosses edges through Kafka) and,
 * on the same Redis Cluster, two instances of the Socket.IO peer. Everything is a child process of
 * the mesh, stopped by close().
 */
export class BenchMesh {
  readonly mesh: Mesh;
  readonly edges: EdgeProcess[];
  readonly peers: { url: string; process: ManagedProcess }[];

  static async start(options: {
    portBase: number;
    chatRate: string;
    /** The Socket.IO peer's two instances, with this Redis adapter (bench/peers/socketio/server.ts); false: none. */
    peer: { adapter: 'sharded' | 'classic' } | false;
    /** Writes V8 CPU profiles of the edges (and peers) here when they stop (see cpuprof.cjs). */
    cpuProfDir?: string;
  }): Promise<BenchMesh> {
    const prof: Record<string, string> = options.cpuProfDir
      ? {
          NODE_OPTIONS: `--require ${join(REPO, 'bench', 'chat', 'cpuprof.cjs')}`,
          CPUPROF_DIR: options.cpuProfDir,
        }
      : {};
    const mesh = await Mesh.start({
      name: 'bench-chat',
      portBase: options.portBase,
      regions: [REGION],
      core: false,
      mirrorMaker: false,
      // The broker compiles as in production (C2), not with the quick-start JIT of tests; the
      // benchmarks warm it up before they measure.
      kafkaJit: 'full',
      onProgress: (line) => console.error(`  ${line}`),
    });
    try {
      const edges = await startEdges(mesh, {
        placement: 'local',
        edgesPerRegion: 2,
        // The benchmark's clients are load generators: the per-socket frame limit must not shape the load.
        env: { MEETVIEW_CHAT_RATE: options.chatRate, MEETVIEW_SIGNALING_RATE: '1000:2000', ...prof },
      });
      const peers: BenchMesh['peers'] = [];
      if (options.peer) {
        const region = mesh.info.regions[REGION]!;
        const redisNodes = region.redis!.nodes.map((n) => `${n.host}:${n.port}`).join(',');
        for (let i = 0; i < 2; i++) {
          // Spare edge HTTP ports of the region's block (the bench runs two edges).
          const port = mesh.ports.port(region.index, 'edgeHttp', 8 + i);
          const url = `http://127.0.0.1:${port}`;
          const proc = await mesh.spawn({
            service: `socketio ${REGION}/${i + 1}`,
            command: TSX,
            args: [join(REPO, 'bench', 'peers', 'socketio', 'server.ts')],
            cwd: REPO,
            ports: [port],
            env: {
              PORT: String(port),
              REDIS_NODES: redisNodes,
              NODE_ID: `socketio-${i + 1}`,
              ADAPTER: options.peer.adapter,
              ...prof,
            },
            ready: async () => (await fetch(`${url}/healthz`)).ok,
            readyTimeoutMs: 30_000,
            readyIntervalMs: 250,
          });
          peers.push({ url, process: proc });
        }
      }
      return new BenchMesh(mesh, edges, peers);
    } catch (err) {
      await mesh.stop();
      throw err;
    }
  }

  private constructor(mesh: Mesh, edges: EdgeProcess[], peers: BenchMesh['peers']) {
    this.mesh = mesh;
    this.edges = edges;
    this.peers = peers;
  }

  /** Pids of the region's Redis nodes and Kafka brokers, for CPU accounting. */
  infraPids(): { redis: number[]; kafka: number[] } {
    const region = this.mesh.info.regions[REGION]!;
    return {
      redis: region.redis?.nodes.map((n) => n.pid) ?? [],
      kafka: region.kafka?.brokers.map((b) => b.pid) ?? [],
    };
  }

  async close(): Promise<void> {
    await this.mesh.stop();
  }
}
