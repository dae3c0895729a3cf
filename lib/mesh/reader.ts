import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type MeshInfo, MeshInfoSchema, type RegionInfo } from './info';

/** Default mesh name for `npm start`. */
export const DEFAULT_MESH_NAME = 'dev';

/** `.mesh/` at the repository root (git-ignored). MEETVIEW_MESH_ROOT overrides it. */
export function meshRoot(): string {
  return process.env.MEETVIEW_MESH_ROOT ?? fileURLToPath(new URL('../../.mesh/', import.meta.url));
}

export function meshDir(name: string): string {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(name))
    throw new Error(`invalid mesh name ${JSON.stringify(name)}: letters, digits, '_' and '-'`);
  return join(meshRoot(), name);
}

/** The connection file: MEETVIEW_MESH_FILE if set (the launcher sets it for its children), else by name. */
export function meshFile(name?: string): string {
  if (name === undefined && process.env.MEETVIEW_MESH_FILE) return process.env.MEETVIEW_MESH_FILE;
  return join(meshDir(name ?? process.env.MEETVIEW_MESH ?? DEFAULT_MESH_NAME), 'mesh.json');
}

export function parseMeshInfo(text: string, source = 'mesh.json'): MeshInfo {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new Error(`${source} is not valid JSON: ${(error as Error).message}`);
  }
  const parsed = MeshInfoSchema.safeParse(data);
  if (!parsed.success)
    throw new Error(
      `${source} is not a mesh connection file: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  return parsed.data;
}

/** Reads where a running mesh's services are. Throws with what to run when no mesh is up. */
export function readMeshInfo(nameOrFile?: string): MeshInfo {
  const file = nameOrFile?.endsWith('.json') ? nameOrFile : meshFile(nameOrFile);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new Error(`no mesh connection file at ${file}: start the mesh with \`npm start\``);
  }
  return parseMeshInfo(text, file);
}

/** A region's entry, with a clear error for an unknown id. */
export function meshRegion(info: MeshInfo, id: string): RegionInfo {
  const region = info.regions[id];
  if (!region)
    throw new Error(`mesh ${info.name} has no region "${id}" (has: ${Object.keys(info.regions).join(', ')})`);
  return region;
}

/** A region's Redis Cluster startup nodes (for lib/redis createRedisCluster). */
export function meshRedisNodes(info: MeshInfo, region: string): { host: string; port: number }[] {
  const r = meshRegion(info, region);
  if (!r.redis) throw new Error(`mesh ${info.name}: region "${region}" runs no Redis Cluster`);
  return r.redis.nodes.map((n) => ({ host: n.host, port: n.port }));
}

/** A region's (or the core's) Kafka bootstrap list (for lib/kafka createKafka). */
export function meshKafkaBrokers(info: MeshInfo, region: string): string[] {
  const r = meshRegion(info, region);
  if (!r.kafka) throw new Error(`mesh ${info.name}: region "${region}" runs no Kafka`);
  return r.kafka.bootstrap.split(',');
}
