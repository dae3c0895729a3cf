import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import type { FileQuotas } from './FileCatalog';
import { parseRegionEdges } from './RemoteFiles';
import { S3_MAX_BYTES } from './S3FileStore';

export interface FilesConfig {
  backend:
    | { kind: 'fs'; dir: string }
    | {
        kind: 's3';
        endpoint: string;
        region: string;
        bucket: string;
        accessKeyId: string;
        secretAccessKey: string;
      };
  maxBytes: number;
  /** Unfinished resumable uploads wait here, on the edge's own disk (any backend). */
  uploadsDir: string;
  quotas: FileQuotas;
  /** How long the files of a room without participants are kept. */
  retentionMs: number;
  /** Edges of the other regions (region → URLs), for files uploaded there. */
  peers: Map<string, string[]>;
}

const countBytes = (name: string) =>
  z
    .string()
    .regex(/^\d+:\d+$/, `${name}: expected "count:bytes"`)
    .transform((v) => {
      const [count, bytes] = v.split(':').map(Number);
      return { count: count!, bytes: bytes! };
    });

const Env = z.object({
  MEETVIEW_REGION: z.string(),
  MEETVIEW_MESH_FILE: z.string().optional(),
  MEETVIEW_NODE_ID: z.string().optional(),
  /** fs (default) or s3. */
  MEETVIEW_FILES_BACKEND: z.enum(['fs', 's3']).default('fs'),
  /** The filesystem backend's directory (default: <mesh dir>/files/<region>, or the temp dir). */
  MEETVIEW_FILES_DIR: z.string().optional(),
  MEETVIEW_FILES_MAX_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(2 * 1024 ** 3),
  MEETVIEW_FILES_PARTICIPANT_QUOTA: countBytes('MEETVIEW_FILES_PARTICIPANT_QUOTA').default({
    count: 200,
    bytes: 20 * 1024 ** 3,
  }),
  MEETVIEW_FILES_ROOM_QUOTA: countBytes('MEETVIEW_FILES_ROOM_QUOTA').default({
    count: 2000,
    bytes: 100 * 1024 ** 3,
  }),
  MEETVIEW_FILES_UPLOADS_PER_MINUTE: z.coerce.number().int().positive().default(30),
  MEETVIEW_FILES_RETENTION_S: z.coerce
    .number()
    .int()
    .positive()
    .default(7 * 24 * 3600),
  MEETVIEW_S3_ENDPOINT: z.url().optional(),
  MEETVIEW_S3_REGION: z.string().default('us-east-1'),
  MEETVIEW_S3_BUCKET: z.string().optional(),
  MEETVIEW_S3_ACCESS_KEY: z.string().optional(),
  MEETVIEW_S3_SECRET_KEY: z.string().optional(),
  /** Edges of every region: `seoul=http://a|http://b,frankfurt=http://c` (the launcher sets it). */
  MEETVIEW_REGION_EDGES: z.string().optional(),
});

/** File sharing's part of the edge configuration (MEETVIEW_FILES_*, MEETVIEW_S3_*, MEETVIEW_REGION_EDGES). */
export function loadFilesConfig(env: NodeJS.ProcessEnv): FilesConfig {
  const parsed = Env.safeParse(env);
  if (!parsed.success)
    throw new Error(
      `file sharing configuration: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  const e = parsed.data;
  const localDir =
    e.MEETVIEW_FILES_DIR ??
    (e.MEETVIEW_MESH_FILE
      ? join(dirname(e.MEETVIEW_MESH_FILE), 'files', e.MEETVIEW_REGION)
      : join(tmpdir(), 'meetview-files', e.MEETVIEW_REGION));
  let backend: FilesConfig['backend'];
  if (e.MEETVIEW_FILES_BACKEND === 's3') {
    const missing = (
      [
        'MEETVIEW_S3_ENDPOINT',
        'MEETVIEW_S3_BUCKET',
        'MEETVIEW_S3_ACCESS_KEY',
        'MEETVIEW_S3_SECRET_KEY',
      ] as const
    ).filter((k) => !e[k]);
    if (missing.length)
      throw new Error(`file sharing configuration: the s3 backend needs ${missing.join(', ')}`);
    if (e.MEETVIEW_FILES_MAX_BYTES > S3_MAX_BYTES)
      throw new Error(
        'file sharing configuration: MEETVIEW_FILES_MAX_BYTES is above 5 GiB, the S3 backend limit',
      );
    backend = {
      kind: 's3',
      endpoint: e.MEETVIEW_S3_ENDPOINT!,
      region: e.MEETVIEW_S3_REGION,
      // `{region}` in the bucket name lets one S3 endpoint hold each region's bucket (local mesh, tests).
      bucket: e.MEETVIEW_S3_BUCKET!.replaceAll('{region}', e.MEETVIEW_REGION),
      accessKeyId: e.MEETVIEW_S3_ACCESS_KEY!,
      secretAccessKey: e.MEETVIEW_S3_SECRET_KEY!,
    };
  } else {
    backend = { kind: 'fs', dir: localDir };
  }
  return {
    backend,
    maxBytes: e.MEETVIEW_FILES_MAX_BYTES,
    uploadsDir: join(localDir, 'uploads', e.MEETVIEW_NODE_ID ?? `${e.MEETVIEW_REGION}-edge-1`),
    quotas: {
      participant: e.MEETVIEW_FILES_PARTICIPANT_QUOTA,
      room: e.MEETVIEW_FILES_ROOM_QUOTA,
      uploadsPerMinute: e.MEETVIEW_FILES_UPLOADS_PER_MINUTE,
    },
    retentionMs: e.MEETVIEW_FILES_RETENTION_S * 1000,
    peers: parseRegionEdges(e.MEETVIEW_REGION_EDGES, e.MEETVIEW_REGION),
  };
}
