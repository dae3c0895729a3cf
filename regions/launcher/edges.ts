import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ManagedProcess } from './ManagedProcess';
import type { Mesh } from './Mesh';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const TSX = join(REPO, 'node_modules', '.bin', 'tsx');
/** mediasoup workers per edge in the local mesh (two cores are shared by everything here). */
const WORKERS_PER_EDGE = 2;

export interface EdgeProcess {
  region: string;
  node: string;
  url: string;
  /** host:port of its internal gRPC server. */
  internal: string;
  process: ManagedProcess;
}

export interface StartEdgesOptions {
  /** Lets anyone mint tokens at POST /api/dev/token (the local mesh's default). */
  devTokens?: boolean;
  graceMs?: number;
  placement?: 'home' | 'local';
  /** Edges per region, overriding the catalogue's count (benchmarks run two edges in one region). */
  edgesPerRegion?: number;
  /** Extra environment for every edge (e.g. MEETVIEW_CHAT_RATE for a benchmark). */
  env?: Record<string, string>;
}

/**
 * The token signing keys of a mesh: MEETVIEW_TOKEN_KEYS if set, else a random key made once per mesh
 * directory (`token-keys`, mode 0600), so edges and the core of one mesh verify each other's tokens.
 */
export function meshTokenKeys(mesh: Mesh): string {
  if (process.env.MEETVIEW_TOKEN_KEYS) return process.env.MEETVIEW_TOKEN_KEYS;
  const file = join(mesh.dir, 'token-keys');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const keys = `local-${randomBytes(4).toString('hex')}:${randomBytes(32).toString('base64url')}`;
  writeFileSync(file, keys, { mode: 0o600 });
  return keys;
}

/**
 * Every region's edge URLs as the edges read them (MEETVIEW_REGION_EDGES):
 * `seoul=http://h:p|http://h:p,frankfurt=…`, from the port plan (the same edges startEdges starts).
 */
export function regionEdgesEnv(mesh: Mesh, edgesPerRegion?: number): string {
  return Object.values(mesh.info.regions)
    .filter((r) => r.kind === 'region' && r.redis && r.kafka)
    .map((r) => {
      const count = edgesPerRegion ?? r.edges;
      const host = mesh.hostOf(r.id);
      const urls = Array.from(
        { length: count },
        (_, i) => `http://${host}:${mesh.ports.port(r.index, 'edgeHttp', i)}`,
      );
      return `${r.id}=${urls.join('|')}`;
    })
    .join(',');
}

/**
 * Starts the catalogue's edges of every running region as child processes of the mesh
 * (`tsx edge/main.ts`), each ready when its /readyz answers 200.
 */
export async function startEdges(mesh: Mesh, options: StartEdgesOptions = {}): Promise<EdgeProcess[]> {
  const keys = meshTokenKeys(mesh);
  const regionEdges = regionEdgesEnv(mesh, options.edgesPerRegion);
  const started: EdgeProcess[] = [];
  for (const region of Object.values(mesh.info.regions)) {
    if (region.kind !== 'region' || !region.redis || !region.kafka) continue;
    const count = options.edgesPerRegion ?? region.edges;
    for (let i = 0; i < count; i++) {
      const node = `${region.id}-edge-${i + 1}`;
      const httpPort = mesh.ports.port(region.index, 'edgeHttp', i);
      const rtcPort = mesh.ports.port(region.index, 'edgeRtc', i * WORKERS_PER_EDGE);
      const internalPort = mesh.ports.port(region.index, 'edgeCascade', i);
      // The region's own address (its namespace's, in the emulated WAN): listened on and advertised.
      const host = mesh.hostOf(region.id);
      const url = `http://${host}:${httpPort}`;
      const proc = await mesh.spawn({
        service: `edge ${region.id}/${i + 1}`,
        command: TSX,
        args: [join(REPO, 'edge', 'main.ts')],
        cwd: REPO,
        ports: [httpPort, internalPort],
        netns: mesh.netnsOf(region.id),
        env: {
          MEETVIEW_HTTP_HOST: host,
          MEETVIEW_RTC_LISTEN_IP: host,
          MEETVIEW_INTERNAL_HOST: host,
          MEETVIEW_REGION: region.id,
          MEETVIEW_NODE_ID: node,
          MEETVIEW_HTTP_PORT: String(httpPort),
          MEETVIEW_RTC_PORT: String(rtcPort),
          MEETVIEW_INTERNAL_PORT: String(internalPort),
          MEETVIEW_WORKERS: String(WORKERS_PER_EDGE),
          // Plain/pipe transports: clear of the fixed ports the media-core tests and benchmarks bind.
          MEETVIEW_RTC_PORT_MIN: '46000',
          MEETVIEW_RTC_PORT_MAX: '49999',
          MEETVIEW_DEV_TOKENS: options.devTokens === false ? '0' : '1',
          MEETVIEW_TOKEN_KEYS: keys,
          MEETVIEW_PLACEMENT: options.placement ?? 'home',
          // Where other regions' edges are (a file shared there is fetched from one of them).
          MEETVIEW_REGION_EDGES: regionEdges,
          ...(options.graceMs !== undefined ? { MEETVIEW_GRACE_MS: String(options.graceMs) } : {}),
          ...options.env,
        },
        ready: async () => (await fetch(`${url}/readyz`)).ok,
        readyTimeoutMs: 60_000,
        readyIntervalMs: 250,
        failOn: /failed to start/,
      });
      started.push({ region: region.id, node, url, internal: `${host}:${internalPort}`, process: proc });
    }
  }
  return started;
}
