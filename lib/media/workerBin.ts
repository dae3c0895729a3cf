import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

/** Root of the caches that live outside the repository (Kafka jars, the mediasoup worker, tools). */
export function cacheRoot(): string {
  return process.env.MEETVIEW_CACHE ?? join(homedir(), '.cache', 'meetview');
}

/** The installed mediasoup package's folder (its package.json is not in its "exports"). */
function mediasoupDir(): string {
  let dir = dirname(require.resolve('mediasoup'));
  while (!isMediasoupPackage(dir)) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the mediasoup package folder');
    dir = up;
  }
  return dir;
}

function isMediasoupPackage(dir: string): boolean {
  const file = join(dir, 'package.json');
  return (
    existsSync(file) && (JSON.parse(readFileSync(file, 'utf8')) as { name?: string }).name === 'mediasoup'
  );
}

/** The mediasoup version installed in node_modules: the worker must match it exactly. */
export function mediasoupVersion(): string {
  return (JSON.parse(readFileSync(join(mediasoupDir(), 'package.json'), 'utf8')) as { version: string })
    .version;
}

/** Where the offline build (scripts/mediasoup/build-worker.sh) puts the worker for this mediasoup version. */
export function cachedWorkerPath(version = mediasoupVersion()): string {
  return join(cacheRoot(), 'mediasoup-worker', version, 'mediasoup-worker');
}

/** The worker that mediasoup's own postinstall would have placed (prebuilt download or local build). */
export function bundledWorkerPath(): string {
  return join(mediasoupDir(), 'worker', 'out', 'Release', 'mediasoup-worker');
}

/**
 * The mediasoup-worker binary to run, in order of preference: MEDIASOUP_WORKER_BIN, the worker that
 * mediasoup's own install obtained, the offline build in the cache. Throws with what to run when none exists.
 */
export function resolveWorkerBin(): string {
  const fromEnv = process.env.MEDIASOUP_WORKER_BIN;
  if (fromEnv) {
    if (!existsSync(fromEnv))
      throw new Error(`MEDIASOUP_WORKER_BIN points to ${fromEnv}, which does not exist`);
    return fromEnv;
  }
  const bundled = bundledWorkerPath();
  if (existsSync(bundled)) return bundled;
  const cached = cachedWorkerPath();
  if (existsSync(cached)) return cached;
  throw new Error(
    `no mediasoup-worker for mediasoup ${mediasoupVersion()}: run \`npm run setup\` ` +
      `(builds it offline into ${cached}) or set MEDIASOUP_WORKER_BIN`,
  );
}
