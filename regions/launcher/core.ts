import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { credentials, makeGenericClientConstructor } from '@grpc/grpc-js';
import { meshTokenKeys } from './edges';
import type { ManagedProcess } from './ManagedProcess';
import type { Mesh } from './Mesh';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const TSX = join(REPO, 'node_modules', '.bin', 'tsx');

export interface CoreProcess {
  /** host:port of the Admin gRPC API. */
  admin: string;
  /** The mesh's admin API key and its secret (scope admin). */
  key: string;
  secret: string;
  process: ManagedProcess;
}

export interface StartCoreOptions {
  /** MEETVIEW_ADMIN_KEYS for the Admin API; default: the mesh's own admin key (see meshAdminKey). */
  adminKeys?: string;
  env?: Record<string, string>;
}

/**
 * The local mesh's admin API key: made once per mesh directory (`admin-key`, mode 0600) so a restarted
 * Admin API keeps accepting the CLI command printed at start.
 */
export function meshAdminKey(mesh: Mesh): { key: string; secret: string } {
  const file = join(mesh.dir, 'admin-key');
  if (existsSync(file)) {
    const [key, secret] = readFileSync(file, 'utf8').trim().split(':');
    if (key && secret) return { key, secret };
  }
  const key = `local-admin-${randomBytes(3).toString('hex')}`;
  const secret = randomBytes(32).toString('base64url');
  writeFileSync(file, `${key}:${secret}`, { mode: 0o600 });
  return { key, secret };
}

/**
 * Starts the core's Admin API (`tsx core/main.ts`) as a child of the mesh, on the core region's first
 * core-services port; ready once its gRPC health check answers SERVING (the room directory has caught
 * up with the log).
 */
export async function startCore(mesh: Mesh, options: StartCoreOptions = {}): Promise<CoreProcess> {
  const core = Object.values(mesh.info.regions).find((r) => r.kind === 'core');
  if (!core?.kafka) throw new Error(`mesh ${mesh.name} runs no core Kafka: the Admin API needs it`);
  const port = mesh.ports.port(core.index, 'core', 0);
  const admin = `127.0.0.1:${port}`;
  const { key, secret } = meshAdminKey(mesh);
  const proc = await mesh.spawn({
    service: 'core admin',
    command: TSX,
    args: [join(REPO, 'core', 'main.ts')],
    cwd: REPO,
    ports: [port],
    env: {
      MEETVIEW_ADMIN_HOST: '127.0.0.1',
      MEETVIEW_ADMIN_PORT: String(port),
      MEETVIEW_ADMIN_KEYS: options.adminKeys ?? `${key}:${secret}:admin`,
      MEETVIEW_TOKEN_KEYS: meshTokenKeys(mesh),
      ...options.env,
    },
    ready: () => healthServing(admin),
    readyTimeoutMs: 90_000,
    readyIntervalMs: 250,
    failOn: /failed to start/,
  });
  return { admin, key, secret, process: proc };
}

// grpc.health.v1.Health/Check with an empty request; SERVING is `status = 1`, encoded 08 01.
const HealthClient = makeGenericClientConstructor(
  {
    check: {
      path: '/grpc.health.v1.Health/Check',
      requestStream: false,
      responseStream: false,
      requestSerialize: (b: Buffer) => b,
      requestDeserialize: (b: Buffer) => b,
      responseSerialize: (b: Buffer) => b,
      responseDeserialize: (b: Buffer) => b,
    },
  },
  'grpc.health.v1.Health',
);

/** True when the gRPC server at `address` answers its health check with SERVING. */
export function healthServing(address: string, timeoutMs = 1000): Promise<boolean> {
  const client = new HealthClient(address, credentials.createInsecure());
  return new Promise<boolean>((resolve) => {
    (client as unknown as { check: (...a: unknown[]) => void }).check(
      Buffer.alloc(0),
      { deadline: Date.now() + timeoutMs },
      (err: Error | null, res: Buffer | undefined) =>
        resolve(!err && res !== undefined && res[0] === 0x08 && res[1] === 0x01),
    );
  }).finally(() => client.close());
}
